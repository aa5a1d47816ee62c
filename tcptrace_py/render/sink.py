"""The output stream: ByteSink, and what a stream writes for a character its encoding lacks.

ByteSink: a text stream written both as text and as bytes already encoded for it, in order.
The text timeline encodes a connection's text itself, line by line (see `render.text`), and
`--jobs` workers send their pieces already encoded: both go straight to the stream's byte
buffer. Text written through the stream may still wait in the stream's own buffer, so it is
flushed before the next bytes.

Encodings. `prepare(stream, fmt)` (called by the CLI on stdout and stderr before anything is
written) gives the stream an error handler, so no character ever makes a write fail, whatever
the stream's encoding (``PYTHONIOENCODING=ascii``, a latin-1 locale) and whatever the text (a
file name that is not UTF-8 arrives as surrogates, ``\\udcff``). The handlers, registered with
`codecs` under the names below, are used only for the characters the encoding cannot write,
so output in UTF-8 is unchanged:

* ``tcpflow-explain`` (text, rich, ladder, summary, stderr): the typographic characters of the
  output as ``--ascii`` writes them (``×`` x, ``–`` -, ``µ`` u, ``→`` ->, the ladder's box
  drawing), anything else as a backslash escape (``\\u4e2d``);
* ``tcpflow-explain-json``: JSON's own ``\\uXXXX`` escapes (the value is unchanged);
* ``tcpflow-explain-xml`` (SVG): character references ``&#20013;``;
* ``tcpflow-explain-mermaid``: Mermaid's entity codes ``#20013;``.

In every handler a byte that was not UTF-8 in a file name is written ``\\xNN``. JSON, SVG and
Mermaid are files other programs read as UTF-8: when the stream's encoding is not a UTF one
they are written in ASCII, with the escapes above, so they read the same in any encoding.
"""
from __future__ import annotations

import codecs

from .timeline import ASCII as _TYPOGRAPHIC

TEXT, JSON, XML, MERMAID = ("tcpflow-explain", "tcpflow-explain-json", "tcpflow-explain-xml",
                            "tcpflow-explain-mermaid")
FALLBACK = {"json": JSON, "jsonl": JSON, "svg": XML, "mermaid": MERMAID}

# what --ascii writes for each typographic character (render.timeline.ASCII), and the box
# drawing of the ladder (render.ladder.ASCII) and of rich's tables
TRANSLIT = {k: v for k, v in _TYPOGRAPHIC.items() if len(k) == 1}
TRANSLIT.update({"µ": "u", "│": "|", "┃": "|", "┆": ":", "─": "-", "━": "=", "╌": "~", "┬": "+",
                 "┴": "+", "├": "+", "┤": "+", "┳": "+", "╇": "+", "┏": "+", "┓": "+", "┡": "+",
                 "┩": "+", "└": "+", "┘": "+", "┌": "+", "┐": "+", "╭": "+", "╮": "+", "╰": "+",
                 "╯": "+", "▶": ">", "◀": "<", "•": "*"})


def _byte(o: int) -> str | None:
    """A byte of a file name that was not UTF-8 (kept as a surrogate by `os.fsdecode`), as \\xNN."""
    return "\\x%02x" % (o - 0xDC00) if 0xDC80 <= o <= 0xDCFF else None


def _backslash(ch: str) -> str:
    o = ord(ch)
    b = _byte(o)
    if b is not None:
        return b
    return "\\x%02x" % o if o < 0x100 else "\\u%04x" % o if o < 0x10000 else "\\U%08x" % o


def _text(exc):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join([TRANSLIT.get(c) or _backslash(c) for c in exc.object[exc.start:exc.end]]), exc.end


def _json(exc):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for c in exc.object[exc.start:exc.end]:
        o = ord(c)
        b = _byte(o)
        if b is not None:
            out.append("\\" + b)              # an escaped backslash: the string reads \xNN
        elif o > 0xFFFF:
            o -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | o >> 10, 0xDC00 | o & 0x3FF))
        else:
            out.append("\\u%04x" % o)
    return "".join(out), exc.end


def _entities(template: str):
    def handler(exc):
        if not isinstance(exc, UnicodeEncodeError):
            raise exc
        out = []
        for c in exc.object[exc.start:exc.end]:
            o = ord(c)
            out.append(_backslash(c) if 0xD800 <= o <= 0xDFFF else template % o)
        return "".join(out), exc.end
    return handler


codecs.register_error(TEXT, _text)
codecs.register_error(JSON, _json)
codecs.register_error(XML, _entities("&#%d;"))
codecs.register_error(MERMAID, _entities("#%d;"))


def prepare(stream, fmt: str | None = None) -> bool:
    """Give `stream` the fallback of format `fmt` (None: text) for the characters its encoding
    lacks; JSON, SVG and Mermaid go out in ASCII when the encoding is not a UTF one. Returns
    whether the stream can write the typographic characters of the output: when it cannot, the
    CLI writes the human-facing formats as with --ascii (the layout is then measured in ASCII)."""
    enc = getattr(stream, "encoding", None)
    reconfigure = getattr(stream, "reconfigure", None)
    if not enc or reconfigure is None:
        return True
    try:
        name = codecs.lookup(enc).name
    except LookupError:
        return True
    utf = name.startswith("utf")
    errors = FALLBACK.get(fmt, TEXT)
    try:
        if not utf and fmt in FALLBACK and _ascii_compatible(name):
            reconfigure(encoding="ascii", errors=errors)
        else:
            reconfigure(errors=errors)
    except (ValueError, OSError, AttributeError):
        return True
    return utf or _writes(name, "".join(TRANSLIT))


def _writes(encoding: str, chars: str) -> bool:
    try:
        chars.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


def _ascii_compatible(encoding: str) -> bool:
    probe = "{}[]<>\"'#;:,. azAZ09\\/&%-_\n"
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except UnicodeEncodeError:
        return False


def safe_text(s: str) -> str:
    """`s` as any stream and any UTF-8 file can take it: bytes of a file name that were not UTF-8
    as \\xNN, any other lone surrogate as a backslash escape."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", TEXT).decode("utf-8")


class ByteSink:
    def __init__(self, out):
        self.text = out
        self.buf = out.buffer
        self.encoding = out.encoding
        self.errors = out.errors
        self.pending = True        # text may wait in the text stream's buffer

    @classmethod
    def of(cls, out) -> ByteSink | None:
        """`out` as a ByteSink (itself if it is one), or None when it has no byte buffer."""
        if isinstance(out, cls):
            return out
        if out is not None and getattr(out, "encoding", None) and hasattr(out, "buffer"):
            return cls(out)
        return None

    def write(self, s) -> None:
        if isinstance(s, bytes):
            if self.pending:
                self.text.flush()
                self.pending = False
            self.buf.write(s)
        else:
            self.text.write(s)
            self.pending = True

    def flush(self) -> None:
        self.text.flush()
        self.buf.flush()

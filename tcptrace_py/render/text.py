"""Plain, deterministic text: the timeline when piped or with --format text.

Notes come in the language of ``--lang``; with ``--explain`` the lessons of
`teach.py` follow each packet's note (indented two more columns) and the
connection's verdict; with ``--ascii`` typographic characters become ASCII.
"""
from __future__ import annotations

from ..prose.explain import Explainer
from ..core.anomaly_kinds import NOTE_TELLS
from ..core.records import SYN, flag_letters
from ..prose.teach import lesson_lines as _lesson_text
from .sink import ByteSink
from .spool import discard, write_piece
from .timeline import asciify, header_lines, lesson_lines, notable_options, options_text, verdict_lines
from .view import View

ARROW = ("C->S", "S->C")
SPACES = tuple(" " * n for n in range(81))      # padding, without making a string each time


class TextRenderer(View):
    """Writes to `out`. A connection's text goes to a text stream's byte buffer already
    encoded (as the stream would encode it), line by line: joined first, one non-ASCII
    character (a dash in "bytes 1–97") makes the whole text two bytes a character, and its
    encoding several times slower."""

    def __init__(self, out, **view):
        super().__init__(**view)
        sink = ByteSink.of(out)
        self.out = out if sink is None else sink
        self.encoding = None if sink is None else (sink.encoding, sink.errors)

    def _w(self, s: str) -> None:
        self.out.write(asciify(s) if self.ascii else s)

    def flow(self, flow) -> None:
        if self.take():
            self.write_flow(flow, self.out.write, self.encoding)

    def put(self, text) -> None:
        """A --jobs worker's fragment, in its turn (None: the worker knew it was past --limit)."""
        if self.take():
            write_piece(self.out, text)
        else:
            discard(text)

    def fragment(self, flow) -> str:
        """The whole text of one connection (no state: a --jobs worker calls it)."""
        return "".join(self.pieces(flow))

    def encoded(self, flow, encoding: str, errors: str = "strict") -> bytes:
        """`fragment(flow).encode(encoding, errors)`, encoded piece by piece."""
        return b"".join([s.encode(encoding, errors) for s in self.pieces(flow)])

    def write_flow(self, flow, write, encoding: tuple | None = None) -> None:
        """Write the text of one connection through `write`, the packet lines as they are made
        (a long timeline is never all in memory): as text, or with `encoding` (its name and
        error handler) as bytes encoded line by line (see the class docstring)."""
        def flush(lines: list) -> None:
            if not lines:
                return
            if encoding is None:
                write("".join(lines))
            else:
                write(b"".join([s.encode(*encoding) for s in lines]))
        flush(self.pieces(flow, flush))

    def pieces(self, flow, flush=None) -> list[str]:
        """The text of one connection, in pieces of whole lines (with `flush`, handed to it a
        few thousand at a time as they are made; the rest returned)."""
        out: list[str] = []
        w = out.append
        zh = self.lang == "zh"
        notes = self.notes
        asc = self.ascii
        w("\n".join(header_lines(flow, self.lang)) + "\n\n")
        first, last = self.window(len(flow.packets))

        def spill(lines: list) -> None:
            flush([asciify(s) for s in lines] if asc else lines)
        packet_lines(out, flow, first, last, self.lang, notes, self.explain and notes, asc,
                     None if flush is None else spill)
        w("\n" + "\n".join(verdict_lines(flow, self.lang)) + "\n")
        if self.explain and notes:
            lessons = lesson_lines(flow, self.lang)
            if lessons:
                w(("  讲解：\n" if zh else "  lessons:\n") + "".join(f"    - {t}\n" for t in lessons))
        w("\n")
        return [asciify(s) for s in out] if asc else out

    def close(self, stats) -> None:
        w = self._w
        if self.hidden:
            w(shown_line(self.shown, self.hidden, self.lang) + "\n")
        w(capture_line(stats, self.lang) + "\n")
        for line in skipped_lines(stats, self.lang):
            w(line + "\n")


LINES = 8192      # lines handed to `flush` at a time


def packet_lines(out: list, flow, first, last, lang: str, notes: bool, explain: bool, asc: bool,
                 flush=None) -> None:
    """Append the timeline's lines for the flow's packets to `out`: every packet, or with
    first/last (`View.window`) the first and the last ones and a line for those left out.
    With `flush`, `out` is handed to `flush(out)` and emptied whenever it holds LINES lines.

    The same text as formatting `timeline.rows` (the rich renderer's rows; a test checks it
    on every sample and corpus capture), written out directly because this runs once per packet."""
    w = out.append
    zh = lang == "zh"
    ex = Explainer(flow, lang)
    before = flow.init_states
    t0 = flow.first_ts
    n = len(flow.packets)
    prev = -1
    states = None               # the last packet's (orig, resp) states and their text
    st = ""
    fm = flow.files             # a capture set: each line ends with the frame's file:frame
    for i, p in enumerate(flow.packets):
        if first is not None and i >= first and (last is None or i < n - last):
            before = (p.orig_state, p.resp_state)
            continue
        if i != prev + 1:
            k = i - prev - 1
            w(f"         … 省略了 {k} 个包（--max-packets 0 显示全部）…\n" if zh else
              f"         … {k} packets not shown (--max-packets 0 shows all) …\n")
        prev = i
        an = p.anomalies
        msgs = [(kind, ex.anomaly_message(p, kind, v)) for kind, v in an.items()] if an else None
        note = ex.note(p, before)
        rack = p.rack
        # what f"  #{frame:<6} {t:>11.6f}  ..." and f"{line:<76} ..." print, in one piece and
        # without the format machinery (three format calls cost more than the rest of the line)
        fr = f"{p.frame}"
        t = seconds6(p.ts - t0)
        fl = flag_letters(p.flags)
        sq = f"{p.rseq}:{(p.rseq + p.len) & 0xFFFFFFFF}" if p.len else f"{p.rseq}"
        ak = "" if rack is None else f"  ack {rack}"
        wl = f"  win {p.win}  len {p.len}"
        k = len(fr)
        a6 = 6 - k if k < 6 else 0
        k = len(t)
        a11 = 11 - k if k < 11 else 0
        # the width so far: "  #" frame pad " " pad time "  C->S  [" flags "]  seq " ...
        k = 3 + len(fr) + a6 + 1 + a11 + len(t) + 9 + len(fl) + 7 + len(sq) + len(ak) + len(wl)
        if states is None or p.orig_state is not states[0] or p.resp_state is not states[1]:
            states = (p.orig_state, p.resp_state)
            st = f"{p.orig_state._value_}/{p.resp_state._value_}"
        w(f"  #{fr}{SPACES[a6]} {SPACES[a11]}{t}  {ARROW[p.dir]}  [{fl}]  seq {sq}{ak}{wl}"
          f"{SPACES[76 - k] if k < 76 else ''} {st}{'' if fm is None else '  ' + fm.short(p.frame)}\n")
        if p.flags & SYN or notable_options(p.options):
            text = options_text(p, flow)
            if text:
                w(f"           options [{text}]\n")
        if notes and note:
            w(f"           {note}\n")
        if msgs is not None:
            for kind, msg in msgs:
                if kind in NOTE_TELLS or (notes and msg in note):
                    continue
                w(f"           ! {kind}: {msg}\n")
        if explain:
            lessons = ex.teach(p, before)
            if lessons:
                for t in _lesson_text(lessons, lang, asc):
                    w(f"             {t}\n")
        before = (p.orig_state, p.resp_state)
        if flush is not None and len(out) >= LINES:
            flush(out)
            out.clear()


def seconds6(t: float) -> str:
    """`f"{t:.6f}"`: from whole microseconds when `t` is safely away from a rounding tie (the
    common case, much cheaper), else by the float formatter itself (ties, negative, huge)."""
    x = t * 1e6
    if 0.0 <= x < 1e12:
        us = int(x + 0.5)
        if abs(abs(x - us) - 0.5) > 1e-3:      # not within reach of a tie: the nearest is sure
            return f"{us // 1000000}.{us % 1000000:06d}"
    return f"{t:.6f}"


def shown_line(shown: int, hidden: int, lang: str = "en") -> str:
    if lang == "zh":
        return (f"完整显示了 {shown + hidden} 个连接中的 {shown} 个（--limit）。--all 显示全部连接，"
                f"--flow ID 只显示一个，--format json 输出全部内容。")
    return (f"Showed {shown} of {shown + hidden} connections in full "
            f"(--limit). Use --all for every connection, --flow ID for one, "
            f"or --format json for everything.")


def capture_line(stats, lang: str = "en") -> str:
    if lang == "zh":
        return (f"{stats.path}: {stats.format}，{stats.frames} 帧，{stats.tcp_packets} 个 TCP 包，"
                f"{stats.flows} 个连接")
    return (f"{stats.path}: {stats.format}, {stats.frames} frames, {stats.tcp_packets} TCP packets, "
            f"{stats.flows} connection{'' if stats.flows == 1 else 's'}")


def skipped_lines(stats, lang: str = "en") -> list[str]:
    """The lines under the capture line: frames that were not TCP or could not be decoded, and
    the SYN scans and floods found (scans.py), one line each."""
    sk = stats.skipped
    out = []
    zh = lang == "zh"
    if sk.not_tcp:
        out.append(("  不是 TCP，已跳过：" if zh else "  not TCP, skipped: ")
                   + ", ".join(f"{k} ×{v}" for k, v in sorted(sk.not_tcp.items())))
    if sk.undecodable:
        out.append(("  无法解码：" if zh else "  could not be decoded: ") + ", ".join(
            (f"{k} ×{v}（第一个：第 {sk.examples.get(k)} 帧）" if zh else
             f"{k} ×{v} (first: frame {sk.examples.get(k)})") for k, v in sorted(sk.undecodable.items())))
    from ..core.scans import describe
    out.extend("  " + describe(f, lang) for f in stats.scans.findings())
    if stats.files is not None:
        out.extend(file_line(f, lang) for f in stats.files)
    return out


def file_line(f, lang: str = "en") -> str:
    """One file of a capture set, under the capture line: format, frames, time range, link types."""
    from ..core.decode import link_name
    from .timeline import utc_text
    zh = lang == "zh"
    if f.error is not None:
        return f"  {f.label}: " + ("无法读取" if zh else "not read")
    if f.first_ts is None:
        return f"  {f.label}: {f.format}, " + ("0 帧" if zh else "no frames")
    first, last = utc_text(f.first_ts), utc_text(f.last_ts)
    if first[:11] == last[:11]:
        last = last[11:]             # the same day: its time only
    lts = ", ".join(f"{link_name(k)} ×{v}" for k, v in f.linktypes.items())
    warn = len(f.warnings)
    if zh:
        return (f"  {f.label}: {f.format}，{f.frames} 帧，{first} 至 {last}，{lts}"
                + (f"，{warn} 个警告" if warn else ""))
    return (f"  {f.label}: {f.format}, {f.frames} frame{'s' if f.frames != 1 else ''}, {first} to {last}, {lts}"
            + (f", {warn} warning{'s' if warn != 1 else ''}" if warn else ""))

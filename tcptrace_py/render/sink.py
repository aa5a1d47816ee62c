"""ByteSink: a text stream written both as text and as bytes already encoded for it, in order.

The text timeline encodes a connection's text itself, line by line (see `render.text`), and
`--jobs` workers send their pieces already encoded: both go straight to the stream's byte
buffer. Text written through the stream may still wait in the stream's own buffer, so it is
flushed before the next bytes.
"""
from __future__ import annotations


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

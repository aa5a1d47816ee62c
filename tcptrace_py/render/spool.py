"""spool: a connection's output that waits on disk instead of in memory.

A ``--jobs`` worker renders each connection as soon as it knows its id, but the parent
writes the connections in the one-process order, so a piece may wait in the parent until
the connections before it are out. A long connection's piece (its JSON, its JSON Lines, its
full timeline) can be hundreds of megabytes: the worker writes such a piece to a temporary
file instead (`spool`), already encoded as the parent's output encodes text, and sends a
`Spooled` in its place; the parent copies the file to its output in its turn and removes it.

`write_piece(out, piece)` writes a piece of either kind (text, bytes, or a Spooled).
"""
from __future__ import annotations

import codecs
import os
import tempfile
from dataclasses import dataclass

COPY = 1 << 20          # bytes copied at a time


@dataclass
class Spooled:
    """A piece of output in the file at `path`, encoded in `encoding`."""

    path: str
    size: int
    encoding: str


def spool(write_to, encoding: str, errors: str = "strict") -> Spooled:
    """Call `write_to(write)`, where `write(str)` appends to a new temporary file encoded as
    `encoding`; return the file as a Spooled."""
    fd, path = tempfile.mkstemp(prefix="tcpflow-explain-piece-")
    try:
        with os.fdopen(fd, "wb") as f:
            fw = f.write
            write_to(lambda s: fw(s.encode(encoding, errors)))
            size = f.tell()
    except BaseException:
        os.unlink(path)
        raise
    return Spooled(path, size, encoding)


def write_piece(out, piece) -> None:
    """Write a piece to `out`: text or bytes as they are, a Spooled copied from its file, which
    is then removed (as bytes to a stream that takes them, else decoded)."""
    if not isinstance(piece, Spooled):
        out.write(piece)
        return
    takes_bytes = not hasattr(out, "encoding") or hasattr(out, "buf")
    text = None if takes_bytes else codecs.getincrementaldecoder(piece.encoding)("replace")
    try:
        with open(piece.path, "rb") as f:
            while True:
                chunk = f.read(COPY)
                if not chunk:
                    break
                out.write(chunk if text is None else text.decode(chunk))
    finally:
        try:
            os.unlink(piece.path)
        except OSError:
            pass


def discard(piece) -> None:
    """Remove a Spooled piece that will not be written."""
    if isinstance(piece, Spooled):
        try:
            os.unlink(piece.path)
        except OSError:
            pass

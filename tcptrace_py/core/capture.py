"""capture: the only reader of capture files.

Reads pcap (microsecond or nanosecond timestamps, either byte order) and pcapng
(every section and interface, each interface with its own link type, timestamp
resolution and offset), from a path, from standard input ("-"), or from a
gzip-compressed file (detected by content, not by name). It yields raw frames:

    (frame_number, timestamp, linktype, buffer, offset, caplen, wire_len)

`buffer[offset:offset + caplen]` is the frame. The frame is not copied out of the
read buffer: the decoder reads it in place, which keeps the per-packet cost low.
The buffer is only valid until the next frame is requested.

Bad files never raise anything but `CaptureError` (cannot be read at all) and
never loop or grow memory without bound: every length is checked before it is
trusted. A file cut off mid-record yields everything before the cut and records a
`CaptureWarning` saying at which frame and byte offset the file ends early.
"""
from __future__ import annotations

import gzip
import io
import os
import struct
import sys
import zlib
from typing import BinaryIO, Iterator

from .records import CaptureError, CaptureWarning

CHUNK = 1 << 20              # read size
MAX_RECORD = 256 * 1024      # a captured length above this is not a real frame
MAX_BLOCK = 16 * 1024 * 1024  # a pcapng block above this is corrupt

# pcapng: the smallest total length of each block type that holds the fixed fields the reader
# reads (12 bytes of type and both lengths, plus the body's fixed part); the one place a block's
# length is checked against what is read from it.
PCAPNG_BLOCKS = {
    0x0A0D0D0A: ("section header", 28),         # byte-order magic, version, section length
    1: ("interface description", 20),          # link type, reserved, snaplen
    2: ("packet block", 32),                    # interface, drops, timestamp, captured and wire length
    3: ("simple packet block", 16),             # wire length
    6: ("enhanced packet block", 32),           # interface, timestamp, captured and wire length
}

PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


class _Source:
    """A byte stream read in chunks, with the absolute offset of what is buffered."""

    __slots__ = ("f", "buf", "pos", "base", "eof", "close_f")

    def __init__(self, f: BinaryIO, first: bytes = b"", close_f: bool = True):
        self.f = f
        self.buf = first
        self.pos = 0
        self.base = 0          # file offset of buf[0]
        self.eof = False
        self.close_f = close_f

    def fill(self, need: int) -> bool:
        """Make at least `need` bytes available from pos; False if the stream ends first."""
        while len(self.buf) - self.pos < need:
            if self.eof:
                return False
            try:
                chunk = self.f.read1(max(CHUNK, need)) if hasattr(self.f, "read1") else self.f.read(CHUNK)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise _Corrupt(f"compressed data is corrupt ({exc})") from None
            if not chunk:
                self.eof = True
                return False
            if self.pos:
                self.base += self.pos
                self.buf = self.buf[self.pos:] + chunk
                self.pos = 0
            else:
                self.buf += chunk
        return True

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def close(self) -> None:
        if self.close_f:
            try:
                self.f.close()
            except OSError:
                pass


class _Corrupt(Exception):
    pass


def _describe_magic(head: bytes) -> str:
    if not head:
        return "the file is empty"
    if head.startswith(b"\x89PNG"):
        return "it is a PNG image"
    if head[:4] in (b"%PDF",):
        return "it is a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "it is a zip archive"
    sample = head[:64]
    if all(32 <= c < 127 or c in (9, 10, 13) for c in sample):
        return "it looks like text"
    return "unknown magic number 0x" + head[:4].hex()


class CaptureReader:
    """Iterate over the frames of one capture. See the module docstring."""

    def __init__(self, path: str, stdin: BinaryIO | None = None):
        self.path = display_path(path)    # as every message and output names it
        self.warnings: list[CaptureWarning] = []
        self.format = "?"
        self.linktypes: dict[int, int] = {}   # linktype -> frames seen
        self.size: int | None = None
        self.frames_read = 0
        # what a capture set (captureset.py) has in their place: one file's frames are its own
        self.files = None
        self.frame_map = None
        self._opened = path
        self._src = self._open(path, stdin)
        try:
            self._kind = self._sniff()
        except _Corrupt as exc:
            self._src.close()
            raise CaptureError(f"{self.path}: gzip-compressed, but {exc}", "not_capture") from None

    def sources(self) -> tuple[list[str], list[str]]:
        """([the path opened], [its name in the output]) — what a capture set has per file."""
        return [self._opened], [self.path]

    @property
    def offset(self) -> int:
        """Bytes of the capture consumed so far (of the decompressed stream for gzip)."""
        return self._src.offset

    def _sniff(self) -> str:
        """Decide the format from the first bytes, so a non-capture fails before any output."""
        src = self._src
        src.fill(24)
        head = src.buf[src.pos:src.pos + 4]
        if head in PCAP_MAGIC:
            if len(src.buf) - src.pos < 24:
                raise CaptureError(f"{self.path}: pcap file header is cut off ({len(src.buf)} bytes)", "not_capture")
            self.format += "pcap"
            endian = PCAP_MAGIC[head][0]
            linktype = struct.unpack_from(endian + "I", src.buf, src.pos + 20)[0] & 0x0FFFFFFF
            from .decode import LINK_TYPES, link_name
            if linktype not in LINK_TYPES:
                raise CaptureError(f"{self.path}: unsupported link type: {link_name(linktype)} "
                                   f"(supported: {', '.join(sorted({n for n, _ in LINK_TYPES.values()}))})",
                                   "unsupported")
            return "pcap"
        if head == PCAPNG_SHB:
            if src.buf[src.pos + 8:src.pos + 12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                raise CaptureError(f"{self.path}: pcapng section header has a bad byte-order magic", "not_capture")
            self.format += "pcapng"
            return "pcapng"
        src.fill(64)
        what = _describe_magic(src.buf[src.pos:src.pos + 64])
        raise CaptureError(f"{self.path}: not a pcap or pcapng capture ({what})", "not_capture")

    # -- opening -----------------------------------------------------------------
    def _open(self, path: str, stdin: BinaryIO | None) -> _Source:
        name = self.path
        if path == "-":
            raw = stdin if stdin is not None else sys.stdin.buffer
            close = False
        else:
            try:
                raw = open(path, "rb")
            except FileNotFoundError:
                raise CaptureError(f"{name}: no such file", "missing") from None
            except IsADirectoryError:
                raise CaptureError(f"{name}: is a directory, not a capture file", "unreadable") from None
            except PermissionError:
                raise CaptureError(f"{name}: permission denied", "unreadable") from None
            except OSError as exc:
                raise CaptureError(f"{name}: cannot open ({exc.strerror or exc})", "unreadable") from None
            close = True
            try:
                self.size = os.fstat(raw.fileno()).st_size
            except OSError:
                self.size = None
        src = _Source(raw, close_f=close)
        try:
            src.fill(4)
        except OSError as exc:
            raise CaptureError(f"{name}: cannot read ({exc.strerror or exc})", "unreadable") from None
        if src.buf[:2] == b"\x1f\x8b":
            # gzip, detected by content: re-read through a decompressor.
            first = src.buf
            gz = gzip.GzipFile(fileobj=_Prefixed(first, raw), mode="rb")
            src = _Source(gz, close_f=close)
            self.size = None
            try:
                src.fill(4)
            except _Corrupt as exc:
                raise CaptureError(f"{name}: gzip-compressed, but {exc}", "not_capture") from None
            self.format = "gzip+"
        else:
            self.format = ""
        return src

    # -- frames ------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple]:
        src = self._src
        try:
            if self._kind == "pcap":
                yield from self._pcap(src)
            else:
                yield from self._pcapng(src)
        except (_Corrupt, OSError) as exc:
            self._stopped(exc)
        finally:
            src.close()

    def _cut(self, src: _Source, what: str) -> None:
        have = len(src.buf) - src.pos
        self.warnings.append(CaptureWarning(
            "truncated",
            f"capture ends early: {what} of frame {self.frames_read + 1} is cut off at byte offset "
            f"{src.offset + have} (analysed the {self.frames_read} complete frames before it)",
            frame=self.frames_read + 1, offset=src.offset))

    def pcap_records(self) -> PcapRecords | None:
        """The pcap records, one at a time (None for pcapng): what iterating does, without a
        tuple per frame (the pipeline's frame loop reads them this way)."""
        if self._kind != "pcap":
            return None
        src = self._src
        if not src.fill(24):
            raise CaptureError(f"{self.path}: pcap file header is cut off ({len(src.buf)} bytes)", "not_capture")
        endian, unit = PCAP_MAGIC[src.buf[src.pos:src.pos + 4]]
        _maj, _min, _zone, _sig, snaplen, network = struct.unpack_from(endian + "HHiIII", src.buf, src.pos + 4)
        self.snaplen = snaplen
        src.pos += 24
        return PcapRecords(self, src, endian == ">", unit, snaplen, network & 0x0FFFFFFF)

    def _pcap(self, src: _Source) -> Iterator[tuple]:
        cur = self.pcap_records()
        lt = cur.linktype
        while True:
            buf = cur.next()
            if buf is None:
                return
            yield (cur.frame, cur.ts, lt, buf, cur.off, cur.caplen, cur.wire)

    def _stopped(self, exc: Exception) -> None:
        """The file could not be read past here: say why (a warning; what was read is analysed)."""
        src = self._src
        if isinstance(exc, _Corrupt):
            self.warnings.append(CaptureWarning(
                "corrupt", f"{exc}; frames after {self.frames_read} could not be read",
                frame=self.frames_read + 1, offset=src.offset))
        else:
            self.warnings.append(CaptureWarning(
                "read_error", f"read error ({exc.strerror or exc}) after frame {self.frames_read}",
                frame=self.frames_read + 1, offset=src.offset))

    def _bad_block(self, src: _Source, frame: int, what: str) -> None:
        """A pcapng block whose length cannot be trusted: the rest of the file is not read."""
        self.warnings.append(CaptureWarning(
            "bad_block", f"pcapng block at byte offset {src.offset} {what}; the rest of the file was not read",
            frame=frame + 1, offset=src.offset))

    def _pcapng(self, src: _Source) -> Iterator[tuple]:
        endian = "<"
        # (linktype, seconds per unit, units per second for a decimal resolution (0: binary), offset)
        ifaces: list[tuple[int, float, int, float]] = []
        frame = 0
        while True:
            if len(src.buf) - src.pos < 12 and not src.fill(12):
                if len(src.buf) - src.pos:
                    self._cut(src, "a block header")
                return
            buf, pos = src.buf, src.pos
            btype_raw = buf[pos:pos + 4]
            if btype_raw == PCAPNG_SHB:
                bom = buf[pos + 8:pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    raise _Corrupt(f"section header at byte offset {src.offset} has a bad byte-order magic")
                ifaces = []
            btype, blen = struct.unpack_from(endian + "II", buf, pos)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                self._bad_block(src, frame, f"has a bad length ({blen})")
                return
            if len(buf) - pos < blen and not src.fill(blen):
                self._cut(src, "the pcapng block")
                return
            buf, pos = src.buf, src.pos
            if struct.unpack_from(endian + "I", buf, pos + blen - 4)[0] != blen:
                self._bad_block(src, frame, f"says it is {blen} bytes long, but its trailing length disagrees")
                return
            kind = PCAPNG_BLOCKS.get(btype)
            if kind is not None and blen < kind[1]:
                if btype in (2, 3, 6):
                    frame += 1
                    self.frames_read = frame
                self.warnings.append(CaptureWarning(
                    "bad_block",
                    f"pcapng {kind[0]} at byte offset {src.offset} is {blen} bytes, too short for its "
                    f"fields ({kind[1]}); skipped",
                    frame=frame + (0 if btype in (2, 3, 6) else 1), offset=src.offset))
                src.pos = pos + blen
                continue
            body = pos + 8
            if btype == 1:  # Interface Description Block
                lt, _res, _snap = struct.unpack_from(endian + "HHI", buf, body)
                unit, per_s, tsoff = 1e-6, 1000000, 0.0
                for code, val in _options(buf, body + 8, pos + blen - 4, endian):
                    if code == 9 and val:
                        v = val[0]
                        if v & 0x80:
                            unit, per_s = 2.0 ** -(v & 0x7F), 0
                        else:
                            unit, per_s = 10.0 ** -v, 10 ** v
                    elif code == 14 and len(val) >= 8:
                        tsoff = float(struct.unpack_from(endian + "q", val)[0])
                ifaces.append((lt, unit, per_s, tsoff))
            elif btype in (6, 2, 3):  # EPB, obsolete PB, SPB
                if btype == 6:
                    ifid, hi, lo, caplen, wirelen = struct.unpack_from(endian + "IIIII", buf, body)
                    data = body + 20
                elif btype == 2:
                    ifid, _drops, hi, lo, caplen, wirelen = struct.unpack_from(endian + "HHIIII", buf, body)
                    data = body + 20
                else:
                    ifid, hi, lo = 0, None, 0
                    (wirelen,) = struct.unpack_from(endian + "I", buf, body)
                    data = body + 4
                    caplen = min(wirelen, blen - 16)
                frame += 1
                self.frames_read = frame
                if data + caplen > pos + blen - 4 or caplen > MAX_RECORD:
                    self.warnings.append(CaptureWarning(
                        "bad_record",
                        f"frame {frame} at byte offset {src.offset}: captured length {caplen} does not fit its block; skipped",
                        frame=frame, offset=src.offset))
                    src.pos = pos + blen
                    continue
                if ifid >= len(ifaces):
                    self.warnings.append(CaptureWarning(
                        "bad_record", f"frame {frame} names interface {ifid}, which was never described; skipped",
                        frame=frame, offset=src.offset))
                    src.pos = pos + blen
                    continue
                lt, unit, per_s, tsoff = ifaces[ifid]
                if hi is None:
                    ts = 0.0
                elif per_s:
                    # whole seconds plus the fraction, as the pcap reader computes it: the same
                    # packets give the same float time in either format (editcap writes pcapng)
                    t = (hi << 32) | lo
                    ts = tsoff + (t // per_s + (t % per_s) * unit)
                else:
                    ts = tsoff + ((hi << 32) | lo) * unit
                src.pos = pos + blen
                yield (frame, ts, lt, buf, data, caplen, max(wirelen, caplen))
                continue
            src.pos = pos + blen


class PcapRecords:
    """A pcap file's records after the file header. `next()` returns the buffer that holds the
    next frame, described by `frame`, `ts`, `off`, `caplen` and `wire` (as the reader's tuples),
    or None at the end of the file, where a cut-off record, an absurd length or a read error
    is recorded as the reader's warning (and the file closed)."""

    def __init__(self, reader: CaptureReader, src: _Source, big: bool, unit: float, snaplen: int,
                 linktype: int):
        self.reader = reader
        self.src = src
        self.big = big
        self.unit = unit
        self.snaplen = snaplen
        self.linktype = linktype
        self.limit_warned = False
        self.frame = 0
        self.ts = 0.0
        self.off = 0
        self.caplen = 0
        self.wire = 0

    def next(self) -> bytes | None:
        try:
            buf = self._next()
        except (_Corrupt, OSError) as exc:
            self.reader._stopped(exc)
            buf = None
        if buf is None:
            self.src.close()
        return buf

    def _next(self) -> bytes | None:
        src = self.src
        buf = src.buf
        pos = src.pos
        if len(buf) - pos < 16:
            if not src.fill(16):
                if len(src.buf) - src.pos:
                    self.reader._cut(src, "the record header")
                return None
            buf = src.buf
            pos = src.pos
        # (each top byte first into a 64-bit variable, compiled: the shift must not overflow)
        if self.big:
            sec, frac, caplen, wirelen = buf[pos], buf[pos + 4], buf[pos + 8], buf[pos + 12]
            sec = sec << 24 | buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3]
            frac = frac << 24 | buf[pos + 5] << 16 | buf[pos + 6] << 8 | buf[pos + 7]
            caplen = caplen << 24 | buf[pos + 9] << 16 | buf[pos + 10] << 8 | buf[pos + 11]
            wirelen = wirelen << 24 | buf[pos + 13] << 16 | buf[pos + 14] << 8 | buf[pos + 15]
        else:
            sec, frac, caplen, wirelen = buf[pos + 3], buf[pos + 7], buf[pos + 11], buf[pos + 15]
            sec = sec << 24 | buf[pos + 2] << 16 | buf[pos + 1] << 8 | buf[pos]
            frac = frac << 24 | buf[pos + 6] << 16 | buf[pos + 5] << 8 | buf[pos + 4]
            caplen = caplen << 24 | buf[pos + 10] << 16 | buf[pos + 9] << 8 | buf[pos + 8]
            wirelen = wirelen << 24 | buf[pos + 14] << 16 | buf[pos + 13] << 8 | buf[pos + 12]
        frame = self.frame
        if caplen > MAX_RECORD:
            self.reader.warnings.append(CaptureWarning(
                "bad_record",
                f"record of frame {frame + 1} at byte offset {src.offset} claims {caplen} captured bytes "
                f"(more than {MAX_RECORD}); the rest of the file cannot be trusted and was not read",
                frame=frame + 1, offset=src.offset))
            return None
        if caplen > self.snaplen and self.snaplen and not self.limit_warned:
            self.limit_warned = True
            self.reader.warnings.append(CaptureWarning(
                "over_snaplen",
                f"frame {frame + 1} is longer ({caplen} bytes) than the file's snaplen {self.snaplen}",
                frame=frame + 1, offset=src.offset))
        end = pos + 16 + caplen
        if end > len(buf):
            if not src.fill(16 + caplen):
                self.reader._cut(src, "the packet data")
                return None
            buf = src.buf
            pos = src.pos
            end = pos + 16 + caplen
        frame += 1
        self.frame = frame
        self.reader.frames_read = frame
        src.pos = end
        self.ts = sec + frac * self.unit
        self.off = pos + 16
        self.caplen = caplen
        self.wire = wirelen if wirelen > caplen else caplen
        return buf


def _options(buf: bytes, start: int, end: int, endian: str):
    """Walk pcapng options (code, length, value padded to 4) between start and end; an option
    whose value runs past `end` ends the walk (it is not read from the next block)."""
    p = start
    while p + 4 <= end:
        code, ln = struct.unpack_from(endian + "HH", buf, p)
        if code == 0 or p + 4 + ln > end:
            return
        val = buf[p + 4:p + 4 + ln]
        yield code, val
        p += 4 + ((ln + 3) & ~3)


def display_path(path: str) -> str:
    """The path as messages and outputs write it: bytes that are not UTF-8 (a file name from
    the command line keeps them as surrogates) are shown as \\xNN, so any stream can take it."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Prefixed(io.RawIOBase):
    """A stream that first returns bytes already read, then the rest of `f`."""

    def __init__(self, first: bytes, f: BinaryIO):
        self.first = first
        self.f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.first:
            n = min(len(b), len(self.first))
            b[:n] = self.first[:n]
            self.first = self.first[n:]
            return n
        data = self.f.read1(len(b)) if hasattr(self.f, "read1") else self.f.read(len(b))
        n = len(data)
        b[:n] = data
        return n

"""captureset: several capture files read as one capture (a rotated capture, one file per host).

`open_capture(args)` is how every entry point opens its input: one file (or "-") is a
`CaptureReader`, exactly as before; several files, or a directory, are a `CaptureSet`.

A `CaptureSet` reads like a `CaptureReader` — the same frames
``(frame, ts, linktype, buffer, offset, caplen, wire_len)`` — merged by timestamp as
``mergecap`` merges them: the earliest frame of any file comes next, a tie goes to the file
named first, and each file's own frames keep their order (a file is read front to back, one
frame ahead). So a connection that crosses a rotation boundary is one connection, and the
frame numbers count through the merged set as mergecap numbers them. `frame_map` says for
each of those numbers which file the frame came from and its number in that file (renderers
show both; see `FrameMap`).

A file is opened only when the merge reaches it: a first pass reads the first timestamp of
each file (and finds the files that cannot be read at all), then each file is opened when its
first frame is due and closed at its end, so the thousand files of a rotated capture keep one
or two open at a time, and memory does not grow with their number beyond a few numbers each.

A file that cannot be read is a warning that names it (kind ``unreadable_file``) and the
others are analysed; its warnings (cut off, corrupt block, ...) are the set's warnings, each
naming its file. Only when no file can be read does opening the set raise `CaptureError`.
"""
from __future__ import annotations

import heapq
import os
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterator

from .capture import CaptureReader, display_path
from .records import CaptureError, CaptureWarning

# the first bytes of the files a directory is searched for (pcap either byte order and
# resolution, pcapng, gzip): anything else in a directory is not a capture and is left out
MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
          b"\x0a\x0d\x0d\x0a")
GZIP = b"\x1f\x8b"
# names that say "capture" even when the content cannot (an empty file a killed tcpdump left):
# such a file is named as unreadable rather than left out without a word
NAMES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".dmp")


def expand(args) -> tuple[list[str], list[CaptureWarning]]:
    """The capture files named by the command line's arguments, in order: a file as given, a
    directory as every capture file under it (recursively, by content, in name order). Returns
    the paths and a warning for each directory's files left out (not captures)."""
    paths: list[str] = []
    notes: list[CaptureWarning] = []
    for arg in args:
        if arg != "-" and os.path.isdir(arg):
            found, left = _walk(arg)
            paths.extend(found)
            if left:
                n = len(left)
                names = ", ".join(display_path(os.path.relpath(p, arg)) for p in left[:3])
                notes.append(CaptureWarning(
                    "not_capture_files",
                    f"{display_path(arg)}: left out {n} file{'s' if n != 1 else ''} that "
                    f"{'are' if n != 1 else 'is'} not a capture ({names}{', …' if n > 3 else ''})",
                    file=display_path(arg)))
            if not found:
                notes.append(CaptureWarning(
                    "unreadable_file", f"{display_path(arg)}: no capture files in this directory",
                    file=display_path(arg)))
        else:
            paths.append(arg)
    return paths, notes


def _walk(top: str) -> tuple[list[str], list[str]]:
    """(the capture files under `top`, the other files), each in name order."""
    found: list[str] = []
    left: list[str] = []
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(d, name)
            try:
                with open(p, "rb") as f:
                    head = f.read(4)
            except OSError:
                found.append(p)            # named, so that the set says why it cannot be read
                continue
            if head in MAGICS or head[:2] == GZIP or name.lower().endswith(NAMES):
                found.append(p)
            else:
                left.append(p)
    return found, left


def open_capture(args, stdin=None, names=None):
    """The reader of the command line's CAPTURE arguments: a `CaptureReader` for one file
    (or "-"), a `CaptureSet` for several or a directory. Raises `CaptureError` when nothing
    can be read, `ValueError` for "-" among other files (a usage error).

    `names`: the files already expanded (`args` are their paths, e.g. absolute ones on a
    cluster's worker), each to be named in the output as the user named it."""
    args = list(args)
    if names is not None:
        if len(args) == 1:
            reader = CaptureReader(args[0])
            reader.path = names[0]
            return reader
        return CaptureSet(args, names=names)
    if "-" in args and len(args) > 1:
        raise ValueError('"-" (standard input) cannot be read together with other files')
    if len(args) == 1 and (args[0] == "-" or not os.path.isdir(args[0])):
        return CaptureReader(args[0], stdin)
    paths, notes = expand(args)
    if not paths:
        raise CaptureError("; ".join(w.message for w in notes), "unreadable")
    if len(paths) == 1 and not notes:
        return CaptureReader(paths[0])
    return CaptureSet(paths, notes)


@dataclass
class FileInfo:
    """One file of a capture set, as the capture summary lists it."""

    path: str                       # as given (display form)
    format: str = ""
    size: int | None = None
    frames: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    linktypes: dict[int, int] = field(default_factory=dict)
    warnings: list[CaptureWarning] = field(default_factory=list)
    error: str | None = None        # why it could not be read at all
    label: str = ""                 # the short name the text output uses


class FrameMap:
    """Frame number in the merged set -> (file, frame number in that file).

    Stored as runs: a run is a stretch of set frames that come from one file with consecutive
    numbers there (a new run starts when the merge switches file). A rotated capture is one run
    per file; files whose times interleave cost 24 bytes per switch, for the switches since the
    first frame of the oldest connection not yet reported (the pipeline trims the rest,
    `forget_before`)."""

    def __init__(self, files: list[FileInfo]):
        self.files = files
        self.starts = array("q")      # first set frame of each run
        self.file = array("q")        # its file index
        self.local = array("q")       # its first frame in that file
        self._last_file = -1
        self._next_local = 0
        self._next_set = 0

    def add(self, n: int, i: int, local: int) -> None:
        """Set frame `n` is frame `local` of file `i` (called in order of `n`)."""
        if i != self._last_file or local != self._next_local or n != self._next_set:
            self.starts.append(n)
            self.file.append(i)
            self.local.append(local)
            self._last_file = i
        self._next_local = local + 1
        self._next_set = n + 1

    def forget_before(self, n: int) -> None:
        """Frames before `n` will not be asked about again: drop the runs that end before it."""
        r = bisect_right(self.starts, n) - 1
        if r > 0:
            del self.starts[:r]
            del self.file[:r]
            del self.local[:r]

    def locate(self, n: int) -> tuple[int, int]:
        """(file index, frame in that file) of set frame `n`."""
        r = bisect_right(self.starts, n) - 1
        if r < 0:
            raise KeyError(n)
        return self.file[r], self.local[r] + (n - self.starts[r])

    def where(self, n: int) -> tuple[str, int]:
        """(path of the file as given, frame in that file) of set frame `n`."""
        i, local = self.locate(n)
        return self.files[i].path, local

    def short(self, n: int) -> str:
        """`label:frame`, how the text output names where set frame `n` came from."""
        i, local = self.locate(n)
        return f"{self.files[i].label}:{local}"


def _labels(paths: list[str]) -> list[str]:
    """Short names for the text output: each file's name, or as much of its path as tells it
    apart from the others."""
    parts = [p.replace(os.sep, "/").split("/") for p in paths]
    out = []
    for i, p in enumerate(parts):
        k = 1
        while k < len(p) and sum(1 for q in parts if q[-k:] == p[-k:]) > 1:
            k += 1
        out.append("/".join(p[-k:]) if sum(1 for q in parts if q[-k:] == p[-k:]) == 1 else paths[i])
    return out


class CaptureSet:
    """Iterate over the frames of several captures, merged by time (see the module docstring)."""

    def __init__(self, paths: list[str], notes: list[CaptureWarning] | None = None,
                 names: list[str] | None = None):
        self.files = [FileInfo(display_path(p)) for p in (names if names is not None else paths)]
        self._paths = list(paths)
        for f, label in zip(self.files, _labels([f.path for f in self.files])):
            f.label = label
        self.warnings: list[CaptureWarning] = list(notes or [])
        self.frame_map = FrameMap(self.files)
        self.frames_read = 0
        self.linktypes: dict[int, int] = {}
        self._done_bytes = 0
        self._open: dict[int, CaptureReader] = {}
        first = self._first_pass()
        readable = [f for f in self.files if f.error is None]
        if not readable:
            msgs = "; ".join(f.error for f in self.files if f.error) or "no capture files"
            raise CaptureError(f"no file of the capture set can be read: {msgs}", "unreadable")
        formats = sorted({f.format for f in readable})
        self.format = "+".join(formats) if formats else "?"
        n = len(self.files)
        self.path = (f"{n} files ({self.files[0].label} … {self.files[-1].label})" if n > 1
                     else self.files[0].path)
        sizes = [f.size for f in readable]
        self.size = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
        self._first = first

    # -- the first pass: each file's first timestamp ----------------------------------------------
    def _first_pass(self) -> list[tuple[float, int]]:
        first = []
        for i, f in enumerate(self.files):
            try:
                r = CaptureReader(self._paths[i])
            except CaptureError as exc:
                self._unreadable(f, str(exc))
                continue
            f.format, f.size = r.format, r.size
            it = iter(r)
            head = next(it, None)
            it.close()
            if head is None:
                # nothing in it (or nothing readable): it adds no frames; its warnings come now
                self._finish(i, r)
                continue
            f.first_ts = head[1]
            first.append((head[1], i))
        return first

    def _unreadable(self, f: FileInfo, message: str) -> None:
        i = self.files.index(f)
        message = message.replace(display_path(self._paths[i]), f.path)   # named as the user named it
        f.error = message
        self.warnings.append(CaptureWarning("unreadable_file", f"{message}; the other files were analysed",
                                            file=f.path))

    def _finish(self, i: int, r: CaptureReader) -> None:
        """File `i` has been read to its end: its warnings become the set's."""
        f = self.files[i]
        f.warnings = [CaptureWarning(w.kind, f"{f.path}: {w.message}", w.frame, w.offset, file=f.path)
                      for w in r.warnings]
        self.warnings.extend(f.warnings)
        if r.size is not None:
            self._done_bytes += r.size

    def sources(self) -> tuple[list[str], list[str]]:
        """([each file's path as opened], [its name in the output])."""
        return list(self._paths), [f.path for f in self.files]

    @property
    def offset(self) -> int:
        """Bytes consumed so far, over every file (the progress bar's position)."""
        return self._done_bytes + sum(r.offset for r in self._open.values())

    def pcap_records(self) -> None:
        return None       # frames come through __iter__ (the merge)

    # -- the merge --------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple]:
        # heap entries: (ts, file index, frame tuple or None while the file is not open, iterator)
        heap: list[tuple] = [(ts, i, None, None) for ts, i in self._first]
        heapq.heapify(heap)
        fmap = self.frame_map
        files = self.files
        lts = self.linktypes
        n = 0
        try:
            while heap:
                ts, i, item, it = heap[0]
                if item is None:
                    item, it = self._start(i)
                    if item is None:
                        heapq.heappop(heap)
                    else:
                        heapq.heapreplace(heap, (item[1], i, item, it))
                    continue
                n += 1
                local, ts, lt, buf, off, caplen, wire = item
                fmap.add(n, i, local)
                f = files[i]
                f.frames = local
                f.last_ts = ts
                f.linktypes[lt] = f.linktypes.get(lt, 0) + 1
                lts[lt] = lts.get(lt, 0) + 1
                self.frames_read = n
                nxt = next(it, None)
                if nxt is None:
                    heapq.heappop(heap)
                    self._finish(i, self._open.pop(i))
                else:
                    heapq.heapreplace(heap, (nxt[1], i, nxt, it))
                # the frame's buffer stays valid: the reader only ever replaces its buffer
                # (bytes are immutable), and this frame holds a reference to it
                yield (n, ts, lt, buf, off, caplen, wire)
        finally:
            for r in self._open.values():
                r._src.close()
            self._open.clear()

    def _start(self, i: int):
        """Open file `i` when its first frame is due: (its first frame, its iterator), or
        (None, None) if it has none after all (it changed, or cannot be read now)."""
        f = self.files[i]
        try:
            r = CaptureReader(self._paths[i])
        except CaptureError as exc:
            self._unreadable(f, str(exc))
            return None, None
        it = iter(r)
        self._open[i] = r
        first = next(it, None)
        if first is None:
            self._finish(i, self._open.pop(i))
            return None, None
        return first, it


__all__ = ["CaptureSet", "FileInfo", "FrameMap", "expand", "open_capture"]

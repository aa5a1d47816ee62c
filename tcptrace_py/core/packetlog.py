"""packetlog: a connection's packets, kept in memory up to a bound and on disk past it.

A connection that keeps its packets for the per-packet outputs (timeline, JSON, JSON
Lines) would otherwise hold every one of them until it ends: a day-long transfer of a
million packets is several hundred megabytes of packet objects. `PacketLog` is the list
the tracker appends to. It holds at most `PER_LOG` packets in memory; past that, and
whenever the packets held in memory by all logs together exceed `BUDGET` (many long
connections open at once), a log writes the packets it holds to a temporary file
shared by every log of the process (one pickled chunk each) and keeps only where they
are. Iterating a log reads its chunks back in order and then yields what is still in
memory, so every pass over a connection's packets (the renderers, the notes' scans of a
connection's close) sees the same packets in the same order, rebuilt with the same
fields: the output is the same bytes whether a log spilled or not.

Memory therefore follows the connections open at once (at most `PER_LOG` packets each,
fewer when many are open), not their length; the disk holds the rest until the
connection has been written, and the file is emptied whenever no log has packets in it.
The file is read and written at explicit offsets (pread/pwrite), and a forked process (a
`--jobs` worker) makes a file of its own on its first spill: it never shares offsets with its
parent, which has no spilled log when it forks (it only merges).

`len(log)` counts every packet; `log[i]` reads the one chunk that holds packet i, a slice
the whole log (the graphic renderers, which draw a connection whole, take `list(log)` once).
"""
from __future__ import annotations

import os
import pickle
import tempfile

from .records import new_packet

PER_LOG = 4096          # packets one log holds in memory before it writes them to disk
BUDGET = 131072         # packets all logs together hold in memory before the appending one spills
MIN_SPILL = 64          # ... if it holds at least this many (so a spill is never a tiny write)


def _row(p) -> tuple:
    """Every field of a packet (the analysis' too), as spilled."""
    return (p.frame, p.ts, p.src, p.dst, p.sport, p.dport, p.seq, p.ack_raw, p.flags, p.win_raw, p.len,
            p.hdr_len, p.options, p.ip_id, p.ttl, p.cut, p.ipv6, p.csum, p.flow, p.dir, p.rseq, p.rack,
            p.win, p.orig_state, p.resp_state, p.ack_rtt, p.in_flight, p.anomalies, p.info)


def _packet(row: tuple):
    """The packet a spilled row was made from."""
    p = new_packet(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10],
                   row[11], row[12], row[13], row[14], row[15], row[16], row[17])
    p.flow = row[18]
    p.dir = row[19]
    p.rseq = row[20]
    p.rack = row[21]
    p.win = row[22]
    p.orig_state = row[23]
    p.resp_state = row[24]
    p.ack_rtt = row[25]
    p.in_flight = row[26]
    p.anomalies = row[27]
    p.info = row[28]
    return p


class _Spill:
    """The process's spill file: chunks appended at the end, read back by offset."""

    def __init__(self) -> None:
        self.f = None
        self.pid = 0             # the process that made the file
        self.end = 0
        self.live = 0            # logs with chunks in the file
        self.held = 0            # packets held in memory by all logs
        self.per_log = PER_LOG   # the bounds (a test makes them small)
        self.budget = BUDGET
        self.min_spill = MIN_SPILL

    def write(self, data: bytes) -> int:
        if self.f is None or self.pid != os.getpid():
            # a process of its own (a --jobs worker is forked): its own file, never one whose
            # offsets it would share with its parent
            self.f = tempfile.TemporaryFile(prefix="tcpflow-explain-", buffering=0)
            self.pid = os.getpid()
            self.end = 0
        off = self.end
        fd = self.f.fileno()
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], off + done)
        self.end = off + len(data)
        return off

    def read(self, off: int, n: int) -> bytes:
        return os.pread(self.f.fileno(), n, off)

    def release(self) -> None:
        """A log with chunks is gone; with none left, the file is emptied."""
        self.live -= 1
        if self.live == 0 and self.f is not None and self.pid == os.getpid():
            self.f.truncate(0)
            self.end = 0


SPILL = _Spill()


class PacketLog:
    """The packets of one connection, in capture order (see the module docstring)."""

    def __init__(self):
        self.sp = SPILL
        self.mem: list = []
        self.chunks: list = []       # (offset, size, count) in the spill file
        self.spilled = 0

    def append(self, p) -> None:
        sp = self.sp
        mem = self.mem
        mem.append(p)
        sp.held += 1
        n = len(mem)
        if n >= sp.per_log or (sp.held > sp.budget and n >= sp.min_spill):
            self.spill()

    def spill(self) -> None:
        """Write the packets held in memory to the spill file."""
        mem = self.mem
        if not mem:
            return
        self._write([_row(p) for p in mem])
        self.spilled += len(mem)
        self.sp.held -= len(mem)
        self.mem = []

    def _write(self, rows: list) -> None:
        data = pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)
        off = self.sp.write(data)
        if not self.chunks:
            self.sp.live += 1
        self.chunks.append((off, len(data), len(rows)))

    def __len__(self) -> int:
        return self.spilled + len(self.mem)

    def __bool__(self) -> bool:
        return self.spilled + len(self.mem) > 0

    def __iter__(self):
        if self.chunks:
            return self._all()
        return iter(self.mem)

    def _rows(self, off: int, size: int) -> list:
        """The rows of one spilled chunk."""
        return pickle.loads(self.sp.read(off, size))

    def _all(self):
        for off, size, _count in list(self.chunks):
            for row in self._rows(off, size):
                yield _packet(row)
        yield from list(self.mem)

    def __getitem__(self, i):
        if not self.chunks:
            return self.mem[i]
        if isinstance(i, slice):
            return list(self._all())[i]
        n = self.spilled + len(self.mem)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("packet index out of range")
        if i >= self.spilled:
            return self.mem[i - self.spilled]
        for off, size, count in self.chunks:     # read only the chunk that holds it
            if i < count:
                return _packet(self._rows(off, size)[i])
            i -= count
        raise IndexError("packet index out of range")

    def update(self, fn) -> None:
        """Call `fn(packet)` on every packet, to change it: the spilled ones are read, changed
        and written again."""
        for p in self.mem:
            fn(p)
        if self.chunks:
            old = self.chunks
            self.chunks = []
            self.sp.live -= 1
            for off, size, _count in old:
                pk = [_packet(row) for row in self._rows(off, size)]
                for p in pk:
                    fn(p)
                self._write([_row(p) for p in pk])

    def in_memory(self) -> int:
        """Packets this log holds in memory."""
        return len(self.mem)

    def close(self) -> None:
        """Forget every packet (the connection has been written)."""
        self.sp.held -= len(self.mem)
        self.mem = []
        if self.chunks:
            self.chunks = []
            self.spilled = 0
            self.sp.release()

    def __del__(self):
        try:
            self.close()
        except Exception:   # noqa: BLE001 - at interpreter exit the module may be gone
            pass

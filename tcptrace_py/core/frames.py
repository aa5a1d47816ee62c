"""frames: the pipeline's per-frame loop — read, decode, find the connection, track.

`Frames.step()` takes frames from the capture reader, decodes each, looks up its
connection and puts the segment through the tracker, all without returning to
the caller: compiled, a frame never meets the interpreter on this path. It hands
control back to the pipeline (`pipeline.Analyzer.run`) only for what is rare or
must be seen from outside:

* a new connection: `on_new(flow, pkt, frame)` is called before the segment is
  tracked (the pipeline records it and decides about port reuse);
* the once-a-second expiry (capture time), and the eviction of flows when more than
  `--max-open` are open (`FlowTable.evict`): `on_expired(flows, frame)`;
* progress, every `every` frames: `progress(frame, bytes_read, flows_seen)`;
* and `step()` itself returns at the end of any frame after which flows wait in
  `pending` to be handed out, after `batch` frames (so Ctrl-C, which the
  interpreter notices between two calls, is seen at once), and at the end.

Per frame, in order: progress, link-type count, decode; a frame that is not a
TCP segment stops there; a TCP segment (or, in a --jobs worker, another
worker's segment, `decode.OTHER`) then moves the capture clock: the first one
starts it, expiry runs when it passes the next whole second after the last run,
and `last_ts` follows it.
"""
from __future__ import annotations

from .decode import OTHER
from .tracker import track


class Frames:
    def __init__(self, reader, decoder, table, on_new, on_expired, pending: list,
                 progress=None, every: int = 20000):
        self.reader = reader
        self.records = reader.pcap_records()    # None: pcapng, read through the reader's frames
        self.it = iter(reader) if self.records is None else None
        self.ended = False
        self.decoder = decoder
        self.table = table
        self.on_new = on_new
        self.on_expired = on_expired
        self.pending = pending
        self.progress = progress
        self.every = every
        self.frames = 0            # frames read (the last one's number)
        self.lts: dict[int, int] = {}
        self.lt = -1               # the link type of the current run of frames, not yet in lts
        self.lt_n = 0
        self.has_first = False     # a TCP segment was seen: first_ts holds its time
        self.first_ts = 0.0
        self.has_last = False
        self.last_ts = 0.0
        self.next_expire = 0.0

    def step(self, batch: int = 4096) -> bool:
        """Process frames (see the module docstring); False once the capture has ended."""
        n = 0
        cur = self.records
        if cur is not None:                 # pcap: records read in place, no tuple per frame
            if self.ended:
                return False
            lt = cur.linktype
            while True:
                buf = cur.next()
                if buf is None:
                    self.ended = True
                    return False
                n += 1
                self._frame(cur.frame, cur.ts, lt, buf, cur.off, cur.caplen, cur.wire)
                if self.pending or n >= batch:
                    return True
        for frame, ts, lt, buf, off, caplen, wire in self.it:
            n += 1
            self._frame(frame, ts, lt, buf, off, caplen, wire)
            if self.pending or n >= batch:
                return True
        return False

    def _frame(self, frame: int, ts: float, lt: int, buf: bytes, off: int, caplen: int, wire: int) -> None:
        """One frame."""
        self.frames = frame
        if self.progress is not None and frame % self.every == 0:
            self.progress(frame, self.reader.offset, self.table.next_id - 1)
        if lt == self.lt:
            self.lt_n += 1
        else:
            self._count_run()
            self.lt = lt
            self.lt_n = 1
        p = self.decoder.decode(frame, ts, lt, buf, off, caplen, wire)
        if p is None:
            return
        if not self.has_first:
            self.has_first = True
            self.first_ts = ts
            self.next_expire = ts + 1.0
            started = False
        else:
            started = True
        if p is not OTHER:
            table = self.table
            flow, d = table.lookup(p)
            if flow.npkts == 0:
                self.on_new(flow, p, frame)
                if table.max_open and len(table.table) > table.max_open:
                    self.on_expired(table.evict(frame, flow), frame)
            track(flow, p, d)
        if started and ts >= self.next_expire:
            self.next_expire = ts + 1.0
            done = self.table.expire(ts)
            if done:
                self.on_expired(done, frame)
        self.has_last = True
        self.last_ts = ts

    def _count_run(self) -> None:
        if self.lt_n:
            self.lts[self.lt] = self.lts.get(self.lt, 0) + self.lt_n
            self.lt_n = 0

    def linktypes(self) -> dict[int, int]:
        """Frames per link type so far, in the order the types first appeared."""
        self._count_run()
        return self.lts

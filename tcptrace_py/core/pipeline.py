"""pipeline: capture -> decode -> flows -> tracker -> anomalies -> summary, streaming.

`Analyzer.run(reader)` is a generator of finished flows: each flow is handed out
as soon as it is over (closed or reset and quiet for the grace period, or idle
past the timeout, in capture time), then forgotten, so memory follows the
connections open at once. At end of input every remaining flow is finished and
handed out in id order. `analyze()` is the convenience wrapper behind the Python
API: it keeps every flow and returns them in id order.

With `shard=(k, n)` the analyzer is worker `k` of `n` of `--jobs` (see
`parallel.py`): it reads every frame, but tracks only the connections of its
partitions; the other TCP segments still move the capture clock (expiry runs at
the same moments in every worker). Flows come out as soon as they finish, with
their first frame as provisional id, and `events` records, in order, what the
parent needs to replay the one-process emission order exactly:
``(frame, CREATED, None)``, ``(frame, REUSED, [id])``, ``(frame, EXPIRED, [ids])``
and, at the end, ``(FINAL, FINAL, [ids])``.
"""
from __future__ import annotations

import gc
import os
import heapq
from dataclasses import dataclass, field

from . import detectors, summary, zeek
from .capture import CaptureReader
from .captureset import open_capture
from .decode import Decoder, link_name
from .flows import Flow, FlowTable
from .frames import Frames
from .records import Anomaly, CaptureWarning, SkipReport
from .scans import ScanWatch

FORGET_EVERY = 1 << 18  # frames between two trims of a capture set's frame map
TWO_MSL = 240.0        # RFC 9293's MSL is 2 minutes; TIME_WAIT lasts 2 x MSL
# event kinds of a shard worker, in the order they happen within one frame
CREATED, REUSED, EXPIRED, FINAL = 0, 1, 2, 1 << 62


@dataclass
class Stats:
    """What the run read, and what it could not use."""

    path: str = ""
    format: str = ""
    frames: int = 0
    tcp_packets: int = 0
    flows: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    linktypes: dict[str, int] = field(default_factory=dict)
    skipped: SkipReport = field(default_factory=SkipReport)
    warnings: list[CaptureWarning] = field(default_factory=list)
    interrupted: bool = False
    scans: ScanWatch = field(default_factory=ScanWatch)     # SYN scans and floods (scans.py)
    files: list | None = None      # a capture set's files (captureset.FileInfo); None for one file


class Analyzer:
    def __init__(self, keep_packets: bool = True, grace: float = 10.0, idle: float | None = 3600.0,
                 ordered: bool = True, reorder_limit: int = 256, shard: tuple[int, int] | None = None,
                 max_open: int = 0):
        self.decoder = Decoder(shard)
        if max_open and shard is not None:
            max_open = max(1, max_open // shard[1])      # each worker holds its share
        self.table = FlowTable(keep_packets=keep_packets, grace=grace, idle=idle, shard=shard is not None,
                               max_open=max_open)
        self.stats = Stats(skipped=self.decoder.skipped)
        self.ordered = ordered
        self.reorder_limit = reorder_limit
        self._held: list[tuple[int, Flow]] = []
        self._pending: list[Flow] = []     # finished flows to hand out once the frame is done
        self.events: list[tuple] | None = [] if shard is not None else None
        self.frame_map = None       # a capture set's (captureset.FrameMap), given to each flow
        # a capture set: every FORGET_EVERY frames, the map forgets the frames no flow still to be
        # handed out can hold (memory follows the open connections, however the files interleave).
        # Off when the caller keeps the flows to render later (analyze()); `keep_from()`, if set,
        # is the first frame the caller still needs (a --jobs worker's flows waiting for ids)
        self.forget_frames = True
        self.keep_from = None

    def run(self, reader: CaptureReader, progress=None, every: int = 20000):
        """Yield finished flows. `progress(frames, bytes_read, flows_seen)` is called every `every` frames."""
        st = self.stats
        st.path = reader.path
        self.frame_map = reader.frame_map
        pending = self._pending
        fr = Frames(reader, self.decoder, self.table, self._new_flow,
                    self._expired, pending, progress, every)
        fmap = self.frame_map if self.forget_frames else None
        forget_at = FORGET_EVERY
        try:
            while True:
                more = fr.step()
                if fmap is not None and fr.frames >= forget_at:
                    forget_at = fr.frames + FORGET_EVERY
                    fmap.forget_before(self._first_needed(fr.frames + 1))
                while pending:
                    yield pending.pop(0)     # taken one at a time: after Ctrl-C, flush() has the rest
                if not more:
                    break
        finally:
            st.frames = fr.frames
            st.format = reader.format
            st.warnings = reader.warnings
            st.files = reader.files
            st.linktypes = {link_name(k): v for k, v in fr.linktypes().items()}
            st.tcp_packets = self.decoder.tcp
            if fr.has_first:
                st.first_ts = fr.first_ts
            if fr.has_last:
                st.last_ts = fr.last_ts
        yield from self.flush()

    def _first_needed(self, low: int) -> int:
        """The first frame a flow not yet handed out (open, held for order, pending) has."""
        for f in self.table.table.values():
            if f.first_frame < low:
                low = f.first_frame
        for _fid, f in self._held:
            if f.first_frame < low:
                low = f.first_frame
        for f in self._pending:
            if f.first_frame < low:
                low = f.first_frame
        if self.keep_from is not None:
            low = min(low, self.keep_from())
        return low

    def flush(self):
        """Finish everything still open (at the end of the capture, or after an interruption)."""
        while self._pending:
            yield self._pending.pop(0)
        rest = self.table.drain()
        rest.sort(key=lambda f: f.id)
        yield from self._out(rest, final=True)

    def _new_flow(self, flow: Flow, pkt, frame: int) -> None:
        """A connection's first segment, before it is tracked (called by `Frames.step`)."""
        if self.events is not None:
            self.events.append((frame, CREATED, None))
        old = flow.reused_from
        if old is not None:
            flow.reused_from = old.id
            self._reuse(flow, old, pkt)
            if old.npkts:
                self._pending.extend(self._out([old], kind=REUSED, frame=frame))
        else:
            self._recent_reuse(flow, pkt)

    def _expired(self, flows: list[Flow], frame: int) -> None:
        self._pending.extend(self._out(flows, frame=frame))

    def _out(self, flows: list[Flow], final: bool = False, kind: int = EXPIRED, frame: int = 0) -> list[Flow]:
        """Finish `flows`; return the flows to hand out now, in output order."""
        scans = self.stats.scans
        fmap = self.frame_map
        for flow in flows:
            flow.files = fmap
            finish(flow)
            self.stats.flows += 1
            scans.add(flow)
        if self.events is not None:
            # shard mode: the parent decides the order; hand each flow out now
            self.events.append((FINAL, FINAL, [f.id for f in flows]) if final else
                               (frame, kind, [f.id for f in flows]))
            return flows
        if not self.ordered:
            return sorted(flows, key=lambda f: f.id)
        held = self._held
        for flow in flows:
            heapq.heappush(held, (flow.id, flow))
        out = []
        if final:
            while held:
                out.append(heapq.heappop(held)[1])
            return out
        open_min = self.table.min_open_id()
        while held and (open_min is None or held[0][0] < open_min or len(held) > self.reorder_limit):
            out.append(heapq.heappop(held)[1])
        return out

    def _reuse(self, flow: Flow, old: Flow, pkt) -> None:
        pkt.add_anomaly("reused_ports", old.id)   # Wireshark: a SYN with a new ISN on a used 4-tuple
        if old.close_ts is not None and pkt.ts - old.close_ts < TWO_MSL:
            pkt.add_anomaly("time_wait_reuse", (old.id, pkt.ts - old.close_ts))

    def _recent_reuse(self, flow: Flow, pkt) -> None:
        prev = self.table.pop_recent(flow.key)
        if prev is not None and pkt.flags & 0x12 == 0x02:
            close_ts, old_id = prev
            flow.reused_from = old_id
            pkt.add_anomaly("reused_ports", old_id)
            if pkt.ts - close_ts < TWO_MSL:
                pkt.add_anomaly("time_wait_reuse", (old_id, pkt.ts - close_ts))


def finish(flow: Flow) -> None:
    """Flow-level anomalies and the verdict, once the flow is over; then drop the per-direction
    working sets that only the live analysis needed (the flow may wait a while to be reported)."""
    detectors.finish_flow(flow)
    summary.summarize(flow)
    for e in flow.ends:
        e.sigs = e.seg_times = e.last_ack_sig = None
    zeek.release(flow.zeek)


@dataclass
class Analysis:
    """The whole analysis of one capture, as typed objects (the Python API)."""

    flows: list[Flow]
    stats: Stats

    def flows_with(self, kind: str) -> list[Flow]:
        """Flows with at least one anomaly of `kind` (e.g. "rst", "retransmission")."""
        return [f for f in self.flows if kind in f.counts]

    def flow(self, fid: int) -> Flow:
        for f in self.flows:
            if f.id == fid:
                return f
        raise KeyError(fid)


def analyze(path, keep_packets: bool = True) -> Analysis:
    """Analyse a capture file (pcap, pcapng, gzip-compressed or not), or a capture set: a list
    of files and directories, merged by time into one capture (captureset.py).

    Raises `CaptureError` only when nothing can be read at all.
    """
    reader = open_capture([os.fspath(path)] if isinstance(path, (str, os.PathLike)) else [os.fspath(p) for p in path])
    az = Analyzer(keep_packets=keep_packets, idle=None, grace=float("inf"))
    az.forget_frames = False          # every flow is kept, to be rendered at any time
    was = gc.isenabled()
    gc.disable()      # millions of small objects, no cycles: the collector would only rescan them
    try:
        flows = list(az.run(reader))
    finally:
        if was:
            gc.enable()
    flows.sort(key=lambda f: f.id)
    return Analysis(flows, az.stats)


__all__ = ["Analyzer", "Analysis", "Anomaly", "Stats", "analyze", "finish"]

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
import heapq
from dataclasses import dataclass, field

from . import anomalies, summary, zeek
from .capture import CaptureReader
from .decode import OTHER, Decoder, link_name
from .flows import Flow, FlowTable
from .records import Anomaly, CaptureWarning, SkipReport
from .tracker import track

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


class Analyzer:
    def __init__(self, keep_packets: bool = True, grace: float = 10.0, idle: float | None = 3600.0,
                 ordered: bool = True, reorder_limit: int = 256, shard: tuple[int, int] | None = None):
        self.decoder = Decoder(shard)
        self.table = FlowTable(keep_packets=keep_packets, grace=grace, idle=idle, shard=shard is not None)
        self.stats = Stats(skipped=self.decoder.skipped)
        self.ordered = ordered
        self.reorder_limit = reorder_limit
        self._held: list[tuple[int, Flow]] = []
        self.events: list[tuple] | None = [] if shard is not None else None

    def run(self, reader: CaptureReader, progress=None, every: int = 20000):
        """Yield finished flows. `progress(frames, bytes_read, flows_seen)` is called every `every` frames."""
        st = self.stats
        st.path = reader.path
        decode = self.decoder.decode
        lookup = self.table.lookup
        check = anomalies.check_packet
        events = self.events
        next_expire = None
        lts: dict[int, int] = {}
        frames = 0
        try:
            for frame, ts, lt, buf, off, caplen, wire in reader:
                frames = frame
                if progress is not None and not frame % every:
                    progress(frame, reader.offset, self.table.next_id - 1)
                lts[lt] = lts.get(lt, 0) + 1
                pkt = decode(frame, ts, lt, buf, off, caplen, wire)
                if pkt is None:
                    continue
                if pkt is OTHER:              # shard mode: another worker's connection
                    if st.first_ts is None:
                        st.first_ts = ts
                else:
                    flow, d = lookup(pkt)
                    if flow.npkts == 0:
                        if st.first_ts is None:
                            st.first_ts = ts
                        if events is not None:
                            events.append((frame, CREATED, None))
                        old = flow.reused_from
                        if old is not None:
                            flow.reused_from = old.id
                            self._reuse(flow, old, pkt)
                            if old.npkts:
                                yield from self._out([old], kind=REUSED, frame=frame)
                        else:
                            self._recent_reuse(flow, pkt)
                    track(flow, pkt, d, check)
                if next_expire is None:
                    next_expire = ts + 1.0
                elif ts >= next_expire:
                    next_expire = ts + 1.0
                    done = self.table.expire(ts)
                    if done:
                        yield from self._out(done, frame=frame)
                st.last_ts = ts
        finally:
            st.frames = frames
            st.format = reader.format
            st.warnings = reader.warnings
            st.linktypes = {link_name(k): v for k, v in lts.items()}
            st.tcp_packets = self.decoder.tcp
        rest = self.table.drain()
        rest.sort(key=lambda f: f.id)
        yield from self._out(rest, final=True)

    def flush(self):
        """Finish everything still open (after an interruption)."""
        rest = self.table.drain()
        rest.sort(key=lambda f: f.id)
        yield from self._out(rest, final=True)

    def _out(self, flows: list[Flow], final: bool = False, kind: int = EXPIRED, frame: int = 0):
        for flow in flows:
            finish(flow)
            self.stats.flows += 1
        if self.events is not None:
            # shard mode: the parent decides the order; hand each flow out now
            self.events.append((FINAL, FINAL, [f.id for f in flows]) if final else
                               (frame, kind, [f.id for f in flows]))
            yield from flows
            return
        if not self.ordered:
            yield from sorted(flows, key=lambda f: f.id)
            return
        held = self._held
        for flow in flows:
            heapq.heappush(held, (flow.id, flow))
        if final:
            while held:
                yield heapq.heappop(held)[1]
            return
        open_min = self.table.min_open_id()
        while held and (open_min is None or held[0][0] < open_min or len(held) > self.reorder_limit):
            yield heapq.heappop(held)[1]

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
    anomalies.finish_flow(flow)
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


def analyze(path: str, keep_packets: bool = True) -> Analysis:
    """Analyse a capture file (pcap, pcapng, gzip-compressed or not).

    Raises `CaptureError` only when the file cannot be read at all.
    """
    reader = CaptureReader(path)
    az = Analyzer(keep_packets=keep_packets, idle=None, grace=float("inf"))
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

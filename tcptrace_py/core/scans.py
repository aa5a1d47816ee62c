"""scans: SYN scans and SYN floods, told as one finding each instead of a connection per SYN.

A *probe* is a connection whose originator sent SYNs and nothing else of its own (no data; a
RST after the answer, as a half-open scan sends, is allowed) and whose responder sent no data:
answered with a SYN-ACK (the port is open), with a RST (closed), or not at all (filtered, or
the target is down). Every finished connection is offered to `ScanWatch.add`; probes are
counted two ways:

* by **source** address: one host probing many ports or hosts is a **SYN scan**
  (`syn_scan`), reported when it sent at least `MIN_PROBES` probes to at least `MIN_TARGETS`
  distinct host:port targets;
* by **target** host:port: one port probed from many source ports or hosts is a **SYN
  flood** (`syn_flood`), reported when at least `MIN_PROBES` probes came from at least
  `MIN_TARGETS` distinct source host:port pairs.

Each finding says who, how many probes to (from) how many hosts and ports, how they were
answered, and the frames and times it spans. Distinct hosts and ports are counted exactly up
to `MAX_DISTINCT` each (past that the count says "at least"), and at most `MAX_KEYS` sources
and targets are followed (later new ones are counted in `untracked`), so memory stays
bounded whatever the capture holds. The connections themselves are still reported as usual.

With ``--jobs N`` every worker counts its own connections and the parent adds the counts
(`merge`): the findings are the same as one process's, but where those bounds are reached.
"""
from __future__ import annotations

MIN_PROBES = 100
MIN_TARGETS = 50
MAX_DISTINCT = 65536
MAX_KEYS = 65_536


class _Tally:
    """Probes of one source (or to one target)."""

    __slots__ = ("probes", "synack", "rst", "none", "hosts", "ports", "first_frame",
                 "last_frame", "first_ts", "last_ts")

    def __init__(self) -> None:
        self.probes = self.synack = self.rst = self.none = 0
        self.hosts: set = set()
        self.ports: set = set()
        self.first_frame = self.last_frame = 0
        self.first_ts = self.last_ts = 0.0

    def add(self, host, port, answer: str, first_frame: int, first_ts: float, last_frame: int,
            last_ts: float) -> None:
        if self.probes == 0 or first_frame < self.first_frame:
            self.first_frame, self.first_ts = first_frame, first_ts
        if last_frame > self.last_frame:
            self.last_frame, self.last_ts = last_frame, last_ts
        self.probes += 1
        if answer == "synack":
            self.synack += 1
        elif answer == "rst":
            self.rst += 1
        else:
            self.none += 1
        if len(self.hosts) < MAX_DISTINCT:
            self.hosts.add(host)
        if len(self.ports) < MAX_DISTINCT:
            self.ports.add(port)

    def merge(self, other: "_Tally") -> None:
        if other.probes == 0:
            return
        if self.probes == 0 or other.first_frame < self.first_frame:
            self.first_frame, self.first_ts = other.first_frame, other.first_ts
        if other.last_frame > self.last_frame:
            self.last_frame, self.last_ts = other.last_frame, other.last_ts
        self.probes += other.probes
        self.synack += other.synack
        self.rst += other.rst
        self.none += other.none
        for mine, theirs in ((self.hosts, other.hosts), (self.ports, other.ports)):
            for x in theirs:
                if len(mine) >= MAX_DISTINCT:
                    break
                mine.add(x)


def _tally_of(probe: tuple) -> _Tally:
    t = _Tally()
    t.add(*probe)
    return t


def probe_answer(flow) -> str | None:
    """How a probe was answered ("synack", "rst" or "none"), or None if the flow is no probe."""
    o, r = flow.ends
    if o.syn_frame is None or o.bytes or r.bytes or flow.first_frame != o.syn_frame:
        return None
    if o.fin_frame is not None or r.fin_frame is not None:
        return None
    if r.synack_frame is not None:
        return "synack"
    if r.rst_frame is not None:
        return "rst"
    if r.pkts:
        return None
    return "none"


class ScanWatch:
    """The probes of a capture, by source and by target (see the module docstring)."""

    def __init__(self) -> None:
        self.by_source: dict = {}
        self.by_target: dict = {}
        self.untracked = 0

    def add(self, flow) -> None:
        answer = probe_answer(flow)
        if answer is None:
            return
        src, sport = flow.orig
        dst, dport = flow.resp
        self._add(self.by_source, src, (dst, dport, answer, flow.first_frame, flow.first_ts,
                                         flow.last_frame, flow.last_ts))
        self._add(self.by_target, (dst, dport), (src, sport, answer, flow.first_frame, flow.first_ts,
                                                 flow.last_frame, flow.last_ts))

    def _add(self, table: dict, key, probe: tuple) -> None:
        """Count a probe. A key's first probe is kept as the tuple itself (a scan makes a target
        of every port it probes once: most keys never see a second); the second makes a _Tally."""
        t = table.get(key)
        if t is None:
            if len(table) < MAX_KEYS:
                table[key] = probe
            else:
                self.untracked += 1
            return
        if isinstance(t, tuple):
            t = table[key] = _tally_of(t)
        t.add(*probe)

    def merge(self, other: "ScanWatch") -> None:
        for mine, theirs in ((self.by_source, other.by_source), (self.by_target, other.by_target)):
            for key, t in theirs.items():
                have = mine.get(key)
                if have is None and len(mine) >= MAX_KEYS:
                    self.untracked += 1
                    continue
                t = _tally_of(t) if isinstance(t, tuple) else t
                if have is None:
                    mine[key] = t
                else:
                    if isinstance(have, tuple):
                        have = mine[key] = _tally_of(have)
                    have.merge(t)
        self.untracked += other.untracked

    def findings(self) -> list[dict]:
        """Every scan and flood, in the order of their first frame."""
        from .decode import addr_str
        from ..prose.explain import endpoint_str
        out = []
        for src, t in self.by_source.items():
            if isinstance(t, tuple):
                continue                    # one probe
            if t.probes >= MIN_PROBES and len(t.hosts) * len(t.ports) >= MIN_TARGETS:
                out.append(_finding("syn_scan", {"source": addr_str(src)}, "targets", t))
        for (dst, dport), t in self.by_target.items():
            if isinstance(t, tuple):
                continue
            if t.probes >= MIN_PROBES and len(t.hosts) * len(t.ports) >= MIN_TARGETS:
                out.append(_finding("syn_flood", {"target": endpoint_str((dst, dport))}, "sources", t))
        out.sort(key=lambda f: (f["first_frame"], f["kind"]))
        return out


def _finding(kind: str, who: dict, side: str, t: _Tally) -> dict:
    def count(s: set) -> dict:
        return {"n": len(s), "at_least": len(s) >= MAX_DISTINCT}
    return {"kind": kind, **who, "probes": t.probes,
            side: {"hosts": count(t.hosts), "ports": count(t.ports)},
            "answered": {"synack": t.synack, "rst": t.rst, "none": t.none},
            "first_frame": t.first_frame, "last_frame": t.last_frame,
            "start_ts": round(t.first_ts, 6), "end_ts": round(t.last_ts, 6),
            "duration": round(t.last_ts - t.first_ts, 6)}


def describe(f: dict, lang: str = "en") -> str:
    """One finding in a sentence."""
    side = f.get("targets") or f["sources"]
    hosts, ports = side["hosts"], side["ports"]

    def n(c: dict) -> str:
        return f"{'≥' if c['at_least'] else ''}{c['n']:,}"
    a = f["answered"]
    if lang == "zh":
        if f["kind"] == "syn_scan":
            head = (f"SYN 扫描：{f['source']} 向 {n(hosts)} 台主机的 {n(ports)} 个端口发出 {f['probes']:,} 个探测 SYN")
        else:
            head = (f"SYN 洪泛：{f['target']} 收到来自 {n(hosts)} 台主机、{n(ports)} 个源端口的 "
                    f"{f['probes']:,} 个 SYN")
        return (f"{head}（第 {f['first_frame']}–{f['last_frame']} 帧，{f['duration']:.3f} 秒）："
                f"{a['synack']:,} 个得到 SYN-ACK（端口开放），{a['rst']:,} 个得到 RST（端口关闭），"
                f"{a['none']:,} 个没有回应")
    if f["kind"] == "syn_scan":
        head = (f"SYN scan: {f['source']} sent {f['probes']:,} probing SYNs to {n(ports)} "
                f"port{'s' if ports['n'] != 1 else ''} on {n(hosts)} host{'s' if hosts['n'] != 1 else ''}")
    else:
        head = (f"SYN flood: {f['target']} got {f['probes']:,} SYNs from {n(ports)} source "
                f"port{'s' if ports['n'] != 1 else ''} on {n(hosts)} host{'s' if hosts['n'] != 1 else ''}")
    return (f"{head} (frames {f['first_frame']}–{f['last_frame']}, {f['duration']:.3f} s): "
            f"{a['synack']:,} answered with SYN-ACK (open), {a['rst']:,} with RST (closed), "
            f"{a['none']:,} not at all")

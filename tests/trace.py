"""trace: a tiny vocabulary for writing a TCP conversation as a tcpdump-like listing.

    t = Trace()                       # client 10.0.0.1:40000, server 10.0.0.2:80
    t.syn(); t.synack(); t.ack()      # the handshake
    t.data(97); t.ack("s")            # 97 bytes client -> server, the server ACKs them
    t.fin(); t.fin("s"); t.ack()      # three-packet close
    flow = t.analyze(tmp_path)        # pcap written with dpkt, then tcptrace_py.analyze

The sender is "c" (client) or "s" (server): the first argument of syn/synack/
ack/fin/rst (defaults: syn, ack, fin, rst from "c"; synack from "s"), the
second of data(n, by). Each side's next sequence number is tracked (SYN and FIN
consume one, data its length); a SYN or SYN-ACK always carries the sender's
ISN, so calling syn() again repeats it. With the ACK flag set, the ACK field
acknowledges everything the peer has sent so far; fin(crosses=True) instead
acks only up to the peer's FIN (the two FINs crossed). Absolute seq= / ack=
override either; advance=False leaves the sender's counter where it was.
t.resend(frame) retransmits an earlier frame (same segment, new IP ID),
t.duplicate(frame) is a copy the network made (the same bytes),
t.reconnect(isn_c, isn_s) starts a new connection on the same 4-tuple.
Timestamps advance by t.dt per segment (or dt=; t.wait(s) inserts a pause).
Options: mss(), wscale(), sack_ok(), timestamps(), tfo(cookie); IPv6 when the
addresses are IPv6.

Then `expect(flow, listing)` checks each packet against a line of the form

    <frame> <c|s> [<flags>] seq <rseq> ack <rack|-> len <n> <client state> <server state> [! anomaly,...]

so a test states, packet by packet, the relative numbers, BOTH endpoints'
states after the packet and its complete set of anomalies (none unless `!`).
"""
from __future__ import annotations

import difflib
import os
import socket
import struct
import tempfile

import dpkt

from tcptrace_py import analyze as _analyze
from tcptrace_py.prose.explain import Explainer
from tcptrace_py.core.records import ACK, FIN, PSH, RST, SYN, flag_letters

M = 0xFFFFFFFF


# --- TCP options (raw bytes, padded to a multiple of 4 by Trace) -------------------

def mss(n: int = 1460) -> bytes:
    return struct.pack("!BBH", 2, 4, n)


def wscale(shift: int = 7) -> bytes:
    return struct.pack("!BBB", 3, 3, shift)


def sack_ok() -> bytes:
    return b"\x04\x02"


def timestamps(val: int = 1, ecr: int = 0) -> bytes:
    return struct.pack("!BBII", 8, 10, val, ecr)


def tfo(cookie: bytes = b"\x11\x22\x33\x44\x55\x66\x77\x88") -> bytes:
    """TCP Fast Open option (kind 34); an empty cookie is a cookie request."""
    return bytes([34, 2 + len(cookie)]) + cookie


def _pad(opts: bytes) -> bytes:
    return opts + b"\x01" * (-len(opts) % 4)   # NOP padding


# --- the builder -------------------------------------------------------------------

class Trace:
    def __init__(self, client=("10.0.0.1", 40000), server=("10.0.0.2", 80),
                 isn_c: int = 1000, isn_s: int = 5000, t0: float = 1_700_000_000.0,
                 dt: float = 0.001, win: int = 65535):
        self.ep = {"c": client, "s": server}
        self.ipv6 = ":" in client[0]
        self.isn = {"c": isn_c & M, "s": isn_s & M}
        self.nxt = dict(self.isn)        # next sequence number each side will use
        self.fin_seq = {"c": None, "s": None}
        self.last_ack = {"c": None, "s": None}
        self.ts = t0
        self.dt = dt
        self.win = win
        self.frames: list[tuple[float, bytes]] = []
        self.ip_id = 0

    # -- time --------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        self.ts += seconds

    # -- the general segment ----------------------------------------------------------
    def send(self, by: str, flags: int, n: int = 0, *, seq: int | None = None,
             ack: int | None = None, win: int | None = None, options: bytes = b"",
             payload: bytes | None = None, advance: bool = True, dt: float | None = None) -> int:
        """Send one segment from `by` ("c"/"s"); returns its frame number (1-based)."""
        assert by in ("c", "s"), by
        peer = "s" if by == "c" else "c"
        if payload is None:
            payload = bytes((i % 251) + 1 for i in range(n))
        n = len(payload)
        if seq is None:
            seq = self.nxt[by]
        seq &= M
        if ack is None:
            ack = self.nxt[peer] if flags & ACK else 0
        ack &= M
        if flags & ACK:
            self.last_ack[by] = ack
        if flags & FIN:
            self.fin_seq[by] = (seq + n + (1 if flags & SYN else 0)) & M
        if advance:
            end = (seq + n + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)) & M
            if ((end - self.nxt[by]) & M) < 0x80000000:
                self.nxt[by] = end
        self.ts += self.dt if dt is None else dt
        (src, sport), (dst, dport) = self.ep[by], self.ep[peer]
        opts = _pad(options)
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags,
                           win=self.win if win is None else win, opts=opts, data=payload)
        tcp.off = 5 + len(opts) // 4
        self.ip_id += 1
        if self.ipv6:
            ip = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, src),
                              dst=socket.inet_pton(socket.AF_INET6, dst),
                              nxt=dpkt.ip.IP_PROTO_TCP, hlim=64, data=tcp)
            ip.plen = len(tcp)
            etype = dpkt.ethernet.ETH_TYPE_IP6
        else:
            ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst),
                            p=dpkt.ip.IP_PROTO_TCP, ttl=64, id=self.ip_id, data=tcp)
            etype = dpkt.ethernet.ETH_TYPE_IP
        eth = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01" if by == "c" else b"\x02\x00\x00\x00\x00\x02",
                                     dst=b"\x02\x00\x00\x00\x00\x02" if by == "c" else b"\x02\x00\x00\x00\x00\x01",
                                     type=etype, data=ip)
        self.frames.append((self.ts, bytes(eth)))
        return len(self.frames)

    def resend(self, frame: int, dt: float | None = None) -> int:
        """Retransmit frame `frame` `dt` later: the same segment, as a host resends it
        (a new IP ID; IPv6 has none, so there it is the same bytes)."""
        eth = dpkt.ethernet.Ethernet(self.frames[frame - 1][1])
        if isinstance(eth.data, dpkt.ip.IP):
            self.ip_id += 1
            eth.data.id = self.ip_id & 0xFFFF
            eth.data.sum = 0
        return self._append(bytes(eth), dt)

    def duplicate(self, frame: int, dt: float | None = None) -> int:
        """A copy of frame `frame` made by the network: the very same bytes, `dt` later."""
        return self._append(self.frames[frame - 1][1], dt)

    def _append(self, buf: bytes, dt: float | None) -> int:
        self.ts += self.dt if dt is None else dt
        self.frames.append((self.ts, buf))
        return len(self.frames)

    # -- the vocabulary ---------------------------------------------------------------
    def syn(self, by: str = "c", *, n: int = 0, **kw) -> int:
        """A SYN always carries the sender's ISN: calling it again repeats it."""
        kw.setdefault("seq", self.isn[by])
        return self.send(by, SYN, n, **kw)

    def synack(self, by: str = "s", *, n: int = 0, **kw) -> int:
        kw.setdefault("seq", self.isn[by])
        return self.send(by, SYN | ACK, n, **kw)

    def ack(self, by: str = "c", **kw) -> int:
        return self.send(by, ACK, 0, **kw)

    def data(self, n: int, by: str = "c", **kw) -> int:
        return self.send(by, PSH | ACK, n, **kw)

    def fin(self, by: str = "c", *, n: int = 0, crosses: bool = False, **kw) -> int:
        """FIN+ACK. `crosses=True`: sent before the peer's FIN arrived, so its ACK
        does not cover that FIN (simultaneous close)."""
        if crosses:
            peer = "s" if by == "c" else "c"
            assert self.fin_seq[peer] is not None, "crosses=True needs the peer's FIN first"
            kw.setdefault("ack", self.fin_seq[peer])
        return self.send(by, FIN | ACK | (PSH if n else 0), n, **kw)

    def rst(self, by: str = "c", *, with_ack: bool = True, **kw) -> int:
        return self.send(by, RST | (ACK if with_ack else 0), 0, **kw)

    # readable aliases
    def ack_from_server(self, **kw) -> int:
        return self.ack("s", **kw)

    def data_from_server(self, n: int, **kw) -> int:
        return self.data(n, "s", **kw)

    def handshake(self, **kw) -> None:
        self.syn(**kw)
        self.synack()
        self.ack()

    def reconnect(self, isn_c: int, isn_s: int) -> None:
        """Start a new connection on the same 4-tuple with new ISNs."""
        self.isn = {"c": isn_c & M, "s": isn_s & M}
        self.nxt = dict(self.isn)
        self.fin_seq = {"c": None, "s": None}
        self.last_ack = {"c": None, "s": None}

    # -- output -----------------------------------------------------------------------
    def write(self, path) -> str:
        return write_pcap(path, self)

    def analysis(self, where=None):
        """Write the pcap (into directory `where`, or a temporary one) and analyse it."""
        if where is None:
            with tempfile.TemporaryDirectory() as d:
                return _analyze(self.write(os.path.join(d, "t.pcap")))
        return _analyze(self.write(os.path.join(str(where), "t.pcap")))

    def analyze(self, where=None):
        """The single flow of the trace (asserts there is exactly one)."""
        flows = self.analysis(where).flows
        assert len(flows) == 1, f"expected one flow, got {len(flows)}"
        return flows[0]


def write_pcap(path, *traces: Trace) -> str:
    """One pcap holding the frames of all `traces`, merged in timestamp order."""
    path = str(path)
    frames = sorted((f for t in traces for f in t.frames), key=lambda f: f[0])
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh, linktype=dpkt.pcap.DLT_EN10MB, nano=False)
        for ts, buf in frames:
            w.writepkt(buf, ts=ts)
    return path


# --- checking -----------------------------------------------------------------------

def row(p, client_first: bool = True) -> str:
    """One packet in the listing format `expect` reads."""
    who = "c" if p.dir == 0 else "s"
    rack = "-" if p.rack is None else str(p.rack)
    line = (f"{p.frame} {who} [{flag_letters(p.flags)}] seq {p.rseq} ack {rack} len {p.len} "
            f"{p.orig_state.value} {p.resp_state.value}")
    if p.anomalies:
        line += " ! " + ",".join(sorted(p.anomalies))
    return line


def listing(flow) -> list[str]:
    return [row(p) for p in flow.packets]


def _norm(line: str) -> str:
    line = line.split("#", 1)[0]
    if "!" in line:
        head, tail = line.split("!", 1)
        kinds = sorted(k.strip() for k in tail.replace(" ", ",").split(",") if k.strip())
        return " ".join(head.split()) + " ! " + ",".join(kinds)
    return " ".join(line.split())


def expect(flow, text: str) -> None:
    """Assert the flow's packets read exactly as `text` (see the module docstring)."""
    want = [_norm(x) for x in text.strip().splitlines() if _norm(x)]
    got = listing(flow)
    if got != want:   # this module is not assertion-rewritten: say what differs ourselves
        diff = "\n".join(difflib.unified_diff(want, got, "expected", "analysed", lineterm="", n=99))
        raise AssertionError("the listing differs:\n" + diff)


def notes(flow) -> dict[int, str]:
    """The explanation note of every packet, by frame (as the renderers build them)."""
    ex = Explainer(flow)
    before = flow.init_states
    out = {}
    for p in flow.packets:
        out[p.frame] = ex.note(p, before)
        before = (p.orig_state, p.resp_state)
    return out


def verdict(flow) -> tuple:
    v = flow.ended
    return v.opened, v.ended, v.closer


def flow_anomalies(flow) -> set[str]:
    return {a.kind for a in flow.anomalies}

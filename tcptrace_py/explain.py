"""explain: the plain-language notes, built only for what is printed.

`Explainer(flow)` walks a finished flow's packets once to learn its shape (which
FIN closed first, whether the close took three or four segments), then
`note(pkt)` says what one packet did, the way a teacher walks through a tcpdump
listing, and `anomaly_message(...)` says what an anomaly means in words.

Numbers follow the rules the notes teach: SYN and FIN each consume one sequence
number; data bytes are numbered from 1 after the SYN; an ACK number is the next
byte expected, so "ack 98" means bytes 1-97 arrived (Ack = Seq + bytes).
"""
from __future__ import annotations

from .decode import addr_str, format_options, parse_options
from .records import ACK, FIN, RST, SYN, Packet, State

WHO = ("client", "server")


def endpoint_str(ep: tuple) -> str:
    a = addr_str(ep[0])
    return f"[{a}]:{ep[1]}" if ":" in a else f"{a}:{ep[1]}"


def fmt_dt(sec: float) -> str:
    if sec < 0.001:
        return f"{sec * 1e6:.0f} µs"
    if sec < 1:
        return f"{sec * 1e3:.1f} ms"
    return f"{sec:.3f} s"


def byte_range(start: int, n: int) -> str:
    return f"byte {start}" if n == 1 else f"bytes {start}–{start + n - 1}"


class Explainer:
    def __init__(self, flow):
        self.flow = flow
        self.close_steps: dict[int, str] = {}
        self._plan_close()

    # -- the shape of the close ------------------------------------------------------
    def _plan_close(self) -> None:
        """Number the close segments: 1/4..4/4, or 1/3..3/3 with a combined FIN+ACK."""
        pk = self.flow.packets
        first = None
        for p in pk:
            if p.flags & FIN and not p.flags & RST:
                first = p
                break
        if first is None:
            return
        a = first.dir
        fin_a = (first.seq + first.len + (1 if first.flags & SYN else 0)) & 0xFFFFFFFF
        ack_a = fin_b_pkt = last = None
        for p in pk:
            if p.frame <= first.frame:
                continue
            if p.dir != a and p.flags & ACK and ack_a is None and ((p.ack_raw - fin_a - 1) & 0xFFFFFFFF) < 0x80000000:
                ack_a = p
            if p.dir != a and p.flags & FIN and fin_b_pkt is None:
                fin_b_pkt = p
            if fin_b_pkt is not None and p.dir == a and p.flags & ACK and p.frame > fin_b_pkt.frame:
                fin_b = (fin_b_pkt.seq + fin_b_pkt.len) & 0xFFFFFFFF
                if ((p.ack_raw - fin_b - 1) & 0xFFFFFFFF) < 0x80000000:
                    last = p
                    break
        if fin_b_pkt is not None and ack_a is fin_b_pkt:
            total = 3
            self.close_steps[first.frame] = "close 1/3"
            self.close_steps[fin_b_pkt.frame] = "close 2/3"
            if last is not None:
                self.close_steps[last.frame] = "close 3/3"
        else:
            total = 4
            self.close_steps[first.frame] = "close 1/4"
            if ack_a is not None:
                self.close_steps[ack_a.frame] = "close 2/4"
            if fin_b_pkt is not None:
                self.close_steps[fin_b_pkt.frame] = "close 3/4"
            if last is not None:
                self.close_steps[last.frame] = "close 4/4"
        self.close_total = total

    # -- one packet ---------------------------------------------------------------------
    def note(self, pkt: Packet, before: tuple[State, State]) -> str:
        f = pkt.flags
        d = pkt.dir
        me, peer = WHO[d], WHO[1 - d]
        flow = self.flow
        sb, pb = before[d], before[1 - d]
        sa = pkt.orig_state if d == 0 else pkt.resp_state
        pa = pkt.resp_state if d == 0 else pkt.orig_state
        an = pkt.anomalies or {}
        parts: list[str] = []
        step = self.close_steps.get(pkt.frame)

        if f & RST:
            if "connection_refused" in an:
                parts.append(f"{me} refuses the connection: nothing accepts connections on port "
                             f"{(flow.resp if d == 1 else flow.orig)[1]}, so the SYN is answered with RST")
            else:
                was = f" (it was {sb.value})" if sb is not State.UNKNOWN else ""
                parts.append(f"{me} aborts the connection with RST{was}; both sides drop it at once, "
                             "without the FIN exchange and without TIME_WAIT")
            if pkt.len:
                parts.append(f"the RST carries {pkt.len} bytes of data")
        elif f & SYN and not f & ACK:
            end = flow.ends[d]
            if _is_retrans(an) or (end.syn_frame is not None and end.syn_frame != pkt.frame):
                first = end.syn_frame
                parts.append(f"{me} sends its SYN again (first sent in frame {first}, "
                             f"{fmt_dt(pkt.ts - end.syn_ts)} earlier): no SYN-ACK arrived in time")
            elif d == 1:
                parts.append(f"{me} sends its own SYN (ISN {pkt.seq}) instead of a SYN-ACK: "
                             "both sides are opening at once (simultaneous open)")
            else:
                parts.append(f"handshake 1/3: {me} asks to open a connection, ISN {pkt.seq}; "
                             "the SYN consumes one sequence number, so the client's first data byte will be 1")
            parts.append(_syn_opts(pkt))
            if pkt.len:
                parts.append(_syn_data(pkt, an))
        elif f & SYN:
            end = flow.ends[d]
            peer_end = flow.ends[1 - d]
            if end.syn_frame is not None and end.syn_frame != pkt.frame:
                parts.append(f"{me} repeats its SYN-ACK (first sent in frame {end.syn_frame}): "
                             f"the {peer}'s SYN or the final ACK went missing")
            else:
                if peer_end.isn is not None:
                    why = (f"ack {pkt.rack} = {peer}'s ISN {peer_end.isn} + 1, "
                           "because the SYN consumed one sequence number")
                else:
                    why = f"ack {pkt.rack}: the {peer}'s SYN itself was not captured"
                label = "handshake 2/3" if d == 1 else "simultaneous open"
                parts.append(f"{label}: {me} accepts, picks its own ISN {pkt.seq}, and acknowledges "
                             f"the {peer}'s SYN ({why})")
            parts.append(_syn_opts(pkt))
            if pkt.len:
                parts.append(f"the SYN-ACK carries {pkt.len} bytes of data")
        else:
            if pb is State.SYN_RECEIVED and pa is State.ESTABLISHED:
                label = "handshake 3/3" if d == 0 else "simultaneous open completes"
                parts.append(f"{label}: {me} acknowledges the {peer}'s SYN (ack {pkt.rack}); "
                             "both sides are now ESTABLISHED")
                if pkt.len:
                    parts.append(f"the same segment already carries data: {byte_range(pkt.rseq, pkt.len)}")
            elif f & FIN:
                parts.append(self._fin_note(pkt, step, me, peer, sb, sa, pb, pa))
            elif step is not None and pkt.len == 0:
                parts.append(self._close_ack_note(pkt, step, me, peer, sa, pb, pa))
            elif pkt.len:
                parts.append(self._data_note(pkt, me, an))
            else:
                parts.append(self._ack_note(pkt, me, peer, an))
        if pkt.cut:
            parts.append("the capture kept only the start of this packet (snaplen); the length comes from the IP header")
        return "; ".join(p for p in parts if p)

    def _fin_note(self, pkt, step, me, peer, sb, sa, pb, pa) -> str:
        data = f"it also carries {byte_range(pkt.rseq, pkt.len)}; " if pkt.len else ""
        fin_at = (pkt.rseq + pkt.len) & 0xFFFFFFFF
        if sa is State.FIN_WAIT_1 and sb is not State.FIN_WAIT_1:
            lbl = f"{step}: " if step else ""
            return (f"{lbl}{data}{me} is done sending and closes first (active close): FIN at seq {fin_at}, "
                    "which consumes one sequence number")
        if sb is State.FIN_WAIT_1 or (sa is sb and sa in (State.LAST_ACK, State.CLOSING, State.TIME_WAIT)):
            return f"{data}{me} sends its FIN again (retransmission): the {peer} has not acknowledged it yet"
        if sa is State.CLOSING and sb is State.CLOSE_WAIT:
            return (f"{data}{me} sends its FIN before the {peer}'s FIN reached it: the two FINs cross "
                    "(simultaneous close); both sides go to CLOSING and wait for the ACK of their FIN")
        if pb is State.FIN_WAIT_1 and pa is State.TIME_WAIT:
            lbl = f"{step}: " if step else ""
            return (f"{lbl}{data}{me} acknowledges the {peer}'s FIN (ack {pkt.rack}) and sends its own FIN "
                    f"in the same segment (FIN+ACK combined), so the close takes three segments, not four")
        if sa is State.LAST_ACK:
            lbl = f"{step}: " if step else ""
            return (f"{lbl}{data}{me} is done sending too and sends its FIN (passive close); it waits in "
                    f"LAST_ACK for the {peer}'s ACK")
        if pa is State.CLOSING:
            return (f"{data}{me}'s FIN crosses the {peer}'s FIN (simultaneous close): both sides are in "
                    "CLOSING until each FIN is acknowledged")
        return f"{data}{me} sends FIN at seq {fin_at}"

    def _close_ack_note(self, pkt, step, me, peer, sa, pb, pa) -> str:
        if pb is State.FIN_WAIT_1 and pa is State.FIN_WAIT_2:
            return (f"{step}: {me} acknowledges the {peer}'s FIN (ack {pkt.rack} = FIN's seq + 1); the "
                    f"connection is half-closed: the {me} may still send, the {peer} waits in FIN_WAIT_2")
        if pa is State.CLOSED and pb is State.LAST_ACK:
            tw = (f"; {me} enters TIME_WAIT and will wait 2×MSL before forgetting the connection, so that a "
                  f"lost final ACK can be repeated and old segments die out") if sa is State.TIME_WAIT else ""
            return f"{step}: {me} acknowledges the {peer}'s FIN (ack {pkt.rack}); the {peer} is CLOSED{tw}"
        if pb is State.CLOSING and pa is State.TIME_WAIT:
            return f"{step}: {me} acknowledges the {peer}'s FIN; the {peer} moves from CLOSING to TIME_WAIT"
        return f"{step}: {me} acknowledges the {peer}'s FIN (ack {pkt.rack})"

    def _data_note(self, pkt, me, an) -> str:
        for k in ("retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order"):
            if k in an:
                return self.anomaly_message(pkt, k, an[k])
        if "zero_window_probe" in an:
            return self.anomaly_message(pkt, "zero_window_probe", None)
        if "keep_alive" in an:
            return self.anomaly_message(pkt, "keep_alive", None)
        s = f"{me} sends {byte_range(pkt.rseq, pkt.len)} ({pkt.len} bytes)"
        return s

    def _ack_note(self, pkt, me, peer, an) -> str:
        for k in ("duplicate_ack", "keep_alive", "keep_alive_ack", "zero_window_probe_ack", "window_update"):
            if k in an:
                return self.anomaly_message(pkt, k, an[k])
        if pkt.rack is None:
            return f"{me} sends a segment without the ACK flag"
        if "zero_window" in an:
            return self.anomaly_message(pkt, "zero_window", None)
        if pkt.rack <= 1:
            return f"{me} acknowledges nothing new (ack {pkt.rack})"
        return (f"{me} acknowledges everything up to byte {pkt.rack - 1} and expects byte {pkt.rack} next "
                f"(ack {pkt.rack} = 1 + {pkt.rack - 1} bytes received)")

    # -- anomalies ----------------------------------------------------------------------
    def anomaly_message(self, pkt: Packet, kind: str, detail) -> str:
        me = WHO[pkt.dir]
        peer = WHO[1 - pkt.dir]
        rng = byte_range(pkt.rseq, pkt.len) if pkt.len else "its SYN" if pkt.flags & SYN else \
            "its FIN" if pkt.flags & FIN else "nothing"
        if kind in ("retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order"):
            first, dt = detail if isinstance(detail, tuple) else (None, None)
            since = f", {fmt_dt(dt)} after the highest segment so far (frame {first})" if first else ""
            if kind == "retransmission":
                return f"retransmission: {me} sends {rng} again{since}; the first copy or its ACK was probably lost (timeout)"
            if kind == "fast_retransmission":
                return (f"fast retransmission: {me} resends {rng} right after the {peer}'s duplicate ACKs "
                        f"asked for it{since}")
            if kind == "spurious_retransmission":
                return (f"spurious retransmission: {me} resends {rng}, which the {peer} had already "
                        "acknowledged (the ACK was late or lost)")
            return (f"out of order: {rng} arrive after higher sequence numbers{since}; "
                    "reordered in the network, or a quick retransmission")
        if kind == "lost_segment":
            lo, hi = detail if isinstance(detail, tuple) else (None, None)
            n = (hi - lo) & 0xFFFFFFFF if lo is not None else 0
            return (f"previous segment not captured: {n} bytes before this one are missing "
                    "(lost in the network, or dropped by the capture)")
        if kind == "ack_lost_segment":
            return f"{me} acknowledges data the capture never saw (captured only in part, or asymmetric routing)"
        if kind == "duplicate_ack":
            n, of = detail if isinstance(detail, tuple) else (None, None)
            return (f"duplicate ACK #{n} (of frame {of}): {me} still expects byte {pkt.rack}, "
                    "so a segment is missing or out of order")
        if kind == "zero_window":
            return f"{me}'s receive window is 0: its buffer is full, so the {peer} must stop sending"
        if kind == "zero_window_probe":
            return f"zero-window probe: {me} sends one byte to ask whether the {peer}'s window has opened"
        if kind == "zero_window_probe_ack":
            return f"{me} answers the zero-window probe: its window is still 0"
        if kind == "window_update":
            return f"window update: {me}'s receive window changes to {pkt.win}, nothing else new"
        if kind == "window_full":
            return f"this segment fills the {peer}'s receive window completely"
        if kind == "keep_alive":
            return f"keep-alive: {me} probes whether the {peer} is still there (one byte before what it has acknowledged)"
        if kind == "keep_alive_ack":
            return f"{me} answers the keep-alive"
        if kind == "reused_ports":
            return f"the same addresses and ports were used by connection {detail} before: a new connection starts"
        if kind == "time_wait_reuse":
            old, dt = detail
            return (f"a new SYN on the same addresses and ports only {fmt_dt(dt)} after connection {old} closed "
                    "(within 2×MSL, while the old one may still be in TIME_WAIT)")
        if kind == "rst":
            return f"{me} reset the connection (in state {detail})"
        if kind == "connection_refused":
            return f"{me} refused the connection (RST answering a SYN)"
        if kind == "syn_with_data":
            return f"the SYN carries {detail} bytes of data without a TCP Fast Open cookie"
        if kind == "invalid_flags":
            return f"invalid flag combination: {detail}"
        if kind == "data_after_fin":
            return f"{me} sends data beyond its own FIN (frame {detail})"
        if kind == "data_after_rst":
            return f"{me} sends data after the connection was reset (RST in frame {detail})"
        if kind == "unexpected_segment":
            return f"unexpected segment for the state machine: {detail}"
        if kind == "duplicate":
            return f"a second copy of frame {detail} (same IP ID and bytes): duplicated in the network, not resent by {me}"
        return kind.replace("_", " ")


def _is_retrans(an) -> bool:
    return any(k in an for k in ("retransmission", "fast_retransmission", "spurious_retransmission"))


def _syn_opts(pkt: Packet) -> str:
    if not pkt.options:
        return "no options"
    words = []
    for k, v in parse_options(pkt.options):
        if k == "mss":
            words.append(f"MSS {v}")
        elif k == "wscale":
            words.append(f"window scale {v} (×{1 << min(v, 14)})")
        elif k == "sackOK":
            words.append("SACK permitted")
        elif k == "TS":
            words.append("timestamps")
        elif k == "tfo":
            words.append("TCP Fast Open cookie" if v else "TCP Fast Open cookie request")
        elif k == "mptcp":
            words.append("MPTCP")
    return "offers " + ", ".join(words) if words else ""


def _syn_data(pkt: Packet, an) -> str:
    if "syn_with_data" in an:
        return f"the SYN carries {pkt.len} bytes of data without a Fast Open cookie (unusual)"
    return f"TCP Fast Open: the SYN already carries {pkt.len} bytes of data"


def describe_open(flow) -> str:
    v = flow.ended
    o, r = flow.ends
    if v.opened == "handshake":
        rtt = f", handshake RTT {fmt_dt(flow.irtt)}" if flow.irtt is not None else ""
        return f"opened with a complete three-way handshake{rtt}"
    if v.opened == "handshake_no_ack":
        return "SYN and SYN-ACK seen, but the handshake's final ACK was never seen"
    if v.opened == "refused":
        return "connection refused: the SYN was answered with RST"
    if v.opened == "syn_unanswered":
        n = o.pkts
        return f"SYN unanswered: no SYN-ACK by the end of the capture ({n} SYN{'s' if n > 1 else ''} sent)"
    if v.opened == "partial_handshake":
        return "the capture starts at the SYN-ACK: the client's SYN was not captured"
    how = {"first": "it sent the first captured packet", "port": "the other side uses a well-known port"}
    return (f"the capture starts mid-connection (no SYN seen); client guessed as "
            f"{endpoint_str(flow.orig)} because {how.get(flow.oriented_by, flow.oriented_by)}")


def describe_end(flow) -> str:
    v = flow.ended
    o, r = flow.ends
    who = {"orig": "client", "resp": "server", None: "?"}
    if v.ended == "graceful":
        return f"closed gracefully with FIN on both sides; the {who[v.closer]} closed first (active close)"
    if v.ended in ("reset", "refused"):
        e = o if v.closer == "orig" else r
        return f"reset by the {who[v.closer]} (RST in frame {e.rst_frame})"
    if v.ended == "half_closed":
        return (f"half-closed: the {who[v.closer]} sent FIN, but the connection was not fully closed "
                f"when the capture ended")
    if v.ended == "unanswered":
        return "never opened"
    return "still open when the capture ended"


def opts_text(pkt: Packet) -> str:
    return format_options(pkt.options) if pkt.options else ""

"""tracker: a passive mirror of both endpoints of one TCP connection.

Theory of operation
-------------------
Every captured segment was sent by one endpoint and (we assume) arrives at the
other. So each segment is applied twice, through two tables that are the same
for both directions:

* ``SENDER[(state, event)]``: what sending this segment says about its sender.
  A sender's state can change the moment it sends (SYN -> SYN_SENT, FIN ->
  FIN_WAIT_1 or LAST_ACK), and what it sends is evidence about what it has
  received: a FIN whose ACK does not cover the peer's FIN was sent before the
  peer's FIN arrived, so the two FINs crossed (simultaneous close -> CLOSING).
* ``RECEIVER[(state, event)]``: what arriving does to the receiver, in two
  stages: first what the ACK field acknowledges (our SYN: SYN_RECEIVED ->
  ESTABLISHED; our FIN: FIN_WAIT_1 -> FIN_WAIT_2, CLOSING -> TIME_WAIT,
  LAST_ACK -> CLOSED), then the control bit it carries (FIN, SYN, SYN-ACK, RST).

One deliberate exception: a SYN arriving at a listener leaves it in LISTEN until
its SYN-ACK is seen, because a SYN that is never answered (filtered, no
listener) must not make a server look half-open.

A pair missing from a table never raises: the state is kept and the packet gets
the ``unexpected_segment`` anomaly, saying which state did not expect what.

Relative numbers follow Wireshark: per direction, the SYN's sequence number is
0; a direction first seen without its SYN counts from 1 (base = seq - 1); an ACK
seen before the acknowledged direction's first segment sets that direction's base
to ack - 1. Sequence arithmetic is modulo 2**32 throughout (serial number
comparisons), so numbers may wrap past 2**32 anywhere.

No clock is read and nothing is printed: time comes from packet timestamps.
"""
from __future__ import annotations

from .detectors import check_packet
from .decode import parse_options
from .records import ACK, FIN, RST, SYN, M, Endpoint, Packet, State, States, seq_ge, seq_gt
from .zeek import update as zeek_update

S = States

# sender events: "SYN", "SYNACK", "FIN", "FIN_CROSSING", "RST", "ACK" (anything else)
SENDER: dict[tuple[State, str], State] = {}
for _s in State:
    SENDER[(_s, "RST")] = S.CLOSED
for _s in (S.CLOSED, S.LISTEN, S.UNKNOWN, S.SYN_SENT):
    SENDER[(_s, "SYN")] = S.SYN_SENT
for _s in (S.CLOSED, S.LISTEN, S.UNKNOWN, S.SYN_SENT, S.SYN_RECEIVED, S.ESTABLISHED):
    SENDER[(_s, "SYNACK")] = S.SYN_RECEIVED
    SENDER[(_s, "SYNACK_AGAIN")] = S.SYN_RECEIVED  # ESTABLISHED: it repeats its SYN-ACK, our ACK never reached it
# ... except a first SYN-ACK from an endpoint that is already ESTABLISHED: in a simultaneous open it
# answers the peer's SYN after the peer's SYN-ACK completed its own side
SENDER[(S.ESTABLISHED, "SYNACK")] = S.ESTABLISHED
SENDER.update({
    (S.SYN_RECEIVED, "SYN"): S.SYN_RECEIVED,
    (S.ESTABLISHED, "SYN"): S.SYN_SENT,       # it sends its SYN again: our SYN-ACK never reached it
    (S.UNKNOWN, "ACK"): S.UNKNOWN,
    (S.UNKNOWN, "FIN"): S.FIN_WAIT_1,
    (S.SYN_RECEIVED, "ACK"): S.SYN_RECEIVED,  # e.g. a TFO server sending data before the final ACK
    (S.SYN_RECEIVED, "FIN"): S.FIN_WAIT_1,
    (S.ESTABLISHED, "ACK"): S.ESTABLISHED,
    (S.ESTABLISHED, "FIN"): S.FIN_WAIT_1,
    (S.FIN_WAIT_1, "ACK"): S.FIN_WAIT_1,
    (S.FIN_WAIT_1, "FIN"): S.FIN_WAIT_1,      # FIN retransmitted
    (S.FIN_WAIT_2, "ACK"): S.FIN_WAIT_2,
    (S.FIN_WAIT_2, "FIN"): S.FIN_WAIT_2,
    (S.CLOSE_WAIT, "ACK"): S.CLOSE_WAIT,      # half-close: the passive side may keep sending
    (S.CLOSE_WAIT, "FIN"): S.LAST_ACK,
    (S.CLOSE_WAIT, "FIN_CROSSING"): S.CLOSING,  # its FIN left before the peer's FIN arrived
    (S.CLOSING, "ACK"): S.CLOSING,
    (S.CLOSING, "FIN"): S.CLOSING,
    (S.LAST_ACK, "ACK"): S.LAST_ACK,
    (S.LAST_ACK, "FIN"): S.LAST_ACK,
    (S.TIME_WAIT, "ACK"): S.TIME_WAIT,
    (S.TIME_WAIT, "FIN"): S.TIME_WAIT,
    (S.CLOSED, "ACK"): S.CLOSED,             # after a reset: reported by the anomaly detectors
    (S.CLOSED, "FIN"): S.CLOSED,
    (S.CLOSED, "FIN_RESENT"): S.LAST_ACK,     # closed by our ACK, yet it sends its FIN again: the ACK was lost
    (S.SYN_SENT, "ACK"): S.ESTABLISHED,       # it acknowledges: a SYN-ACK reached it that the capture missed
    (S.LISTEN, "ACK"): S.ESTABLISHED,         # a server seen first sending: its SYN-ACK was not captured
    (S.LISTEN, "FIN"): S.FIN_WAIT_1,
})
for (_s, _e), _t in list(SENDER.items()):
    if _e == "FIN":
        SENDER.setdefault((_s, "FIN_CROSSING"), _t)
    if _e == "ACK":
        SENDER.setdefault((_s, "NOACK"), _t)
SENDER[(S.SYN_SENT, "NOACK")] = S.SYN_SENT

# receiver, stage 1 (what the ACK field acknowledges): "ACKSYN", "ACKFIN"
RECV_ACK: dict[tuple[State, str], State] = {
    (S.SYN_RECEIVED, "ACKSYN"): S.ESTABLISHED,
    (S.FIN_WAIT_1, "ACKFIN"): S.FIN_WAIT_2,
    (S.CLOSING, "ACKFIN"): S.TIME_WAIT,
    (S.LAST_ACK, "ACKFIN"): S.CLOSED,
}
# receiver, stage 2 (the control bit): "SYN", "SYNACK", "FIN", "RST"
RECEIVER: dict[tuple[State, str], State] = {}
for _s in State:
    RECEIVER[(_s, "RST")] = S.CLOSED
RECEIVER[(S.LISTEN, "RST")] = S.LISTEN
RECEIVER.update({
    (S.LISTEN, "SYN"): S.LISTEN,              # deferred until its SYN-ACK (see above)
    (S.CLOSED, "SYN"): S.CLOSED,
    (S.UNKNOWN, "SYN"): S.UNKNOWN,
    (S.SYN_SENT, "SYN"): S.SYN_RECEIVED,      # simultaneous open
    (S.SYN_RECEIVED, "SYN"): S.SYN_RECEIVED,  # retransmitted SYN
    (S.ESTABLISHED, "SYN"): S.ESTABLISHED,
    (S.SYN_SENT, "SYNACK"): S.ESTABLISHED,
    (S.SYN_RECEIVED, "SYNACK"): S.ESTABLISHED,  # simultaneous open, both SYN-ACKs
    (S.ESTABLISHED, "SYNACK"): S.ESTABLISHED,   # retransmitted SYN-ACK
    (S.UNKNOWN, "SYNACK"): S.ESTABLISHED,
    (S.CLOSED, "SYNACK"): S.CLOSED,
    (S.UNKNOWN, "FIN"): S.CLOSE_WAIT,
    (S.SYN_RECEIVED, "FIN"): S.CLOSE_WAIT,
    (S.ESTABLISHED, "FIN"): S.CLOSE_WAIT,
    (S.FIN_WAIT_1, "FIN"): S.CLOSING,
    (S.FIN_WAIT_2, "FIN"): S.TIME_WAIT,
    (S.CLOSE_WAIT, "FIN"): S.CLOSE_WAIT,      # retransmitted FIN
    (S.CLOSING, "FIN"): S.CLOSING,
    (S.LAST_ACK, "FIN"): S.LAST_ACK,
    (S.TIME_WAIT, "FIN"): S.TIME_WAIT,        # retransmitted FIN, re-ACKed
    (S.CLOSED, "FIN"): S.CLOSED,
})

_EST = S.ESTABLISHED


def sender_event(pkt: Packet, snd: Endpoint, peer: Endpoint) -> str:
    f = pkt.flags
    if f & RST:
        return "RST"
    if f & SYN:
        if f & ACK:
            return "SYNACK_AGAIN" if snd.synack_frame is not None and snd.synack_frame != pkt.frame else "SYNACK"
        return "SYN"
    if f & FIN:
        if snd.state is S.CLOSED and snd.rst_frame is None and peer.rst_frame is None:
            return "FIN_RESENT"
        if peer.fin_seq is not None and not (f & ACK and seq_gt(pkt.ack_raw, peer.fin_seq)):
            return "FIN_CROSSING"
        return "FIN"
    return "ACK" if f & ACK or snd.state is not S.SYN_SENT else "NOACK"


def ack_event(pkt: Packet, rcv: Endpoint) -> str | None:
    """What the segment's ACK field acknowledges of the receiver's control bits."""
    if not pkt.flags & ACK:
        return None
    a = pkt.ack_raw
    if rcv.fin_seq is not None and seq_gt(a, rcv.fin_seq):
        return "ACKFIN"
    if rcv.isn is not None and seq_gt(a, rcv.isn):
        return "ACKSYN"
    return None


def transition(sender: Endpoint, receiver: Endpoint, pkt: Packet) -> str | None:
    """Apply one segment to both endpoints; return an 'unexpected' note or None."""
    problem = None
    ev = sender_event(pkt, sender, receiver)
    new = SENDER.get((sender.state, ev))
    if new is None:
        problem = f"{sender.state.value} did not expect to send {_EVENT_WORDS[ev]}"
    else:
        sender.state = new
    if (receiver.state is S.LISTEN and pkt.flags & ACK and sender.state is S.ESTABLISHED
            and receiver.isn is None and not pkt.flags & (SYN | RST)):
        receiver.state = S.ESTABLISHED      # its SYN-ACK was not captured; this ACK completes it
    aev = ack_event(pkt, receiver)
    if aev is not None:
        nxt = RECV_ACK.get((receiver.state, aev))
        if nxt is not None:
            receiver.state = nxt
    f = pkt.flags
    rev = "RST" if f & RST else ("SYNACK" if f & ACK else "SYN") if f & SYN else "FIN" if f & FIN else None
    if rev is not None:
        nxt = RECEIVER.get((receiver.state, rev))
        if nxt is None:
            if problem is None:
                problem = f"{receiver.state.value} did not expect to receive {_EVENT_WORDS[rev]}"
        else:
            receiver.state = nxt
    return problem


_EVENT_WORDS = {"SYN": "a SYN", "SYNACK": "a SYN-ACK", "SYNACK_AGAIN": "a SYN-ACK", "FIN": "a FIN",
                "FIN_CROSSING": "a FIN", "FIN_RESENT": "a FIN", "RST": "a RST", "ACK": "a segment",
                "NOACK": "a segment without ACK"}


# --- the per-packet step -----------------------------------------------------------

def _syn_options(end: Endpoint, pkt: Packet) -> None:
    for name, val in parse_options(pkt.options):
        if name == "wscale":
            end.wscale = min(val, 14)
        elif name == "mss":
            end.mss = val
        elif name == "sackOK":
            end.sack_ok = True
        elif name == "TS":
            end.ts_ok = True


def track(flow, pkt: Packet, d: int) -> None:
    """Apply one packet of `flow` sent in direction `d` (0: orig->resp)."""
    snd = flow.ends[d]
    rcv = flow.ends[1 - d]
    f = pkt.flags
    pkt.flow = flow.id
    pkt.dir = d
    ts = pkt.ts
    if f & SYN:
        if snd.base >= 0 and pkt.seq != snd.base:
            # only a SYN-ACK gets here (a pure SYN with a new ISN made a new flow):
            # Wireshark re-bases this direction and flags the port reuse
            snd.base = snd.isn = pkt.seq
            pkt.add_anomaly("reused_ports", flow.id)
        elif snd.base >= 0 and not f & ACK:
            snd.nextseq = snd.maxseqtobeacked      # the same SYN again: back to the last contiguous point
        if f & ACK and snd.synack_frame is None:
            snd.synack_frame = pkt.frame
        if snd.syn_frame is None:
            snd.isn = pkt.seq
            snd.syn_frame = pkt.frame
            snd.syn_ts = ts
            if pkt.options:
                _syn_options(snd, pkt)
            if f & ACK and flow.syn_ack_rtt is None and rcv.syn_ts is not None:
                flow.syn_ack_rtt = ts - rcv.syn_ts
        if snd.base < 0:
            snd.base = pkt.seq
    elif snd.base < 0:
        snd.base = (pkt.seq - 1) & M
    if f & ACK:
        if rcv.base < 0:
            rcv.base = (pkt.ack_raw - 1) & M
        pkt.rack = (pkt.ack_raw - rcv.base) & M
    pkt.rseq = (pkt.seq - snd.base) & M
    if snd.win_scale > 0 and not f & SYN:
        pkt.win = pkt.win_raw << snd.win_scale
    if f & FIN:
        fs = (pkt.seq + pkt.len + (1 if f & SYN else 0)) & M
        if snd.fin_seq is None or seq_gt(fs, snd.fin_seq):
            snd.fin_seq = fs
            if snd.fin_frame is None:
                snd.fin_frame = pkt.frame
                snd.fin_ts = ts
                if flow.first_fin_dir is None:
                    flow.first_fin_dir = d
    if f & RST and snd.rst_frame is None:
        snd.rst_frame = pkt.frame
        if flow.rst_dir is None:
            flow.rst_dir = d

    e0 = flow.ends[0]
    e1 = flow.ends[1]
    before = (e0.state, e1.state)
    if f & (SYN | FIN | RST) or snd.state is not _EST or rcv.state is not _EST:
        # (an ACK or data between two ESTABLISHED ends changes neither: the common case skips this)
        problem = transition(snd, rcv, pkt)
        if problem is not None:
            pkt.add_anomaly("unexpected_segment", problem)
        changed = True
    else:
        changed = False
    if f & ACK:
        a = pkt.ack_raw
        ma = snd.max_ack
        if ma < 0 or 0 < ((a - ma) & M) < 0x80000000:
            snd.max_ack = a
        if not rcv.syn_acked and rcv.isn is not None and seq_gt(a, rcv.isn) and not f & RST:
            rcv.syn_acked = True
            if snd.syn_acked and flow.irtt is None and e0.syn_ts is not None:
                # both SYNs acknowledged: the handshake is complete. Its RTT counts from the SYN
                # that was answered (the last one), as Wireshark's iRTT does.
                flow.irtt = ts - (flow.ts_mru_syn if flow.ts_mru_syn is not None else e0.syn_ts)
    pkt.orig_state = e0.state
    pkt.resp_state = e1.state

    check_packet(flow, pkt, snd, rcv, before)
    zeek_update(flow, pkt, d)
    if f & SYN:
        # window scaling as Wireshark settles it (docs/reference/tshark-tcp-analysis.md, section 4)
        snd.is_first_ack = True
        if snd.wscale is not None and snd.win_scale == -1:
            snd.win_scale = snd.wscale
        if snd.wscale is None:
            snd.win_scale = rcv.win_scale = -2
        elif f & ACK and rcv.win_scale == -2:
            snd.win_scale = -2
        if not f & ACK:
            flow.ts_mru_syn = ts
    elif f & ACK:
        snd.is_first_ack = False
        if flow.first_rtt is None and flow.ts_mru_syn is not None:
            flow.first_rtt = ts - flow.ts_mru_syn
    if pkt.anomalies:
        counts = flow.counts
        for k in pkt.anomalies:
            c = counts.get(k)
            if c is None:
                counts[k] = [1, pkt.frame]
            else:
                c[0] += 1

    # ACK RTT (Karn: retransmitted data is not timed)
    n = pkt.len
    if f & ACK and rcv.seg_times:
        # a queue: a list read from seg_head on, emptied once all is acknowledged, compacted
        # when mostly read (a deque costs half a kilobyte even empty, for each open direction)
        q = rcv.seg_times
        a = pkt.ack_raw
        i = rcv.seg_head
        nq = len(q)
        while i < nq and ((a - q[i][0]) & M) < 0x80000000:
            end, sent_ts = q[i]
            i += 1
            if end == a:
                rtt = pkt.ack_rtt = ts - sent_ts
                r = flow.ack_rtt
                if r is None:
                    flow.ack_rtt = [rtt, 1, rtt]
                else:
                    r[0] += rtt
                    r[1] += 1
                    if rtt > r[2]:
                        r[2] = rtt
        if i == nq:
            q.clear()
            i = 0
        elif i > 64 and i * 2 > nq:
            del q[:i]
            i = 0
        rcv.seg_head = i
    if n:
        if snd.nextseq >= 0 and rcv.max_ack >= 0:
            pkt.in_flight = (snd.nextseq - rcv.max_ack) & M    # as tshark's sequence-based count
        if not pkt.anomalies:
            q = snd.seg_times
            if q is None:
                q = snd.seg_times = []
            q.append(((pkt.seq + n) & M, ts))
        snd.data_pkts += 1
        snd.bytes += n
    snd.pkts += 1
    if snd.first_ts is None:
        snd.first_ts = ts
    snd.last_ts = ts
    snd.sent_any = True
    flow.npkts += 1
    flow.last_ts = ts
    flow.last_frame = pkt.frame
    if changed and flow.close_ts is None and flow.closed:
        flow.close_ts = ts
    if flow.keep:
        flow.packets.append(pkt)

"""anomalies: detectors that read the tracker's per-direction bookkeeping.

Two kinds:

* per-packet: `analyze_segment` implements tshark's TCP sequence analysis with
  the same semantics as Wireshark's ``tcp_analyze_sequence_number`` (see
  docs/reference/tshark-tcp-analysis.md): the same per-direction state (nextseq,
  lastack, window, dup-ACK count, max sequence to be ACKed), the same order of
  checks and the same exclusions, so that our flags can be compared frame by
  frame. Where tshark is wrong on evidence the capture holds (an IP-level
  duplicate is not a retransmission), `refine` relabels, documented in the README.
* per-flow, at the end: `finish_flow` adds what only the whole connection shows
  (unanswered SYN, data never acknowledged, connection left open, ...).

Anomaly ids are stable API (README, "Anomalies").
"""
from __future__ import annotations

from .records import ACK, FIN, RST, SYN, Anomaly, Packet, State
from .tracker import M, Endpoint, seq_ge, seq_gt

FAST_RETRANS_WINDOW = 0.020   # tshark: a retransmission within 20 ms of the dup ACKs
OOO_DEFAULT = 0.003           # tshark: 3 ms when no handshake RTT is known

SEVERITY = {
    "retransmission": "warning", "fast_retransmission": "warning", "spurious_retransmission": "info",
    "out_of_order": "warning", "lost_segment": "warning", "ack_lost_segment": "info",
    "duplicate_ack": "info", "zero_window": "warning", "zero_window_probe": "info",
    "zero_window_probe_ack": "info", "window_update": "info", "window_full": "info",
    "keep_alive": "info", "keep_alive_ack": "info", "reused_ports": "info", "duplicate": "info",
    "rst": "error", "connection_refused": "error", "syn_unanswered": "error",
    "synack_unanswered": "error", "data_unacked": "warning", "fin_unacked": "warning",
    "data_after_fin": "warning", "data_after_rst": "warning", "syn_with_data": "info",
    "invalid_flags": "error", "ack_of_unsent": "warning", "not_closed": "warning",
    "time_wait_reuse": "info", "unexpected_segment": "warning",
}


def analyze_segment(pkt: Packet, fwd: Endpoint, rev: Endpoint, first_rtt: float | None) -> None:
    """tshark's per-segment analysis; sets pkt.anomalies and updates fwd/rev."""
    flags = pkt.flags
    seq = pkt.seq
    ack = pkt.ack_raw
    seglen = pkt.len
    win = pkt.win_raw
    ts = pkt.ts
    ctl = flags & (SYN | FIN | RST)
    found = 0  # bitmask of what we flagged, kept as fwd.lastsegflags
    nextseq = fwd.nextseq

    # zero window probe: one byte at exactly nextseq while the peer's window is 0
    if seglen == 1 and nextseq is not None and seq == nextseq and rev.window == 0:
        pkt.add_anomaly("zero_window_probe")
        found |= ZWP
        _update_ack(pkt, fwd, flags, ack, ts)
        _finish_fwd(pkt, fwd, rev, seq, seglen, flags, win, ts, found)
        return

    if win == 0 and not ctl:
        pkt.add_anomaly("zero_window")
        fwd.zero_windows += 1

    if nextseq is not None and seq_gt(seq, nextseq) and not flags & RST:
        pkt.add_anomaly("lost_segment", (nextseq, seq))

    if (seglen <= 1 and nextseq is not None and seq == ((nextseq - 1) & M) and not ctl):
        pkt.add_anomaly("keep_alive")
        found |= KA

    if (seglen == 0 and win and win != fwd.window and nextseq is not None and seq == nextseq
            and ack == fwd.lastack and not ctl and flags & ACK):
        pkt.add_anomaly("window_update")

    if (seglen > 0 and rev.window is not None and rev.lastack is not None and not ctl):
        shift = rev.win_scale if rev.win_scale >= 0 else 0
        if ((seq + seglen) & M) == ((rev.lastack + (rev.window << shift)) & M):
            pkt.add_anomaly("window_full")

    dup = False
    if (seglen == 0 and nextseq is not None and seq == nextseq and ack == fwd.lastack
            and win == fwd.window and not ctl and flags & ACK):
        if rev.lastsegflags & KA:
            pkt.add_anomaly("keep_alive_ack")
        elif rev.lastsegflags & ZWP and win == 0:
            pkt.add_anomaly("zero_window_probe_ack")
        elif win:
            fwd.dupacks += 1
            dup = True
            pkt.add_anomaly("duplicate_ack", (fwd.dupacks, fwd.lastnondupack))
    if not dup:
        fwd.lastnondupack = pkt.frame
        fwd.dupacks = 0

    # ACKed a segment we never saw
    if flags & ACK and rev.maxseqtobeacked is not None and seq_gt(ack, rev.maxseqtobeacked):
        pkt.add_anomaly("ack_lost_segment", (rev.maxseqtobeacked, ack))
        rev.maxseqtobeacked = rev.nextseq

    # retransmission family
    if (seglen > 0 or flags & (SYN | FIN)) and nextseq is not None and seq_gt(nextseq, seq):
        kind = None
        ooo = first_rtt if first_rtt else OOO_DEFAULT
        if (rev.dupacks >= 2 and rev.lastack == seq and ts - rev.lastack_ts < FAST_RETRANS_WINDOW):
            kind = "fast_retransmission"
        elif ts - fwd.nextseq_ts < ooo and nextseq != ((seq + seglen) & M):
            kind = "out_of_order"
        elif (seglen > 0 and rev.lastack is not None and seq_ge(rev.lastack, (seq + seglen) & M)):
            kind = "spurious_retransmission"
        else:
            kind = "retransmission"
        pkt.add_anomaly(kind, (fwd.nextseq_frame, ts - fwd.nextseq_ts))
        if kind != "out_of_order":
            fwd.retrans += 1
            fwd.retrans_bytes += seglen

    _update_ack(pkt, fwd, flags, ack, ts)
    _finish_fwd(pkt, fwd, rev, seq, seglen, flags, win, ts, found)


KA, ZWP = 1, 2


def _update_ack(pkt, fwd, flags, ack, ts):
    if flags & ACK and ack != fwd.lastack:
        fwd.lastack = ack
        fwd.lastack_ts = ts
        fwd.lastack_frame = pkt.frame


def _finish_fwd(pkt, fwd, rev, seq, seglen, flags, win, ts, found):
    nxt = (seq + seglen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)) & M
    if not found & ZWP:
        if fwd.nextseq is None or seq_gt(nxt, fwd.nextseq):
            fwd.nextseq = nxt
            fwd.nextseq_ts = ts
            fwd.nextseq_frame = pkt.frame
        if fwd.maxseqtobeacked is None or seq == fwd.maxseqtobeacked:
            fwd.maxseqtobeacked = fwd.nextseq
    fwd.window = win
    fwd.lastsegflags = found


# --- flow-level findings ------------------------------------------------------------

def finish_flow(flow) -> None:
    """Flow-level anomalies, once the connection is over (or the capture ended)."""
    o, r = flow.ends
    add = flow.anomalies.append
    if o.syn_frame is not None and r.syn_frame is None and r.rst_frame is None:
        add(Anomaly("syn_unanswered", o.syn_frame,
                    f"the client's SYN (frame {o.syn_frame}) got no SYN-ACK by the end of the capture"
                    + (f" ({o.pkts} SYNs sent)" if o.pkts > 1 else ""), 0, "error"))
    if (r.syn_frame is not None and o.syn_frame is not None and r.state == State.SYN_RECEIVED
            and flow.irtt is None and o.rst_frame is None):
        add(Anomaly("synack_unanswered", r.syn_frame,
                    f"the server's SYN-ACK (frame {r.syn_frame}) was never acknowledged: "
                    "the handshake's final ACK never came", 1, "error"))
    for d, (e, peer) in enumerate(((o, r), (r, o))):
        who = "client" if d == 0 else "server"
        if e.rst_frame is None and peer.rst_frame is None and peer.sent_any and e.nextseq is not None:
            hi = peer.lastack
            fin_pending = e.fin_seq is not None and (hi is None or not seq_gt(hi, e.fin_seq))
            data_end = e.fin_seq if e.fin_seq is not None else e.nextseq
            if hi is not None and seq_gt(data_end, hi) and peer.lastack_ts >= 0:
                n = (data_end - hi) & M
                if n and n < 0x80000000 and (peer.last_ts or 0) >= (e.last_ts or 0) - 1e-9:
                    add(Anomaly("data_unacked", e.nextseq_frame,
                                f"{n} bytes the {who} sent were never acknowledged, "
                                f"though the {'server' if d == 0 else 'client'} was seen after they were sent", d))
            if fin_pending and e.fin_frame is not None and (peer.last_ts or 0) >= (e.last_ts or 0):
                add(Anomaly("fin_unacked", e.fin_frame,
                            f"the {who}'s FIN (frame {e.fin_frame}) was never acknowledged", d))
    if flow.open_at_end():
        st = f"client {o.state.value}, server {r.state.value}"
        add(Anomaly("not_closed", flow.last_frame,
                    f"the capture ended with the connection still open ({st})", None))


# --- our own per-packet checks --------------------------------------------------------

URG_PSH_FIN = 0x29


def check_packet(flow, pkt: Packet, snd: Endpoint, rcv: Endpoint, before) -> None:
    """Per-packet analysis: tshark's checks, then ours. Called by tracker.track."""
    f = pkt.flags
    if f & (SYN | FIN) == (SYN | FIN) or f & (SYN | RST) == (SYN | RST) or f == 0 \
            or f & URG_PSH_FIN == URG_PSH_FIN:
        what = ("SYN and FIN" if f & (SYN | FIN) == (SYN | FIN) else
                "SYN and RST" if f & (SYN | RST) == (SYN | RST) else
                "no flags at all (null scan)" if f == 0 else "FIN, PSH and URG (Xmas scan)")
        pkt.add_anomaly("invalid_flags", what)
    analyze_segment(pkt, snd, rcv, flow.irtt)
    if f & SYN and pkt.len and not _has_tfo(pkt):
        pkt.add_anomaly("syn_with_data", pkt.len)
    if f & RST:
        d = pkt.dir
        sender_before = before[d]
        peer_before = before[1 - d]
        pkt.add_anomaly("rst", sender_before.value)
        if peer_before is State.SYN_SENT and snd.isn is None:
            pkt.add_anomaly("connection_refused")
    elif pkt.len:
        rst = snd.rst_frame if snd.rst_frame is not None else rcv.rst_frame
        if rst is not None and rst < pkt.frame:
            pkt.add_anomaly("data_after_rst", rst)
        if snd.fin_seq is not None and seq_gt((pkt.seq + pkt.len) & M, snd.fin_seq):
            pkt.add_anomaly("data_after_fin", snd.fin_frame)


def _has_tfo(pkt: Packet) -> bool:
    from .decode import option_value
    return option_value(pkt.options, "tfo") is not None

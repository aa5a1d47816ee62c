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
    """tshark 4.0's per-segment analysis (docs/reference/tshark-tcp-analysis.md, section 3).

    Sets pkt.anomalies and updates fwd/rev exactly as Wireshark's
    tcp_analyze_sequence_number does, check by check and in the same order.
    """
    flags = pkt.flags
    seq = pkt.seq
    ack = pkt.ack_raw
    seglen = pkt.len
    win = pkt.win_raw
    ts = pkt.ts
    sfr = flags & (SYN | FIN | RST)
    found = 0
    nextseq = fwd.nextseq          # None: unknown (Wireshark's 0)

    # A. zero window probe: excludes B..I
    if seglen == 1 and seq == nextseq and rev.window == 0:
        pkt.add_anomaly("zero_window_probe")
        found |= ZWP
    else:
        # B. zero window
        if win == 0 and not sfr:
            pkt.add_anomaly("zero_window")
            fwd.zero_windows += 1
        # C. lost segment
        if nextseq is not None and seq_gt(seq, nextseq) and not flags & RST:
            pkt.add_anomaly("lost_segment", (nextseq, seq))
        # D. keep-alive
        if seglen <= 1 and nextseq is not None and seq == ((nextseq - 1) & M) and not sfr:
            pkt.add_anomaly("keep_alive")
            found |= KA
        same = seglen == 0 and nextseq is not None and seq == nextseq and ack == fwd.lastack and not sfr
        # E. window update
        if same and win and win != fwd.window:
            pkt.add_anomaly("window_update")
        # F. window full
        if seglen > 0 and rev.win_scale != -1 and not sfr and rev.window is not None:
            shift = 0 if rev.is_first_ack or rev.win_scale == -2 else rev.win_scale
            if ((seq + seglen) & M) == ((rev.lastack + (rev.window << shift)) & M):
                pkt.add_anomaly("window_full")
        if same and win == fwd.window:
            if win and rev.lastsegflags & KA:                        # G
                pkt.add_anomaly("keep_alive_ack")
            elif win == 0 and rev.lastsegflags & ZWP:                # H
                pkt.add_anomaly("zero_window_probe_ack")
            elif win:                                                # I
                fwd.dupacks = 1 if fwd.dupacks == -1 else fwd.dupacks + 1
                pkt.add_anomaly("duplicate_ack", (fwd.dupacks, fwd.lastnondupack))
    # J. the ACK moved: restart dup-ACK counting
    if ack != fwd.lastack:
        fwd.lastnondupack = pkt.frame
        fwd.dupacks = 0
    # K. ACKed a segment the capture never saw
    if flags & ACK and rev.maxseqtobeacked is not None and seq_gt(ack, rev.maxseqtobeacked):
        if rev.nextseq is not None and rev.maxseqtobeacked > rev.nextseq:
            rev.maxseqtobeacked = rev.nextseq
            pkt.add_anomaly("ack_lost_segment", (rev.maxseqtobeacked, ack))
        else:
            if rev.dupacks == 0:
                pkt.add_anomaly("ack_lost_segment", (rev.maxseqtobeacked, ack))
            rev.dupacks = -1
    # L. retransmission family
    ctl = 1 if flags & (SYN | FIN) else 0
    if (seglen > 0 or ctl) and not found & KA:
        advanced = not (nextseq is not None and seq_gt(nextseq, seq))
        if seglen > 1 and nextseq is not None and ((nextseq - 1) & M) == seq:
            advanced = True
        kind = None
        if seglen > 0 and rev.lastack is not None and rev.lastack != 0 and seq_ge(rev.lastack, (seq + seglen) & M):
            kind = "spurious_retransmission"
        elif not advanced:
            if (rev.dupacks >= 2 or rev.dupacks < 0) and rev.lastack == seq and 0 <= ts - rev.lastack_ts < FAST_RETRANS_WINDOW:
                kind = "fast_retransmission"
            elif (0 <= ts - fwd.nextseq_ts < (first_rtt or OOO_DEFAULT)
                  and nextseq != ((seq + seglen + ctl) & M)):
                kind = "out_of_order"
            else:
                kind = "retransmission"
        if kind is not None:
            pkt.add_anomaly(kind, (fwd.nextseq_frame, ts - fwd.nextseq_ts))
            if kind != "out_of_order":
                fwd.retrans += 1
                fwd.retrans_bytes += seglen
    # M. state update
    nxt = (seq + seglen + ctl) & M
    if not found & ZWP:
        if nextseq is None or seq_gt(nxt, nextseq):
            fwd.nextseq = nxt or None      # Wireshark reads 0 as "not known yet"; so do we
            fwd.nextseq_ts = ts
            fwd.nextseq_frame = pkt.frame
        if fwd.maxseqtobeacked is None or seq == fwd.maxseqtobeacked:
            fwd.maxseqtobeacked = fwd.nextseq
    fwd.window = win
    fwd.lastack = ack
    fwd.lastack_ts = ts
    fwd.lastsegflags = found


KA, ZWP = 1, 2


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
    analyze_segment(pkt, snd, rcv, flow.first_rtt)
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

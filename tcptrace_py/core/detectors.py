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

from .records import ACK, FIN, RST, SYN, M, Anomaly, Endpoint, Packet, seq_ge, seq_gt
from .records import States as S
from .anomaly_kinds import RETRANSMISSION_CHECK, SEVERITY, text

FAST_RETRANS_WINDOW = 0.020   # tshark: a retransmission within 20 ms of the dup ACKs
OOO_DEFAULT = 0.003           # tshark: 3 ms when no handshake RTT is known



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
    nextseq = fwd.nextseq          # -1: unknown (Wireshark's 0)

    # A. zero window probe: excludes B..I
    if seglen == 1 and seq == nextseq and rev.window == 0:
        pkt.add_anomaly("zero_window_probe")
        found |= ZWP
    else:
        # B. zero window
        if win == 0 and not sfr:
            pkt.add_anomaly("zero_window")
        # C. lost segment
        if nextseq >= 0 and 0 < ((seq - nextseq) & M) < 0x80000000 and not flags & RST:
            pkt.add_anomaly("lost_segment", (nextseq, seq))
        # D. keep-alive
        if seglen <= 1 and nextseq >= 0 and seq == ((nextseq - 1) & M) and not sfr:
            pkt.add_anomaly("keep_alive")
            found |= KA
        same = seglen == 0 and nextseq >= 0 and seq == nextseq and ack == fwd.lastack and not sfr
        # E. window update
        if same and win and win != fwd.window:
            pkt.add_anomaly("window_update")
        # F. window full
        if seglen > 0 and rev.win_scale != -1 and not sfr and rev.window >= 0:
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
    # K. ACKed a segment the capture never saw. As tshark 4.0.17 behaves on the corpus: flag it
    # unless the sender repeats the ACK it sent last, then move the peer's "max seq to be ACKed"
    # to its next sequence number (so one hole is reported once) and park the peer's dup-ACK
    # count at -1 (read unsigned by the fast-retransmission check below).
    if flags & ACK and rev.maxseqtobeacked >= 0 and 0 < ((ack - rev.maxseqtobeacked) & M) < 0x80000000:
        if ack != fwd.lastack:
            pkt.add_anomaly("ack_lost_segment", (rev.maxseqtobeacked, ack))
        rev.maxseqtobeacked = rev.nextseq
        rev.dupacks = -1
    # L. retransmission family
    ctl = 1 if flags & (SYN | FIN) else 0
    if (seglen > 0 or ctl) and not found & KA:
        advanced = not (nextseq >= 0 and 0 < ((nextseq - seq) & M) < 0x80000000)
        if seglen > 1 and nextseq >= 0 and ((nextseq - 1) & M) == seq:
            advanced = True
        kind = None
        if seglen > 0 and rev.lastack > 0 and seq_ge(rev.lastack, (seq + seglen) & M):
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
    # M. state update
    nxt = (seq + seglen + ctl) & M
    if not found & ZWP:
        if nextseq < 0 or 0 < ((nxt - nextseq) & M) < 0x80000000:
            fwd.nextseq = nxt if nxt else -1     # Wireshark reads 0 as "not known yet"; so do we
            fwd.nextseq_ts = ts
            fwd.nextseq_frame = pkt.frame
        if fwd.maxseqtobeacked < 0 or seq == fwd.maxseqtobeacked:
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
    ev = flow.evicted
    if ev is not None:
        add(_found("evicted", ev[0], None, frame=ev[0], open=ev[1]))
    by = "by the end of the capture" if ev is None else f"by frame {ev[0]}, when it was reported early"
    unanswered = o.syn_frame is not None and r.syn_frame is None and r.rst_frame is None and not r.sent_any
    if unanswered:
        add(_found("syn_unanswered", o.syn_frame, 0, frame=o.syn_frame, by=by,
                   count=f" ({o.pkts} SYNs sent)" if o.pkts > 1 else ""))
    if (r.synack_frame is not None and not r.syn_acked and o.rst_frame is None and r.rst_frame is None):
        add(_found("synack_unanswered", r.synack_frame, 1, frame=r.synack_frame))
    for d, (e, peer) in enumerate(((o, r), (r, o))):
        who, other = ("client", "server") if d == 0 else ("server", "client")
        if e.nextseq < 0 or peer.max_ack < 0 or e.rst_frame is not None:
            continue
        hi = peer.max_ack
        data_end = e.fin_seq if e.fin_seq is not None else e.nextseq
        if seq_gt(data_end, hi) and (peer.last_ts or 0) > e.nextseq_ts:
            n = (data_end - hi) & M
            if n < 0x80000000:
                add(_found("data_unacked", e.nextseq_frame, d, n=n, who=who, other=other))
        if (e.fin_seq is not None and peer.rst_frame is None and not seq_gt(hi, e.fin_seq) and e.fin_ts is not None
                and (peer.last_ts or 0) > e.fin_ts):
            add(_found("fin_unacked", e.fin_frame, d, frame=e.fin_frame, who=who, other=other))
    for frame, d, ack in flow.unsent_acks or ():
        peer = flow.ends[1 - d]
        if peer.nextseq < 0 or seq_gt(ack, peer.nextseq):
            who, other = ("client", "server") if d == 0 else ("server", "client")
            add(_found("ack_of_unsent", frame, d, who=who, other=other, byte=(ack - 1 - max(peer.base, 0)) & M))
    if flow.open_at_end() and not unanswered:
        st = f"client {o.state.value}, server {r.state.value}"
        add(_found("not_closed", flow.last_frame, None, alt=ev is not None, states=st))


def _found(kind: str, at, d, alt: bool = False, **fields) -> Anomaly:
    """A flow-level finding at frame `at`, its English message from the registry (anomaly_kinds)."""
    return Anomaly(kind, at, text(kind, "en", alt, **fields), d, SEVERITY[kind])


# --- our own per-packet checks --------------------------------------------------------

URG_PSH_FIN = 0x29


def check_packet(flow, pkt: Packet, snd: Endpoint, rcv: Endpoint, before) -> None:
    """Per-packet analysis: tshark's checks, then ours. Called by tracker.track."""
    f = pkt.flags
    if (f & 0x07 and (f & (SYN | FIN) == (SYN | FIN) or f & (SYN | RST) == (SYN | RST))) or f == 0 \
            or f & URG_PSH_FIN == URG_PSH_FIN:
        what = ("SYN and FIN" if f & (SYN | FIN) == (SYN | FIN) else
                "SYN and RST" if f & (SYN | RST) == (SYN | RST) else
                "no flags at all (null scan)" if f == 0 else "FIN, PSH and URG (Xmas scan)")
        pkt.add_anomaly("invalid_flags", what)
    prev_ack = snd.lastack
    analyze_segment(pkt, snd, rcv, flow.first_rtt)
    refine(flow, pkt, snd, rcv)
    if (f & ACK and not f & RST and prev_ack >= 0 and pkt.ack_raw != rcv.nextseq and rcv.sigs
            and seq_gt(pkt.ack_raw, prev_ack)):
        partial_ack(pkt, rcv)
    if f & SYN and pkt.len and not _has_tfo(pkt):
        pkt.add_anomaly("syn_with_data", pkt.len)
    if (f & ACK and rcv.sent_any and rcv.nextseq >= 0 and seq_gt(pkt.ack_raw, rcv.nextseq)
            and not f & RST):
        cands = flow.unsent_acks
        if cands is None:
            cands = flow.unsent_acks = []
        if len(cands) < 8 and pkt.dir not in [c[1] for c in cands]:
            cands.append((pkt.frame, pkt.dir, pkt.ack_raw))   # decided at the end: a gap, or not
    if f & RST:
        d = pkt.dir
        sender_before = before[d]
        peer_before = before[1 - d]
        pkt.add_anomaly("rst", sender_before.value)
        if peer_before is S.SYN_SENT and snd.isn is None:
            pkt.add_anomaly("connection_refused")
    elif pkt.len:
        rst = snd.rst_frame if snd.rst_frame is not None else rcv.rst_frame
        if rst is not None and rst < pkt.frame:
            pkt.add_anomaly("data_after_rst", rst)
        if snd.fin_seq is not None and seq_gt((pkt.seq + pkt.len) & M, snd.fin_seq):
            pkt.add_anomaly("data_after_fin", snd.fin_frame)


RETRANS_KINDS = RETRANSMISSION_CHECK
MAX_SIGS = 64


def refine(flow, pkt: Packet, snd: Endpoint, rcv: Endpoint) -> None:
    """Where the capture holds the evidence, correct tshark's label (README, "Where we differ").

    * duplicate: the same segment twice — same seq, ack, length, flags, window, IP ID, TCP
      options (so the same timestamp value) and checksum (so the same bytes) — was copied by the
      network, not resent by the host
      (a host's retransmission gets a new IP ID on Linux, and a new TSval). tshark calls the copy a
      retransmission (or a duplicate ACK). With an IP ID of 0 and no timestamps the copy cannot be
      told from a retransmission: the label stays and the note says it is ambiguous.
    * zero_window_probe: Linux probes a zero window with a segment one byte below the next
      sequence number, which tshark takes for a keep-alive; when the peer's last advertised window
      was 0, it is a zero-window probe (and its answer a probe ACK).
    * a segment tshark calls out-of-order although the capture already saw it (same sequence
      range, from the same sender) was sent again, not reordered: seen at the sender, it is a
      (fast, when duplicate ACKs or SACK blocks asked for it) retransmission.
    """
    an = pkt.anomalies
    n = pkt.len
    if pkt.ip_id != snd.last_ipid:
        if snd.last_ipid is not None:
            snd.ipid_varies = True
        snd.last_ipid = pkt.ip_id
    if n or pkt.flags & (SYN | FIN):
        # A segment's signature, packed into two integers (the recent ones of every open
        # connection are kept, so their size is most of the live memory): the key is its
        # sequence range and control bits (payload length < 2**16: the IP length fields are
        # 16 bits), `body` its ACK, checksum and window, 64 bits.
        key = n << 35 | (pkt.flags & (SYN | FIN | RST)) << 32 | pkt.seq
        body = pkt.ack_raw     # (a 64-bit unsigned variable compiled: the shift must not overflow)
        body = body << 32 | pkt.csum << 16 | pkt.win_raw
        sigs = snd.sigs
        if sigs is None:
            sigs = snd.sigs = {}
        prev = sigs.get(key)      # (frame, ts, body, IP ID, options) of the last one like it
        if prev is not None and an:
            if not an.keys().isdisjoint(RETRANS_KINDS):
                same = prev[2] == body and prev[3] == pkt.ip_id and prev[4] == pkt.options
                if same and _relabel_duplicate(pkt, snd, an, prev[0], pkt.ts - prev[1]):
                    return
            for k in RETRANS_KINDS:
                if k in an:       # name the frame that first carried these bytes, and how long ago
                    an[k] = (prev[0], pkt.ts - prev[1], "first")
            if "out_of_order" in an:
                # we saw this very segment before: the sender sent it again, it is no late arrival
                an["fast_retransmission" if rcv.dupacks >= 2 or _sacked_above(pkt, rcv)
                   else "retransmission"] = an.pop("out_of_order")
                pkt.info = ("resent_not_reordered", prev[0])
        sigs[key] = (pkt.frame, pkt.ts, body, pkt.ip_id, pkt.options)
        if len(sigs) > MAX_SIGS:
            del sigs[next(iter(sigs))]
    elif pkt.flags & ACK and not pkt.flags & RST:
        sig = (pkt.seq, pkt.ack_raw, pkt.flags, pkt.win_raw, pkt.ip_id, pkt.options, pkt.csum)
        last = snd.last_ack_sig
        if last is not None and last[0] == sig and an and "duplicate_ack" in an:
            _relabel_duplicate(pkt, snd, an, last[1], pkt.ts - last[2])
        snd.last_ack_sig = (sig, pkt.frame, pkt.ts)
    if an:
        if "keep_alive" in an and rcv.window == 0:
            del an["keep_alive"]
            an["zero_window_probe"] = "linux"
            snd.lastsegflags = ZWP
        elif "keep_alive_ack" in an and rcv.lastsegflags & ZWP:
            del an["keep_alive_ack"]
            an["zero_window_probe_ack"] = None
    snd.last_opts = pkt.options


def partial_ack(pkt: Packet, rcv: Endpoint) -> None:
    """`partial_ack`: a new ACK that ends inside a segment the peer sent as one, and at the edge of
    none (the peer's recent segments are its signatures, see `refine`): the receiver took the
    segment in smaller pieces (TSO/GSO seen at the sender, or a middlebox that resegments)."""
    ack = pkt.ack_raw
    sigs = rcv.sigs
    n = next(reversed(sigs)) >> 35          # first, the common case: the edge of a segment as long
    if n and ((n << 35 | ((ack - n) & M)) in sigs or (n << 35 | ack) in sigs):    # as the last one
        return
    hit = None
    for key, v in sigs.items():
        n = key >> 35
        if not n:
            continue
        start = key & M
        into = (ack - start) & M
        if into == 0 or into == n:
            return                      # the edge of a segment: an ordinary ACK
        if into < n and hit is None:
            hit = (v[0], into, n)
    if hit is not None:
        pkt.add_anomaly("partial_ack", hit)


def _relabel_duplicate(pkt: Packet, snd: Endpoint, an: dict, first: int, dt: float) -> bool:
    """Relabel a copy as `duplicate` when the evidence decides it; True if relabelled.

    Decisive: the same non-zero IPv4 ID from a sender whose IDs change from packet to packet
    (so it gives every packet it sends a new one), or within 200 ms (sooner than any
    retransmission timer), or the same TCP timestamp value more than 2 ms
    later (the timestamp clock ticks at least every millisecond on the systems that send it) —
    and no more than an MSL (2 minutes) apart, since no copy outlives that in the network.
    Otherwise the copy could be a quick resend: the label stays, and the explanation says it
    cannot be told apart.
    """
    certain = dt <= 120.0 and ((bool(pkt.ip_id) and (snd.ipid_varies or dt < 0.2))
                               or (dt > 0.002 and bool(pkt.options) and b"\x08\x0a" in pkt.options))
    if not certain:
        pkt.info = ("maybe_duplicate", first)
        return False
    for k in RETRANS_KINDS + ("duplicate_ack",):
        an.pop(k, None)
    an["duplicate"] = first
    pkt.info = ("duplicate", first)
    return True


def _sacked_above(pkt: Packet, rcv: Endpoint) -> bool:
    """The receiver's last SACK blocks report data above this segment, and this segment is
    at or above its cumulative ACK: the segment fills a hole the receiver asked for."""
    if not rcv.last_opts or rcv.lastack < 0:
        return False
    from .decode import option_value
    blocks = option_value(rcv.last_opts, "sack")
    if not blocks or blocks is True:
        return False
    return seq_ge(pkt.seq, rcv.lastack) and any(seq_gt(left, pkt.seq) for left, _ in blocks)


def _has_tfo(pkt: Packet) -> bool:
    from .decode import option_value
    return option_value(pkt.options, "tfo") is not None

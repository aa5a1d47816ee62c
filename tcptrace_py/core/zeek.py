"""zeek: Zeek's view of a connection — ``conn_state``, ``history``, sizes — kept per packet.

Theory of operation
-------------------
This is a passive re-implementation of the part of Zeek's TCP analyzer that
feeds ``conn.log`` (see docs/reference/zeek-conn.md, which cites the Zeek
sources: TCPSessionAdapter.cc, TCP_Endpoint.cc, TCP_Reassembler.cc, Conn.cc and
base/protocols/conn/main.zeek). Zeek keeps, per connection, two endpoints with
its own seven states (INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED,
CLOSED, RESET), 32-bit sequence bookkeeping (``start``/``last``/``ack``), the
history letters and, per endpoint, a reassembler whose only job here is to find
content gaps (``G``/``g`` and ``missed_bytes``). Every packet runs through
``_process`` in Zeek's order: init endpoint -> history letters -> zero window ->
ack bookkeeping -> retransmission check -> state machine -> gap check (ACK) ->
data delivery -> close handling.

Zeek's originator is not always ours. Zeek takes the sender of the first packet,
flips at creation by port (``LIKELY_SERVER_PORTS``, §4.1), flips a connection
that began with a SYN-ACK once an ACK or data follows (§4.2, replayed here as if
flipped at creation, which is what Zeek's logs show) and flips on a SYN/SYN-ACK
reversal (§4.3). Each ``Conn`` therefore records which of *our* flow directions
is Zeek's originator (``orig_dir``); ``^`` in the history means exactly what it
means in Zeek: Zeek flipped its own roles.

Zeek also ends connections that our flow table keeps as one flow: the 5 s attempt
timer after an unanswered SYN, the inactivity timeout (1 min during the
handshake, then 5 min), removal 5 s after a complete close, and 4-tuple reuse by a
SYN (§4.4). Those are followed here too: ``flow.zeek`` is the first Zeek
connection of the flow, and ``flow.zeek.conns()`` lists it with the ones Zeek
would have logged after it on the same flow. Summary and JSON report the first.

Interface used by the pipeline:

* ``update(flow, pkt, d)`` is called by tracker.track once per packet (``d`` 0 =
  our orig->resp). State lives in ``flow.zeek`` (created on the first call).
* ``conn_state(z)``, ``z.history()``, ``z.orig_bytes``, ``z.resp_bytes``,
  ``z.missed_bytes`` give Zeek's values (orig/resp in Zeek's orientation).

Assumed configuration: ``zeek -C`` (checksums are not validated: the decoder
does not report them), default timers, ``LIKELY_SERVER_PORTS`` as a full (non
``-b``) Zeek installation fills it; set it to ``frozenset()`` to mimic a bare ``zeek -b``
(or to the ports of the protocol scripts it loads, ``SERVER_PORTS_BY_SERVICE``).

Nothing here prints, reads a clock or raises on odd packets; time comes from
packet timestamps. The per-packet path uses plain ints on slotted objects; the
history string is only joined when asked for.
"""
from __future__ import annotations

import re

from .records import ACK, FIN, RST, SYN, M


# Zeek's endpoint states, with Zeek's numeric values.
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
STATE_NAMES = ("INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED", "CLOSED", "RESET")

# Timers and limits (init-bare.zeek defaults).
ATTEMPT_DELAY = 5.0          # tcp_attempt_delay
CLOSE_DELAY = 5.0            # tcp_close_delay
HANDSHAKE_TIMEOUT = 60.0     # udp_inactivity_timeout, in force until the handshake is over
INACTIVITY_TIMEOUT = 300.0   # tcp_inactivity_timeout
TOO_LARGE_SEQ_DELTA = 1048576
MAX_INITIAL_WINDOW = 16384   # tcp_max_initial_window
MAX_ABOVE_HOLE = 16384       # tcp_max_above_hole_without_any_acks
MAX_HELD = 32                # packets kept while a SYN-ACK-first connection awaits its flip

# likely_server_ports, as each base protocol script adds its ports (`redef likely_server_ports
# += { ports }`); TCP ports only, UDP entries do not matter here.
SERVER_PORTS_BY_SERVICE = {
    "dce_rpc": {135}, "dnp3": {20000}, "dns": {53}, "ftp": {21, 2811},
    "http": {80, 81, 631, 1080, 3128, 8000, 8080, 8888}, "imap": {143}, "irc": {6666, 6667, 6668, 6669},
    "krb": {88}, "ldap": {389, 3268}, "modbus": {502}, "mqtt": {1883}, "mysql": {1434, 3306},
    "pop3": {110}, "postgresql": {5432}, "rdp": {3389}, "redis": {6379}, "smb": {139, 445},
    "smtp": {25, 587}, "socks": {1080}, "ssh": {22},
    "ssl": {443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223}, "xmpp": {5222, 5269},
}
# What a full `zeek` (base scripts loaded) uses to pick the originator of a connection seen
# without its SYN. `zeek -b` without protocol scripts: frozenset().
LIKELY_SERVER_PORTS = frozenset().union(*SERVER_PORTS_BY_SERVICE.values())

# History bits (Connection::CheckHistory); the responder's are shifted by 8.
_H_SYN, _H_FIN, _H_RST, _H_FINRST, _H_DATA, _H_ACK, _H_MULTI = 1, 2, 4, 8, 16, 32, 64
_ORIG_SEEN, _RESP_SEEN = 1, 2   # first_packet_seen bits

_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*", re.S)


class Endpoint:
    """One side of a Zeek connection (TCP_Endpoint + its reassembler's gap bookkeeping).

    Sequence values are kept both as Zeek's 32-bit numbers (`start`, `last`, `ack`)
    and unwrapped (`start64`, `last64`, `ack64`), so sizes survive wraparound.
    Reassembler positions (`r_*`) are relative sequence numbers (first data byte = 1).
    """

    __slots__ = (
        "dir", "is_orig", "state", "prev", "start", "start64", "last", "last64", "ack", "ack64",
        "fin_cnt", "fin_seq", "rst_cnt", "did_close", "did_eof", "h_syn", "h_fin", "h_rst",
        "rx_n", "rx_t", "w0_n", "w0_t", "gap_n", "gap_t",
        "r_lrs", "r_trim", "r_hi", "r_pend", "r_skip",
    )

    def __init__(self, d: int, is_orig: bool):
        self.dir = d
        self.is_orig = is_orig
        self.state = self.prev = INACTIVE
        self.start = self.start64 = self.last = self.last64 = self.ack = self.ack64 = 0
        self.fin_cnt = self.fin_seq = self.rst_cnt = 0
        self.did_close = self.did_eof = False
        self.h_syn = self.h_fin = self.h_rst = 0
        self.rx_n = self.w0_n = self.gap_n = 0
        self.rx_t = self.w0_t = self.gap_t = 1
        self.r_lrs = self.r_trim = self.r_hi = 1   # last_reassem_seq, trim_seq, highest block end
        self.r_pend = None                          # [start, end) blocks above a hole, sorted
        self.r_skip = False

    def init_seq(self, start: int, span: int) -> None:
        """InitStartSeq/InitAckSeq(start), InitLastSeq(start + span)."""
        self.start = self.ack = start & M
        self.start64 = self.ack64 = self.start
        self.last = (start + span) & M
        self.last64 = self.start64 + span

    def no_data_acked(self) -> bool:
        return self.ack64 - self.start64 in (0, 1)

    def size(self, peer: "Endpoint") -> int:
        """TCP_Endpoint::Size(): sequence space sent (or acked), without SYN and FIN."""
        if (self.prev == SYN_SENT and self.state == RESET and peer.state == INACTIVE
                and not self.no_data_acked()):
            return 0   # a half-open connection found and aborted
        size = max(self.last64, self.ack64) - self.start64
        if size > 0:
            size -= 1
            if self.fin_cnt and size:
                size -= 1
        return size if size > 0 else 0

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]


class Conn:
    """One Zeek connection (one conn.log line). `orig_dir` is the flow direction
    (0 = our orig->resp) in which Zeek's originator sends."""

    __slots__ = (
        "eps", "orig_dir", "hist", "seen", "start_time", "last_time", "timeout", "attempt_at",
        "delete_at", "is_partial", "fps", "close_deferred", "deferred_gen", "missed",
        "pending", "next", "tail", "npkts",
    )

    def __init__(self, pkt, d: int):
        self.hist: list[str] = []
        self.seen = 0
        self.start_time = self.last_time = pkt.ts
        self.timeout = HANDSHAKE_TIMEOUT
        self.attempt_at = None
        self.delete_at = None
        self.is_partial = False
        self.fps = 0
        self.close_deferred = False
        self.deferred_gen = False
        self.missed = 0
        self.pending = None
        self.next = None
        self.tail = self
        self.npkts = 0
        self.orig_dir = d
        self.eps = (Endpoint(0, d == 0), Endpoint(1, d == 1))
        f = pkt.flags
        if not f & SYN or f & ACK:
            # WantConnection(): a partial start may be flipped by its ports
            sp, dp = pkt.sport, pkt.dport
            lsp = LIKELY_SERVER_PORTS
            if sp in lsp and (dp not in lsp or (not f & SYN and sp < dp)):
                self.flip()
            elif f & SYN:
                self.pending = []   # SYN-ACK first: flipped later if an ACK or data follows

    # --- Zeek's outputs ---------------------------------------------------------------

    @property
    def orig(self) -> Endpoint:
        return self.eps[self.orig_dir]

    @property
    def resp(self) -> Endpoint:
        return self.eps[self.orig_dir ^ 1]

    def history(self) -> str:
        return "".join(self.hist)

    def conn_state(self) -> str:
        o, r = self.orig, self.resp
        os_, rs = o.state, r.state
        o_inactive = os_ in (INACTIVE, PARTIAL)
        r_inactive = rs in (INACTIVE, PARTIAL)
        if rs == RESET:
            if os_ in (SYN_SENT, SYN_ACK_SENT) or (
                    os_ == RESET and self._size(o) == 0 and self._size(r) == 0):
                return "REJ"
            return "RSTRH" if o_inactive else "RSTR"
        if os_ == RESET:
            if r_inactive:
                return "RSTOS0" if _RSTOS0.fullmatch(self.history()) else "OTH"
            return "RSTO"
        if os_ == CLOSED and rs == CLOSED:
            return "SF"
        if os_ == CLOSED:
            return "SH" if r_inactive else "S2"
        if rs == CLOSED:
            return "SHR" if o_inactive else "S3"
        if os_ == SYN_SENT and rs == INACTIVE:
            return "S0"
        if os_ == ESTABLISHED and rs == ESTABLISHED:
            return "S1"
        return "OTH"

    def _size(self, e: Endpoint) -> int:
        return e.size(self.eps[e.dir ^ 1])

    @property
    def duration(self) -> float:
        return self.last_time - self.start_time

    @property
    def orig_bytes(self):
        """Zeek's orig_bytes; None where conn.log shows '-' (duration 0)."""
        return self._size(self.orig) if self.duration > 0 else None

    @property
    def resp_bytes(self):
        return self._size(self.resp) if self.duration > 0 else None

    @property
    def missed_bytes(self) -> int:
        return self.missed

    @property
    def orig_state(self) -> str:
        return STATE_NAMES[self.orig.state]

    @property
    def resp_state(self) -> str:
        return STATE_NAMES[self.resp.state]

    def conns(self) -> list:
        """This Zeek connection and those Zeek started after it on the same flow."""
        out, c = [], self
        while c is not None:
            out.append(c)
            c = c.next
        return out

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<zeek.Conn {self.conn_state()} {self.history()!r} orig_dir={self.orig_dir}>"

    # --- Zeek's machinery -------------------------------------------------------------

    def flip(self) -> None:
        """Connection::FlipRoles + TCPSessionAdapter::FlipRoles."""
        self.orig_dir ^= 1
        a, b = self.eps
        a.is_orig = not a.is_orig
        b.is_orig = not b.is_orig
        fps = self.fps
        self.fps = (_RESP_SEEN if fps & _ORIG_SEEN else 0) | (_ORIG_SEEN if fps & _RESP_SEEN else 0)
        self.is_partial = False
        self.hist.append("^")

    def removed_before(self, ts: float) -> bool:
        """Would one of Zeek's timers have removed this connection before `ts`?"""
        if ts - self.last_time >= self.timeout:
            return True
        if self.delete_at is not None and ts >= self.delete_at:
            return True
        if self.attempt_at is not None and ts >= self.attempt_at:
            self.attempt_at = None
            o, r = self.orig, self.resp
            if o.state in (SYN_SENT, SYN_ACK_SENT) and r.state == INACTIVE:
                return True
        return False

    def is_reuse(self, pkt) -> bool:
        """TCPSessionAdapter::IsReuse: does this SYN start a new connection?"""
        f = pkt.flags
        if not f & SYN:
            return False
        o, r = self.orig, self.resp
        conn_orig = o
        if f & ACK:
            if o.state != INACTIVE:
                return False
            conn_orig = r
        if not (o.did_close or r.did_close):
            seq = pkt.seq
            if seq == conn_orig.start:
                return False
            if (not f & ACK and conn_orig.state == SYN_ACK_SENT and r.state == INACTIVE
                    and seq == r.start):
                return False
        return True


def _add(c: Conn, ep: Endpoint, code: str) -> None:
    c.hist.append(code if ep.is_orig else code.lower())


def _check(c: Conn, ep: Endpoint, bit: int, code: str) -> bool:
    """Connection::CheckHistory: add the letter the first time; True if seen before."""
    if not ep.is_orig:
        bit <<= 8
    if c.seen & bit:
        return True
    c.seen |= bit
    c.hist.append(code if ep.is_orig else code.lower())
    return False


def _set_state(c: Conn, ep: Endpoint, peer: Endpoint, new: int) -> None:
    """TCP_Endpoint::SetState."""
    st = ep.state
    if new != st:
        if new > SYN_ACK_SENT and st <= SYN_ACK_SENT and peer.state <= SYN_ACK_SENT:
            c.timeout = INACTIVITY_TIMEOUT   # the handshake is over
        if st == INACTIVE and not ep.is_orig:
            c.attempt_at = None   # the attempt timer needs an INACTIVE responder: it cannot fire
        ep.prev = st
        ep.state = new


# --- reassembler (gap finding only) --------------------------------------------------------

def _gap(c: Conn, ep: Endpoint, n: int) -> None:
    """TCP_Reassembler::Gap: a content gap of `n` bytes in `ep`'s data, reported (letter
    and missed_bytes) only while both ends are ESTABLISHED or cleanly CLOSED."""
    peer = c.eps[ep.dir ^ 1]
    if ((ep.state == ESTABLISHED or (ep.state == CLOSED and ep.prev == ESTABLISHED))
            and (peer.state == ESTABLISHED or (peer.state == CLOSED and peer.prev == ESTABLISHED))):
        ep.gap_n += 1
        if ep.gap_n == ep.gap_t:
            _add(c, ep, "G")
            ep.gap_t *= 10
        c.missed += n


def _absorb(ep: Endpoint) -> None:
    """Deliver pending blocks that now touch last_reassem_seq."""
    pend = ep.r_pend
    lrs = ep.r_lrs
    while pend and pend[0][0] <= lrs:
        s, u = pend.pop(0)
        if u > lrs:
            lrs = u
    ep.r_lrs = lrs
    if not pend:
        ep.r_pend = None


def _undelivered(c: Conn, ep: Endpoint, up_to: int) -> None:
    """TCP_Reassembler::Undelivered: the peer acked up to `up_to`, beyond what was delivered."""
    if up_to <= 2 and c.is_partial:
        return   # Zeek: the faked SYN octet of a partial connection (last_reassem_seq kept)
    if not ep.r_skip:
        pend = ep.r_pend
        while pend and pend[0][0] < up_to:
            s = pend[0][0]
            if s > ep.r_lrs:
                _gap(c, ep, s - ep.r_lrs)
                ep.r_lrs = s
            _absorb(ep)   # delivers this block and whatever now follows it
            pend = ep.r_pend
        if up_to > ep.r_lrs:
            _gap(c, ep, up_to - ep.r_lrs)
    if up_to > ep.r_lrs:
        ep.r_lrs = up_to


def _trim(c: Conn, ep: Endpoint, seq: int) -> None:
    """Reassembler::TrimToSeq: forget data up to `seq`, reporting what was never seen."""
    if seq > ep.r_lrs:
        _undelivered(c, ep, seq)
    pend = ep.r_pend
    if pend:
        while pend and pend[0][1] <= seq:
            pend.pop(0)
        if pend:
            _absorb(ep)
        else:
            ep.r_pend = None
    ep.r_trim = seq


def _data_sent(c: Conn, ep: Endpoint, seq: int, n: int) -> None:
    """TCP_Reassembler::DataSent + NewBlock + BlockInserted."""
    if ep.r_skip:
        return
    upper = seq + n
    acked = ep.ack64 - ep.start64
    if seq < acked:
        if upper <= acked:
            return
        seq = acked
    trim = ep.r_trim
    if upper <= trim:
        return
    if seq < trim:
        seq = trim
    lrs = ep.r_lrs
    if upper > ep.r_hi:
        ep.r_hi = upper
    if seq <= lrs:
        if upper > lrs:
            ep.r_lrs = upper
            if ep.r_pend:
                _absorb(ep)
            if ep.no_data_acked() and c._size(ep) > MAX_INITIAL_WINDOW:
                ep.r_trim = ep.r_lrs if ep.r_lrs > trim else trim
        return
    # above a hole: keep the block
    pend = ep.r_pend
    if pend is None:
        ep.r_pend = pend = []
    i = 0
    while i < len(pend) and pend[i][0] < seq:
        i += 1
    pend.insert(i, [seq, upper])
    # merge overlapping/adjacent blocks
    merged = [pend[0]]
    for b in pend[1:]:
        last = merged[-1]
        if b[0] <= last[1]:
            if b[1] > last[1]:
                last[1] = b[1]
        else:
            merged.append(b)
    ep.r_pend = merged
    if ep.no_data_acked() and merged[-1][1] - ep.r_lrs > MAX_ABOVE_HOLE:
        ep.r_pend = None
        ep.r_skip = True


def _data_pending(c: Conn, ep: Endpoint) -> bool:
    """TCP_Reassembler::DataPending."""
    if ep.r_skip:
        return False
    delivered = ep.start64 + ep.r_lrs
    last = ep.last64
    if last < delivered:
        return False
    if delivered != last - 1 and delivered != last:
        return True
    if ep.state != RESET:
        peer = c.eps[ep.dir ^ 1]
        if not peer.r_skip and (peer.r_pend or peer.r_hi > peer.r_trim):
            return True
    return False


def _check_eof(c: Conn, ep: Endpoint) -> None:
    """TCP_Reassembler::CheckEOF: all of a closing endpoint's data delivered -> a deferred
    close can complete."""
    if (not ep.did_eof and (ep.fin_cnt or ep.state == CLOSED or ep.state == RESET)
            and not _data_pending(c, ep)):
        ep.did_eof = True
        if c.close_deferred:
            c.close_deferred = False
            _connection_closed(c, ep, c.eps[ep.dir ^ 1], c.deferred_gen)


def _connection_closed(c: Conn, ep: Endpoint, peer: Endpoint, gen_event: bool) -> None:
    """TCPSessionAdapter::ConnectionClosed: `did_close` (which makes any later SYN a new
    connection) and, once the close is complete, removal CLOSE_DELAY after the last packet."""
    if _data_pending(c, ep):
        c.close_deferred = True
        c.deferred_gen = c.deferred_gen or gen_event
        return
    c.close_deferred = False
    if ep.did_close:
        return
    ep.did_close = True
    if ep.state == RESET or peer.did_close or peer.state == INACTIVE:
        # close complete: timers cancelled, the connection goes 5 s after its last packet
        c.attempt_at = None
        due = c.last_time + CLOSE_DELAY
        if c.delete_at is None or due < c.delete_at:
            c.delete_at = due


# --- the state machine (UpdateStateMachine and its Update*State) ------------------------------

def _state_machine(c: Conn, ep: Endpoint, peer: Endpoint, pkt, f: int, is_orig: bool):
    """UpdateStateMachine: the sender's state (and, on a few paths, the peer's); returns
    (do_close, gen_event). Keyed on the sender's current state, as in Zeek."""
    do_close = gen = False
    st = ep.state
    if st == INACTIVE:
        if f & SYN:
            if is_orig:
                _set_state(c, ep, peer, SYN_ACK_SENT if f & ACK else SYN_SENT)
                c.attempt_at = pkt.ts + ATTEMPT_DELAY
            else:
                if not f & ACK and peer.state == SYN_ACK_SENT and pkt.seq == ep.start:
                    # SYN/SYN-ACK reversal: flip and establish
                    c.is_partial = False
                    c.flip()
                    _set_state(c, peer, ep, ESTABLISHED)
                    c.fps |= _ORIG_SEEN
                if peer.state == SYN_SENT:
                    _set_state(c, peer, ep, ESTABLISHED)
                _set_state(c, ep, peer, ESTABLISHED)
        if f & FIN:
            _set_state(c, ep, peer, CLOSED)
            do_close = gen = True
        if f & RST:
            _set_state(c, ep, peer, RESET)
            do_close = True
        if ep.state == INACTIVE:
            if not is_orig and not pkt.len and c.orig.state == SYN_SENT:
                pass   # an ACK of the SYN before any SYN-ACK
            elif f & ACK and peer.state == ESTABLISHED:
                _set_state(c, ep, peer, ESTABLISHED)   # SYN missed, SYN-ACK seen
                c.is_partial = False
                c.fps |= _ORIG_SEEN if is_orig else _RESP_SEEN
            else:
                _set_state(c, ep, peer, PARTIAL)
    elif st == SYN_SENT or st == SYN_ACK_SENT:
        if f & FIN:
            _set_state(c, ep, peer, CLOSED)
            do_close = gen = True
        if f & RST:
            _set_state(c, ep, peer, RESET)
            do_close = True
    elif st == ESTABLISHED or st == PARTIAL:
        if f & SYN and st == PARTIAL and peer.state == INACTIVE and not f & ACK:
            _set_state(c, ep, peer, SYN_SENT)
        if f & FIN and not f & RST:
            _set_state(c, ep, peer, CLOSED)
            if peer.state == RESET and peer.prev == CLOSED:
                _set_state(c, peer, ep, CLOSED)   # FIN then RST: a normal close
            do_close = gen = True
        if f & RST:
            _set_state(c, ep, peer, RESET)
            do_close = True
    elif st == CLOSED:
        if f & RST and peer.state != CLOSED:
            _set_state(c, ep, peer, RESET)
            if not ep.did_close:
                do_close = True
    return do_close, gen


def _process(c: Conn, pkt, d: int) -> None:
    """TCPSessionAdapter::Process for one packet of this connection.

    The hot path (an in-order segment of an established connection) is written out
    inline; anything rarer goes through the helpers above.
    """
    c.npkts += 1
    f = pkt.flags
    eps = c.eps
    ep = eps[d]
    peer = eps[d ^ 1]
    is_orig = ep.is_orig
    n = pkt.len
    syn = f & SYN
    fin = f & FIN
    rst = f & RST
    ackf = f & ACK
    seq = pkt.seq

    # SetPartialStatus (only until both sides were seen)
    fps = c.fps
    if fps != 3:
        if is_orig:
            if not fps & _ORIG_SEEN:
                c.is_partial = not syn or bool(ackf)
        elif not fps & _RESP_SEEN and not c.is_partial:
            c.is_partial = not syn

    seg_len = n
    if f & 7:   # SYN, FIN or RST
        if syn:
            seg_len += 1
        if fin:
            seg_len += 1
        if rst:
            seg_len -= n
        # init_endpoint for an endpoint already active
        st = ep.state
        if syn and st != INACTIVE:
            if st == SYN_SENT or st == SYN_ACK_SENT:
                if seq != ep.start:
                    ep.init_seq(seq, seg_len)
            elif st == ESTABLISHED or st == PARTIAL:
                ep.init_seq(seq, seg_len)
            elif st == RESET and ep.prev == INACTIVE:
                ep.init_seq(seq, seg_len)
    if ep.state == INACTIVE:
        if syn:
            ep.init_seq(seq, seg_len)
        else:
            ep.init_seq(seq - 1, 1)   # as though a SYN was seen; first packet not a duplicate
    end = (seq + seg_len) & M

    last = ep.last
    dl = (end - last) & M            # seq_delta(end, last_seq), as a signed 32-bit value
    if dl & 0x80000000:
        dl -= 0x100000000
    rel = ep.last64 + dl - seg_len - ep.start64   # relative seq of this segment
    underflow = rel < 0

    # update_history
    if not f & 7:
        if n:
            bit = _H_DATA if is_orig else _H_DATA << 8
            if not c.seen & bit:
                c.seen |= bit
                c.hist.append("D" if is_orig else "d")
        elif ackf:
            bit = _H_ACK if is_orig else _H_ACK << 8
            if not c.seen & bit:
                c.seen |= bit
                c.hist.append("A" if is_orig else "a")
    else:
        _history_flags(c, ep, f, rel, n)

    # update_window: only the zero-window letter matters here (scaling never makes 0)
    if not pkt.win_raw and not rst and peer.state != CLOSED and ep.state != RESET:
        ep.w0_n += 1
        if ep.w0_n == ep.w0_t:
            _add(c, ep, "W")
            ep.w0_t *= 10

    if not (ep.did_close and peer.did_close):
        c.last_time = pkt.ts
    if fin:
        ep.fin_cnt += 1
        ep.fin_seq = rel + seg_len
    if rst:
        ep.rst_cnt += 1

    rel_ack = 0
    if ackf:
        a = pkt.ack_raw
        if peer.state == INACTIVE:
            rel_ack = 1
            peer.init_seq(a - 1, 0)   # init_peer
        else:
            da = (a - peer.ack) & M
            if da & 0x80000000:
                da -= 0x100000000
            rel_ack = peer.ack64 + da - peer.start64
            if rel_ack < 0:
                rel_ack = 0
            elif da > 0 and not rst and not (a == 0 and da > TOO_LARGE_SEQ_DELTA):
                peer.ack = a
                peer.ack64 += da

    # update_last_seq
    if (syn or rst) and (dl > TOO_LARGE_SEQ_DELTA or dl < -TOO_LARGE_SEQ_DELTA):
        pass
    elif fin and last == (ep.start + 1) & M:
        ep.last64 += (end - last) & M
        ep.last = end
    elif ep.state == RESET:
        pass
    elif dl > 0:
        ep.last = end
        ep.last64 += dl
    elif n > 0:
        ep.rx_n += 1
        if ep.rx_n == ep.rx_t:
            _add(c, ep, "T")
            ep.rx_t *= 10

    if f & 7 or ep.state != ESTABLISHED:
        do_close, gen = _state_machine(c, ep, peer, pkt, f, is_orig)
    else:
        do_close = False

    if ackf:
        # TCP_Reassembler::AckReceived on the peer's data
        if peer.fin_cnt and rel_ack >= peer.fin_seq:
            rel_ack = peer.fin_seq - 1
        if rel_ack > peer.r_trim:
            if rel_ack > peer.r_lrs or peer.r_pend:
                _trim(c, peer, rel_ack)
            else:
                peer.r_trim = rel_ack
            if not peer.did_eof and (peer.fin_cnt or peer.state >= CLOSED):
                _check_eof(c, peer)

    if fps != 3:
        c.fps |= _ORIG_SEEN if is_orig else _RESP_SEEN

    if n and not rst and not underflow and not pkt.cut:
        _data_sent(c, ep, rel + 1 if syn else rel, n)
    if not ep.did_eof and (ep.fin_cnt or ep.state >= CLOSED):
        _check_eof(c, ep)
    if do_close:
        _connection_closed(c, ep, peer, gen)


def _history_flags(c: Conn, ep: Endpoint, f: int, rel: int, n: int) -> None:
    """update_history for a segment with SYN, FIN or RST."""
    syn, fin, rst = f & SYN, f & FIN, f & RST
    nb = (1 if syn else 0) + (1 if fin else 0) + (1 if rst else 0)
    if nb == 1:
        if syn:
            code = "H" if f & ACK else "S"
            if _check(c, ep, _H_SYN, code) and rel != ep.h_syn:
                _add(c, ep, code)
            ep.h_syn = rel
        elif fin:
            if _check(c, ep, _H_FIN, "F") and rel + n != ep.h_fin:
                _add(c, ep, "F")
            ep.h_fin = rel + n
        else:
            if _check(c, ep, _H_RST, "R") and rel != ep.h_rst:
                _add(c, ep, "R")
            ep.h_rst = rel
    elif fin and rst:
        _check(c, ep, _H_FINRST, "I")
    else:
        _check(c, ep, _H_MULTI, "Q")


def update(flow, pkt, d) -> None:
    """Apply one packet of `flow`, sent in our direction `d`, to Zeek's view of it."""
    z = flow.zeek
    if z is None:
        flow.zeek = c = Conn(pkt, d)
    else:
        c = z.tail
        if (c.delete_at is not None or c.attempt_at is not None or pkt.flags & SYN
                or pkt.ts - c.last_time >= c.timeout):
            if c.removed_before(pkt.ts) or c.is_reuse(pkt):
                n = Conn(pkt, d)
                c.next = n
                z.tail = c = n
        if c.pending is not None and c.npkts:
            f = pkt.flags
            if f & SYN and f & ACK and c.eps[d].is_orig:
                pass   # the SYN-ACK again: still waiting
            elif not f & (SYN | RST) and (f & ACK or pkt.len):
                _flip_pending(c, pkt, d)
                return
            else:
                c.pending = None
    if c.pending is not None:
        if len(c.pending) < MAX_HELD:
            c.pending.append((pkt, d))
        else:
            c.pending = None   # a SYN-ACK storm: stop waiting (bounded memory)
    _process(c, pkt, d)


def _flip_pending(c: Conn, pkt, d: int) -> None:
    """A connection that began with a SYN-ACK gets an ACK or data: Zeek flips it (PR #2191),
    and its log reads as if the flip had happened at creation (``^h...``, packets counted
    to the final roles). Rebuild it that way: flipped fresh state, held packets replayed."""
    held = c.pending
    p0, d0 = held[0]
    fresh = Conn(p0, d0)
    fresh.pending = None
    if not fresh.hist:
        fresh.flip()
    for slot in ("eps", "orig_dir", "hist", "seen", "start_time", "last_time", "timeout",
                 "attempt_at", "delete_at", "is_partial", "fps", "close_deferred",
                 "deferred_gen", "missed", "pending", "npkts"):
        setattr(c, slot, getattr(fresh, slot))
    for p, pd in held:
        _process(c, p, pd)
    _process(c, pkt, d)


def conn_state(z) -> str:
    return z.conn_state()


def release(z) -> None:
    """Break the chain's self-reference (`tail`) once the flow is over: the pipeline runs
    without the cyclic garbage collector, so a finished flow must leave no cycle behind."""
    while z is not None:
        z.tail = None
        z = z.next

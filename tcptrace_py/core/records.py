"""Typed records that cross the pipeline's stage boundaries.

One lean slotted object per TCP packet (`Packet`) is filled by `decode` and then
annotated in place by `flows` and `tracker`: a million-packet capture makes a
million of these and nothing else per packet, so it carries plain attributes
only. Everything a renderer needs beyond them (explanations, option text) is
derived later, and only for what is printed.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Sequence numbers are modulo 2**32: this mask wraps them.
M = 0xFFFFFFFF

# TCP flag bits, as in the header.
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x100

# tcpdump's letters, in tcpdump's print order (F S R P . U E W e).
_FLAG_LETTERS = ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (ACK, "."),
                 (URG, "U"), (ECE, "E"), (CWR, "W"), (AE, "e"))


def _spell_flags(flags: int) -> str:
    return "".join(ch for bit, ch in _FLAG_LETTERS if flags & bit) or "none"


_FLAG_TEXT = [_spell_flags(f) for f in range(512)]      # every value of the 9 flag bits


def flag_letters(flags: int) -> str:
    """tcpdump's flag string without brackets: 0x12 -> 'S.'; no flags -> 'none'."""
    return _FLAG_TEXT[flags & 0x1FF]


class State(str, enum.Enum):
    """RFC 9293 endpoint states, plus UNKNOWN for an endpoint seen only mid-stream."""

    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"
    CLOSED = "CLOSED"
    UNKNOWN = "UNKNOWN"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


class States:
    """Every State member as a plain class attribute (the same objects). The per-packet code
    reads `S.ESTABLISHED` from here: on an enum class (Python 3.11) each such read goes through
    the enum type's __getattr__ hook, ten times slower."""


for _m in State:
    setattr(States, _m.name, _m)

# an endpoint in one of these has closed its side for good
CLOSED_STATES = (State.CLOSED, State.TIME_WAIT)


class Endpoint:
    """Per-direction bookkeeping for the endpoint that sends in this direction.

    Absolute 32-bit sequence values, like Wireshark: `nextseq` is the highest
    sequence number sent plus one; `lastack` the last acknowledgement this
    endpoint sent for the peer's data. The sequence-valued fields a segment reads
    (base, nextseq, maxseqtobeacked, lastack, window, max_ack) are -1 while not
    known yet (a real value is never negative), so compiled they are plain
    64-bit integers, not boxed ones.
    """

    __slots__ = (
        "state", "base", "isn", "syn_frame", "syn_ts", "fin_seq", "fin_frame", "rst_frame",
        "wscale", "mss", "sack_ok", "ts_ok", "win_scale",
        # Wireshark-style analysis state
        "nextseq", "nextseq_ts", "nextseq_frame", "maxseqtobeacked", "lastack", "lastack_ts",
        "window", "lastsegflags", "dupacks", "lastnondupack",
        # counts
        "pkts", "bytes", "data_pkts", "last_ts", "first_ts", "sent_any", "seg_times", "seg_head",
        "is_first_ack",
        "sigs", "last_ack_sig", "last_opts", "synack_frame", "max_ack", "syn_acked", "fin_ts", "last_ipid", "ipid_varies",
    )

    def __init__(self, state: State):
        self.state = state
        self.base = -1
        self.isn = None
        self.syn_frame = None
        self.syn_ts = None
        self.fin_seq = None
        self.fin_frame = None
        self.rst_frame = None
        self.wscale = None      # shift announced on our SYN (None: none announced)
        self.mss = None
        self.sack_ok = False
        self.ts_ok = False
        self.win_scale = -1     # in force: -1 unknown, -2 not negotiated (shift 0), else shift
        self.nextseq = -1
        self.nextseq_ts = 0.0
        self.nextseq_frame = 0
        self.maxseqtobeacked = -1
        self.lastack = -1
        self.lastack_ts = 0.0
        self.window = -1
        self.lastsegflags = 0
        self.dupacks = 0
        self.lastnondupack = 0
        self.pkts = 0
        self.bytes = 0
        self.data_pkts = 0
        self.first_ts = None
        self.last_ts = None
        self.sent_any = False
        self.seg_times = None   # (seq end, ts) of unacked data, for ACK RTT, from seg_head on
        self.seg_head = 0
        self.is_first_ack = False
        self.sigs = None          # recent data segments' signatures -> frame (network duplicates)
        self.last_ack_sig = None  # the last pure ACK's signature and frame
        self.last_opts = b""      # options of the last segment (SACK blocks for the peer's analysis)
        self.synack_frame = None  # this endpoint's first SYN-ACK
        self.max_ack = -1         # highest ACK it sent with the ACK flag on
        self.syn_acked = False    # the peer acknowledged this endpoint's SYN
        self.fin_ts = None
        self.last_ipid = None
        self.ipid_varies = False


def be16(raw: bytes, p: int) -> int:
    """The big-endian 16-bit integer at raw[p]."""
    return raw[p] << 8 | raw[p + 1]


def be32(raw: bytes, p: int) -> int:
    """The big-endian 32-bit integer at raw[p]."""
    v = raw[p]            # (compiled, a 64-bit unsigned variable: the shift must not overflow)
    return v << 24 | raw[p + 1] << 16 | raw[p + 2] << 8 | raw[p + 3]


def seq_gt(a: int, b: int) -> bool:
    """Serial-number a > b (RFC 1982, modulo 2**32)."""
    d = (a - b) & 0xFFFFFFFF     # (M, written out: compiled, a C constant)
    return 0 < d < 0x80000000


def seq_ge(a: int, b: int) -> bool:
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


class Packet:
    """One TCP segment as captured, plus what the analysis says about it.

    Filled by decode: frame, ts, src, dst, sport, dport, seq, ack_raw, flags,
    win_raw, len, hdr_len, options, ip_id, ttl, cut, ipv6, csum.
    Filled by flows/tracker: flow, dir, rseq, rack, win, states, ack_rtt,
    in_flight, anomalies, info (evidence the explanation mentions).
    """

    __slots__ = (
        "frame", "ts", "src", "dst", "sport", "dport", "seq", "ack_raw", "flags",
        "win_raw", "len", "hdr_len", "options", "ip_id", "ttl", "cut", "ipv6", "csum",
        # analysis
        "flow", "dir", "rseq", "rack", "win", "orig_state", "resp_state",
        "ack_rtt", "in_flight", "anomalies", "info",
    )

    def __init__(self, frame, ts, src, dst, sport, dport, seq, ack_raw, flags,
                 win_raw, length, hdr_len, options, ip_id, ttl, cut, ipv6, csum=0):
        _fill(self, frame, ts, src, dst, sport, dport, seq, ack_raw, flags, win_raw, length, hdr_len,
              options, ip_id, ttl, cut, ipv6, csum)

    @property
    def flag_str(self) -> str:
        return flag_letters(self.flags)

    @property
    def seg_len(self) -> int:
        """Sequence space the segment consumes: payload, +1 for SYN, +1 for FIN."""
        return self.len + (1 if self.flags & SYN else 0) + (1 if self.flags & FIN else 0)

    def add_anomaly(self, kind: str, detail=None) -> None:
        if self.anomalies is None:
            self.anomalies = {}
        self.anomalies[kind] = detail

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return (f"<Packet #{self.frame} {self.sport}>{self.dport} [{self.flag_str}] "
                f"seq={self.rseq} ack={self.rack} len={self.len}>")


def new_packet(frame, ts, src, dst, sport, dport, seq, ack_raw, flags, win_raw, length, hdr_len,
               options, ip_id, ttl, cut, ipv6, csum):
    """`Packet(...)`, made the fast way (the decoder's, once per segment: compiled, no argument
    parsing)."""
    p = Packet.__new__(Packet)
    _fill(p, frame, ts, src, dst, sport, dport, seq, ack_raw, flags, win_raw, length, hdr_len,
          options, ip_id, ttl, cut, ipv6, csum)
    return p


def _fill(p, frame, ts, src, dst, sport, dport, seq, ack_raw, flags, win_raw, length, hdr_len,
          options, ip_id, ttl, cut, ipv6, csum):
    p.frame = frame
    p.ts = ts
    p.src = src
    p.dst = dst
    p.sport = sport
    p.dport = dport
    p.seq = seq
    p.ack_raw = ack_raw
    p.flags = flags
    p.win_raw = win_raw
    p.len = length
    p.hdr_len = hdr_len
    p.options = options
    p.ip_id = ip_id
    p.ttl = ttl
    p.cut = cut
    p.ipv6 = ipv6
    p.csum = csum    # TCP checksum: tells copies of the same bytes from resends
    p.flow = None
    p.dir = 0
    p.rseq = 0
    p.rack = None
    p.win = win_raw
    p.orig_state = None
    p.resp_state = None
    p.ack_rtt = None     # this ACK acknowledges a segment timed `ack_rtt` seconds ago
    p.in_flight = None   # bytes sent and not yet acknowledged, after this data segment
    p.anomalies = None
    p.info = None


@dataclass(slots=True)
class Anomaly:
    """A flow-level finding: `kind` is a stable snake_case id (see README)."""

    kind: str
    frame: int | None
    message: str
    dir: int | None = None
    severity: str = "warning"


@dataclass(slots=True)
class SkipReport:
    """Frames that did not yield a TCP segment, counted by reason."""

    not_tcp: dict[str, int] = field(default_factory=dict)
    undecodable: dict[str, int] = field(default_factory=dict)
    examples: dict[str, int] = field(default_factory=dict)  # reason -> first frame

    def count(self, table: dict[str, int], reason: str, frame: int) -> None:
        table[reason] = table.get(reason, 0) + 1
        self.examples.setdefault(reason, frame)


class CaptureError(Exception):
    """The capture cannot be read at all (missing, not a capture, unsupported)."""

    def __init__(self, message: str, code: str = "unreadable"):
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class CaptureWarning:
    """Something about the capture file itself (cut short, absurd record, ...)."""

    kind: str
    message: str
    frame: int | None = None
    offset: int | None = None
    file: str | None = None        # in a capture set: the file it is about (frame and offset are in it)

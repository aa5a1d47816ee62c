"""Hostile captures, built deterministically (seeded) with struct: shapes that a mutation fuzzer
rarely reaches but that cost a reader or an analyser the most per input byte.

Each builder is ``build_X(path, <size>, seed=...) -> path`` and writes a valid capture (IPv4 and
TCP checksums right; payload bytes are zeros unless said otherwise, so a payload cut by the
snaplen still has a checksum that covers it):

small (about 1 MB at the default size; ``tests/test_cost.py``):

* ``build_one_connection_random_seq``: one connection, a handshake and then ``segments`` segments
  in either direction with random sequence and acknowledgement numbers and random lengths
  (headers only captured, raw IP records: the most segments a megabyte can hold);
* ``build_syn_same_tuple_new_isn``: ``syns`` SYNs on one 4-tuple, each with a new ISN (each a new
  connection that never gets an answer);
* ``build_pcapng_many_interfaces``: a pcapng with ``interfaces`` Interface Description Blocks
  (mixed link types, ``if_tsresol`` in decimal and binary units, some ``if_tsoffset``), then
  ``packets`` Enhanced Packet Blocks of short IPv4/IPv6 connections, each packet on a random
  interface that can carry it (and a few on any interface);
* ``build_huge_records``: pcap records of exactly ``MAX_RECORD`` (262,144) captured bytes, the
  largest record the reader accepts, each one TCP segment: an IPv6 jumbogram, an IPv4 TSO
  super-segment (total length 0), or a full 64 KiB IPv4 segment followed by a trailer;

large (the benchmark's hostile cases, ``benchmarks/bench.py --hostile``, ~70 MB at 1M packets,
written at about a million packets every few seconds from precomputed header templates):

* ``build_long_connection``: ``packets`` packets on one connection: handshake, bulk data one way
  (every other segment acknowledged), FIN both ways;
* ``build_syn_scan``: ``syns`` SYNs from one scanner to distinct (host, port) pairs; a small
  share answered by SYN-ACK (then the scanner's RST) or by RST;
* ``build_scan_mixed``: a ``ports``-port SYN scan interleaved with ``connections`` complete
  HTTP-like connections (handshake, request, response, FIN close), 64 at a time.

Only the standard library is used; ``python tests/fuzz/crafted.py DIR`` writes every small one.
"""
from __future__ import annotations

import random
import struct
import sys
from array import array
from pathlib import Path

MAX_RECORD = 256 * 1024        # tcptrace_py.core.capture.MAX_RECORD: a caplen above it is refused

_REC = struct.Struct("<IIII")                          # pcap record header: sec, usec, caplen, wire
_PCAP_HDR = struct.Struct("<IHHiIII")                  # magic, 2.4, zone, sigfigs, snaplen, linktype
_IP4TCP = struct.Struct(">BBHHHBBH4s4sHHIIBBHHH")      # IPv4 (20) + TCP (20) header
_TCP = struct.Struct(">HHIIBBHHH")
_IP6 = struct.Struct(">IHBB16s16s")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
SYN_OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"  # mss 1460,sackOK,TS,nop,wscale 7
MSS_OPT = b"\x02\x04\x05\xb4"
_ZEROS = bytes(70000)
MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def _words(b: bytes) -> int:
    """Sum of the big-endian 16-bit words of b (padded with a zero byte)."""
    if len(b) & 1:
        b += b"\0"
    a = array("H", b)
    if sys.byteorder == "little":
        a.byteswap()
    return sum(a)


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _ip4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def _pcap_header(snaplen: int = 65535, linktype: int = 1) -> bytes:
    return _PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


class Dir:
    """One direction of an IPv4 connection, with its checksum sums precomputed: `packet()` is an
    IPv4 + TCP header (+ options) with both checksums right for a zero payload of `plen` bytes."""

    __slots__ = ("src", "dst", "sport", "dport", "ip_c", "tcp_c", "ttl")

    def __init__(self, src: bytes, dst: bytes, sport: int, dport: int, ttl: int = 64):
        self.src, self.dst, self.sport, self.dport, self.ttl = src, dst, sport, dport, ttl
        self.ip_c = 0x4500 + 0x4000 + ((ttl << 8) | 6) + _words(src) + _words(dst)
        self.tcp_c = _words(src) + _words(dst) + 6 + sport + dport

    def reverse(self) -> "Dir":
        return Dir(self.dst, self.src, self.dport, self.sport, self.ttl)

    def ports(self, sport: int, dport: int) -> "Dir":
        """The same addresses with other ports, without summing the addresses again."""
        d = Dir.__new__(Dir)
        d.src, d.dst, d.sport, d.dport, d.ttl, d.ip_c = self.src, self.dst, sport, dport, self.ttl, self.ip_c
        d.tcp_c = self.tcp_c - self.sport - self.dport + sport + dport
        return d

    def packet(self, seq: int, ack: int, flags: int, win: int, plen: int, ipid: int = 0,
               opts: bytes = b"", tot: int | None = None) -> bytes:
        ol = len(opts)
        tcp_len = 20 + ol + plen
        if tot is None:
            tot = 20 + tcp_len
        s = self.ip_c + tot + ipid
        s = (s & 0xFFFF) + (s >> 16)
        ipc = ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF
        off = (5 + ol // 4) << 4
        s = (self.tcp_c + tcp_len + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)
             + (off << 8 | flags) + win + (_words(opts) if ol else 0))
        s = (s & 0xFFFF) + (s >> 16)
        tc = ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF
        h = _IP4TCP.pack(0x45, 0, tot, ipid, 0x4000, self.ttl, 6, ipc, self.src, self.dst,
                         self.sport, self.dport, seq, ack, off, flags, win, tc, 0)
        return h + opts if ol else h


def _tcp6(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, win: int,
          payload: bytes | int, opts: bytes = b"", jumbo: bool = False) -> bytes:
    """An IPv6 packet with one TCP segment (payload: bytes, or a length of zeros); with jumbo, a
    Hop-by-Hop jumbo payload option and a payload length of 0 (RFC 2675)."""
    if isinstance(payload, int):
        payload = bytes(payload)
    ol = len(opts)
    tcp_len = 20 + ol + len(payload)
    off = (5 + ol // 4) << 4
    pseudo = _words(src) + _words(dst) + (tcp_len >> 16) + (tcp_len & 0xFFFF) + 6
    hdr0 = _TCP.pack(sport, dport, seq, ack, off, flags, win, 0, 0) + opts
    csum = ~_fold(pseudo + _words(hdr0) + _words(payload)) & 0xFFFF
    tcp = _TCP.pack(sport, dport, seq, ack, off, flags, win, csum, 0) + opts + payload
    if jumbo:
        hbh = bytes([6, 0, 0xC2, 4]) + struct.pack(">I", 8 + tcp_len)
        return _IP6.pack(6 << 28, 0, 0, 64, src, dst) + hbh + tcp
    return _IP6.pack(6 << 28, tcp_len, 6, 64, src, dst) + tcp


class PcapWriter:
    """Records of one Ethernet pcap, buffered; `tcp()` writes one segment of a `Dir`, its payload
    captured up to the snaplen."""

    def __init__(self, path, snaplen: int = 65535, linktype: int = 1, eth: bytes | None = None,
                 payload_cap: int | None = None):
        self.f = open(path, "wb")
        self.f.write(_pcap_header(snaplen, linktype))
        self.snaplen = snaplen
        self.payload_cap = payload_cap      # payload bytes captured per segment (None: to the snaplen)
        self.parts: list[bytes] = []
        self.eth = (MAC_B + MAC_A + b"\x08\x00") if eth is None else eth
        self.count = 0

    def raw(self, ts: float, frame: bytes, wire: int | None = None) -> None:
        sec = int(ts)
        cap = frame[:self.snaplen]
        self.parts.append(_REC.pack(sec, int((ts - sec) * 1e6), len(cap),
                                    len(frame) if wire is None else wire))
        self.parts.append(cap)
        self.count += 1
        if len(self.parts) >= 65536:
            self.flush()

    def tcp(self, ts: float, d: Dir, seq: int, ack: int, flags: int, win: int = 65535, plen: int = 0,
            ipid: int = 0, opts: bytes = b"") -> None:
        hdr = self.eth + d.packet(seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, win, plen, ipid, opts)
        wire = len(hdr) + plen
        room = self.snaplen - len(hdr) if self.payload_cap is None else self.payload_cap
        take = plen if plen <= room else max(0, room)
        if len(hdr) > self.snaplen:
            hdr = hdr[:self.snaplen]
        sec = int(ts)
        parts = self.parts
        parts.append(_REC.pack(sec, int((ts - sec) * 1e6), len(hdr) + take, wire))
        parts.append(hdr)
        if take:
            parts.append(_ZEROS[:take])
        self.count += 1
        if len(parts) >= 65536:
            self.flush()

    def flush(self) -> None:
        self.f.write(b"".join(self.parts))
        self.parts.clear()

    def close(self) -> None:
        self.flush()
        self.f.close()


def _handshake(w: PcapWriter, ts: float, c: Dir, s: Dir, isn_c: int, isn_s: int, rtt: float = 0.0002):
    w.tcp(ts, c, isn_c, 0, SYN, 64240, opts=SYN_OPTS)
    w.tcp(ts + rtt / 2, s, isn_s, isn_c + 1, SYN | ACK, 65160, opts=SYN_OPTS)
    w.tcp(ts + rtt, c, isn_c + 1, isn_s + 1, ACK, 502)
    return ts + rtt


# --- small hostile captures (tests/test_cost.py) ------------------------------------------------

def build_one_connection_random_seq(path, segments: int = 17_500, seed: int = 1):
    """One connection: a handshake, then `segments` segments in random directions with random
    32-bit sequence and acknowledgement numbers, random flags among ACK/PSH-ACK (a few FIN or RST),
    random windows and random lengths up to 65,495. Raw IPv4 records (link type 101), headers only
    captured: 56 bytes a record, the least a TCP segment takes, so the default 17,500 segments
    make a ~1 MB file."""
    rnd = random.Random(seed)
    w = PcapWriter(path, linktype=101, eth=b"", payload_cap=0)
    c = Dir(_ip4("10.0.0.1"), _ip4("10.0.0.2"), 40000, 443)
    s = c.reverse()
    ts = _handshake(w, 1_700_000_000.0, c, s, rnd.getrandbits(32), rnd.getrandbits(32))
    lens = (0, 0, 1, 100, 536, 1448, 1460, 8948, 65495)
    flags = (ACK, ACK, ACK, PSH | ACK, PSH | ACK, ACK | FIN, ACK | RST)
    for i in range(segments):
        ts += rnd.random() * 0.001
        d = c if rnd.random() < 0.5 else s
        w.tcp(ts, d, rnd.getrandbits(32), rnd.getrandbits(32), rnd.choice(flags) if i % 50 else ACK,
              rnd.getrandbits(16), rnd.choice(lens) if rnd.random() < 0.7 else rnd.randrange(65496),
              ipid=i & 0xFFFF)
    w.close()
    return path


def build_syn_same_tuple_new_isn(path, syns: int = 16_500, seed: int = 2):
    """`syns` SYNs on one 4-tuple, each with a new random ISN (so each is a new connection, and
    none is answered), 1–20 ms apart; an MSS option each. Raw IPv4 records (link type 101): 60
    bytes a record, so the default 16,500 make a ~1 MB file."""
    rnd = random.Random(seed)
    w = PcapWriter(path, linktype=101, eth=b"")
    c = Dir(_ip4("10.0.0.1"), _ip4("10.0.0.2"), 51000, 80)
    ts = 1_700_000_000.0
    for i in range(syns):
        ts += 0.001 + rnd.random() * 0.019
        w.tcp(ts, c, rnd.getrandbits(32), 0, SYN, 64240, ipid=i & 0xFFFF, opts=MSS_OPT)
    w.close()
    return path


# link types for the pcapng builder: number -> (IPv4 link header, IPv6 link header); None: cannot carry it
def _link_headers():
    eth4 = MAC_B + MAC_A + b"\x08\x00"
    eth6 = MAC_B + MAC_A + b"\x86\xdd"
    sll = lambda et: struct.pack(">HHH8sH", 0, 1, 6, MAC_A + b"\0\0", et)          # noqa: E731
    sll2 = lambda et: struct.pack(">HHIHBB8s", et, 0, 1, 1, 0, 6, MAC_A + b"\0\0")  # noqa: E731
    return {
        1: (eth4, eth6),
        101: (b"", b""),
        12: (b"", b""),
        14: (b"", b""),
        228: (b"", None),
        229: (None, b""),
        113: (sll(0x0800), sll(0x86DD)),
        276: (sll2(0x0800), sll2(0x86DD)),
        0: (struct.pack("<I", 2), struct.pack("<I", 24)),
        108: (struct.pack(">I", 2), struct.pack(">I", 24)),
        9: (b"\xff\x03\x00\x21", b"\xff\x03\x00\x57"),
        50: (b"\xff\x03\x00\x21", b"\xff\x03\x00\x57"),
        105: (None, None),      # 802.11: not decoded
        127: (None, None),      # radiotap: not decoded
        147: (None, None),      # user 0
        239: (None, None),      # NFLOG (these frames are not NFLOG records)
    }


_TSRESOL = (None, 6, 9, 3, 0, 1, 12, 0x80 | 10, 0x80 | 20, 0x80 | 30, 0x80 | 0, 0x80 | 63, 127, 0x80 | 127, 255)


def _opt(code: int, val: bytes) -> bytes:
    return struct.pack("<HH", code, len(val)) + val + b"\0" * (-len(val) % 4)


def _block(btype: int, body: bytes) -> bytes:
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def build_pcapng_many_interfaces(path, interfaces: int = 10_000, packets: int = 4_000, seed: int = 3):
    """A pcapng: one section with `interfaces` Interface Description Blocks (link types cycled
    through Ethernet, raw IP, raw IPv4/IPv6, Linux cooked v1/v2, BSD/OpenBSD loopback, PPP and four
    that are not decoded; ``if_tsresol`` from none to 10^-127 and 2^-127 (timestamps then wrap at
    64 bits); every 7th with an ``if_tsoffset``, every 3rd with an ``if_name``), then `packets`
    Enhanced Packet Blocks: connections of 10 packets (handshake, 2 exchanges, FIN close), IPv4 or
    (a fifth) IPv6, each packet on a random interface that can carry it, 3 % on any interface.
    The defaults make a ~1 MB file."""
    rnd = random.Random(seed)
    heads = _link_headers()
    kinds = list(heads)
    ifaces = []     # (linktype, unit, tsoffset)
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for i in range(interfaces):
        lt = kinds[i % len(kinds)]
        res = _TSRESOL[(i // len(kinds)) % len(_TSRESOL)]
        opts = b""
        if i % 3 == 0:
            opts += _opt(2, b"if%d" % i)
        if res is not None:
            opts += _opt(9, bytes([res]))
        tsoff = 0
        if i % 7 == 0:
            tsoff = rnd.choice((1, -1_700_000_000, 1 << 40, -(1 << 62)))
            opts += _opt(14, struct.pack("<q", tsoff))
        if opts:
            opts += b"\0\0\0\0"
        unit = 1e-6 if res is None else (2.0 ** -(res & 0x7F) if res & 0x80 else 10.0 ** -res)
        ifaces.append((lt, unit, tsoff))
        out.append(_block(1, struct.pack("<HHI", lt, 0, 262144) + opts))
    v4_ifs = [i for i, (lt, _, _) in enumerate(ifaces) if heads[lt][0] is not None]
    v6_ifs = [i for i, (lt, _, _) in enumerate(ifaces) if heads[lt][1] is not None]

    def epb(t: float, ifid: int, v6: bool, pkt: bytes) -> bytes:
        lt, unit, tsoff = ifaces[ifid]
        hd = heads[lt][1 if v6 else 0]
        frame = (hd if hd is not None else b"\0" * 14) + pkt
        units = int((t - tsoff) / unit) & 0xFFFFFFFFFFFFFFFF
        return _block(6, struct.pack("<IIIII", ifid, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame))
                      + frame + b"\0" * (-len(frame) % 4))

    t = 1_700_000_000.0
    n = 0
    conn = 0
    while n < packets:
        conn += 1
        v6 = conn % 5 == 0
        sport, dport = 1024 + conn % 60000, (80, 443, 22, 8080)[conn % 4]
        ic, isv = rnd.getrandbits(32), rnd.getrandbits(32)
        seq = [  # (from client, seq offset from client/server ISN, ack offset, flags, payload)
            (1, 0, None, SYN, 0), (0, 0, 1, SYN | ACK, 0), (1, 1, 1, ACK, 0),
            (1, 1, 1, PSH | ACK, 40), (0, 1, 41, PSH | ACK, 300), (1, 41, 301, PSH | ACK, 40),
            (0, 301, 81, PSH | ACK, 300), (1, 81, 601, FIN | ACK, 0), (0, 601, 82, FIN | ACK, 0),
            (1, 82, 602, ACK, 0)]
        if v6:
            a = b"\x20\x01\x0d\xb8" + bytes(10) + struct.pack(">H", conn & 0xFFFF)
            b = b"\x20\x01\x0d\xb8" + bytes(11) + b"\x01"
        else:
            c = Dir(bytes([10, 1, (conn >> 8) & 0xFF, conn & 0xFF]), _ip4("10.2.0.1"), sport, dport)
            sdir = c.reverse()
        for from_c, so, ao, fl, plen in seq:
            if n >= packets:
                break
            t += rnd.random() * 0.002
            mine, peer = (ic, isv) if from_c else (isv, ic)
            ack = 0 if ao is None else (peer + ao) & 0xFFFFFFFF
            opts = MSS_OPT if fl & SYN else b""
            if v6:
                src, dst, sp, dp = (a, b, sport, dport) if from_c else (b, a, dport, sport)
                pkt = _tcp6(src, dst, sp, dp, (mine + so) & 0xFFFFFFFF, ack, fl, 65535, plen, opts)
            else:
                pkt = (c if from_c else sdir).packet((mine + so) & 0xFFFFFFFF, ack, fl, 65535, plen,
                                                     n & 0xFFFF, opts) + _ZEROS[:plen]
            pool = v6_ifs if v6 else v4_ifs
            ifid = rnd.randrange(interfaces) if rnd.random() < 0.03 else rnd.choice(pool)
            out.append(epb(t, ifid, v6, pkt))
            n += 1
    with open(path, "wb") as f:
        f.write(b"".join(out))
    return path


def build_huge_records(path, records: int = 4, seed: int = 4):
    """Records of exactly MAX_RECORD (262,144) captured bytes, the largest the reader takes (a
    longer one ends the file with a warning), each carrying one TCP segment, in turn: an IPv6
    jumbogram (payload length 0, a Hop-by-Hop jumbo option, 262,062 bytes of TCP payload), an IPv4
    TSO super-segment (total length 0: the frame's length counts, 262,090 bytes), and a full
    64 KiB IPv4 segment followed by an Ethernet trailer to the same size. Each kind on its own
    connection (a handshake each, an ACK after every huge segment, FINs at the end). Payloads are
    seeded random bytes, checksums right. The default 4 records make a ~1 MB file."""
    rnd = random.Random(seed)
    w = PcapWriter(path, snaplen=MAX_RECORD)
    t = 1_700_000_000.0
    c6a = b"\x20\x01\x0d\xb8" + bytes(11) + b"\x01"
    c6b = b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02"
    eth6 = MAC_B + MAC_A + b"\x86\xdd"
    c4 = [Dir(_ip4("10.0.0.1"), _ip4("10.0.0.2"), 40001 + k, 5001) for k in range(2)]
    s4 = [d.reverse() for d in c4]
    isn = {k: (rnd.getrandbits(32), rnd.getrandbits(32)) for k in range(3)}
    nxt = {k: 1 for k in range(3)}      # client's next relative sequence number, per kind
    # handshakes
    ic, isv = isn[0]
    w.raw(t, eth6 + _tcp6(c6a, c6b, 40000, 5001, ic, 0, SYN, 65535, 0, MSS_OPT))
    w.raw(t + 1e-4, eth6 + _tcp6(c6b, c6a, 5001, 40000, isv, ic + 1, SYN | ACK, 65535, 0, MSS_OPT))
    w.raw(t + 2e-4, eth6 + _tcp6(c6a, c6b, 40000, 5001, ic + 1, isv + 1, ACK, 65535, 0))
    for k in (1, 2):
        t = _handshake(w, t + 1e-3, c4[k - 1], s4[k - 1], *isn[k])
    blob = rnd.randbytes(MAX_RECORD)
    for r in range(records):
        kind = r % 3
        t += 0.01
        ic, isv = isn[kind]
        seq = (ic + nxt[kind]) & 0xFFFFFFFF
        if kind == 0:
            plen = MAX_RECORD - 14 - 40 - 8 - 20
            frame = eth6 + _tcp6(c6a, c6b, 40000, 5001, seq, isv + 1, PSH | ACK, 65535, blob[:plen], jumbo=True)
            ackf = eth6 + _tcp6(c6b, c6a, 5001, 40000, isv + 1, (seq + plen) & 0xFFFFFFFF, ACK, 65535, 0)
        else:
            d = c4[kind - 1]
            plen = MAX_RECORD - 14 - 40 if kind == 1 else 65535 - 40
            payload = blob[:plen]
            tcp_len = 20 + plen
            pseudo = _words(d.src) + _words(d.dst) + 6 + (tcp_len >> 16) + (tcp_len & 0xFFFF)
            h0 = _TCP.pack(d.sport, d.dport, seq, (isv + 1) & 0xFFFFFFFF, 0x50, PSH | ACK, 65535, 0, 0)
            csum = ~_fold(pseudo + _words(h0) + _words(payload)) & 0xFFFF
            tcp = _TCP.pack(d.sport, d.dport, seq, (isv + 1) & 0xFFFFFFFF, 0x50, PSH | ACK, 65535, csum, 0)
            tot = 0 if kind == 1 else 20 + tcp_len
            iph = d.packet(0, 0, 0, 0, 0, r & 0xFFFF, tot=tot)[:20]
            frame = w.eth + iph + tcp + payload
            frame += blob[:MAX_RECORD - len(frame)]        # the trailer (kind 2); nothing for kind 1
            ackf = w.eth + s4[kind - 1].packet((isv + 1) & 0xFFFFFFFF, (seq + plen) & 0xFFFFFFFF, ACK, 65535, 0)
        assert len(frame) == MAX_RECORD, len(frame)
        w.raw(t, frame)
        w.raw(t + 1e-4, ackf)
        nxt[kind] += plen
    t += 0.01
    for kind in range(3):
        ic, isv = isn[kind]
        cs, ss = (ic + nxt[kind]) & 0xFFFFFFFF, (isv + 1) & 0xFFFFFFFF
        if kind == 0:
            w.raw(t, eth6 + _tcp6(c6a, c6b, 40000, 5001, cs, ss, FIN | ACK, 65535, 0))
            w.raw(t + 1e-4, eth6 + _tcp6(c6b, c6a, 5001, 40000, ss, cs + 1, FIN | ACK, 65535, 0))
            w.raw(t + 2e-4, eth6 + _tcp6(c6a, c6b, 40000, 5001, cs + 1, ss + 1, ACK, 65535, 0))
        else:
            w.tcp(t, c4[kind - 1], cs, ss, FIN | ACK)
            w.tcp(t + 1e-4, s4[kind - 1], ss, cs + 1, FIN | ACK)
            w.tcp(t + 2e-4, c4[kind - 1], cs + 1, ss + 1, ACK)
        t += 1e-3
    w.close()
    return path


# --- large hostile captures (benchmarks/bench.py --hostile) -------------------------------------

def build_long_connection(path, packets: int = 1_000_000, snaplen: int = 64, seed: int = 5):
    """`packets` packets on one connection: handshake, bulk data client -> server (1,448-byte
    segments, `snaplen` bytes captured), the server acknowledging every other segment, FIN both
    ways. 1M packets make a ~74 MB file."""
    rnd = random.Random(seed)
    w = PcapWriter(path, snaplen=snaplen)
    c = Dir(_ip4("10.0.0.1"), _ip4("10.0.0.2"), 45678, 5201)
    s = c.reverse()
    ic, isv = rnd.getrandbits(32), rnd.getrandbits(32)
    t = _handshake(w, 1_700_000_000.0, c, s, ic, isv)
    body = max(0, packets - 6)
    cseq, sack = ic + 1, isv + 1
    tcp = w.tcp
    n = 0
    k = 0
    while n < body:
        t += 0.00001
        tcp(t, c, cseq, sack, ACK, 502, 1448, k & 0xFFFF)
        cseq += 1448
        k += 1
        n += 1
        if k % 2 == 0 and n < body:
            tcp(t + 0.000005, s, sack, cseq, ACK, 16000)
            n += 1
    t += 0.001
    tcp(t, c, cseq, sack, FIN | ACK, 502)
    tcp(t + 1e-4, s, sack, cseq + 1, FIN | ACK, 16000)
    tcp(t + 2e-4, c, cseq + 1, sack + 1, ACK, 502)
    w.close()
    return path


def build_syn_scan(path, syns: int = 1_000_000, answered: float = 0.01, refused: float = 0.02, seed: int = 6):
    """`syns` SYNs from one scanner (10.9.0.1, source port 61000, as nmap keeps one) to distinct
    (host, port) pairs: ports 1–62,500 on 10.20.0.1, 10.20.0.2, ... (16 hosts for 1M), 10 µs
    apart; an `answered` share gets a SYN-ACK (and the scanner's RST), a `refused` share a RST-ACK;
    the rest stay unanswered. 1M SYNs make a ~71 MB file."""
    rnd = random.Random(seed)
    w = PcapWriter(path)
    scanner = _ip4("10.9.0.1")
    t = 1_700_000_000.0
    tcp = w.tcp
    rand = rnd.random
    per_host = 62_500
    out = back0 = None
    for i in range(syns):
        host, port = divmod(i, per_host)
        if port == 0:
            out = Dir(scanner, bytes([10, 20, (host >> 8) & 0xFF, (host & 0xFF) + 1]), 61000, 1)
            back0 = out.reverse()
        t += 0.00001
        d = out.ports(61000, port + 1)
        isn = rnd.getrandbits(32)
        tcp(t, d, isn, 0, SYN, 1024, 0, i & 0xFFFF, MSS_OPT)
        x = rand()
        if x < answered + refused:
            back = back0.ports(port + 1, 61000)
            if x < answered:
                sisn = rnd.getrandbits(32)
                tcp(t + 0.000003, back, sisn, isn + 1, SYN | ACK, 65160, 0, 0, MSS_OPT)
                tcp(t + 0.000006, d, isn + 1, 0, RST, 0)
            else:
                tcp(t + 0.000003, back, 0, isn + 1, RST | ACK, 0)
    w.close()
    return path


def build_scan_mixed(path, ports: int = 300_000, connections: int = 40_000, seed: int = 7):
    """A SYN scan of `ports` (host, port) pairs (60,000 ports a host, a 2 % share refused by RST)
    interleaved with `connections` complete HTTP-like connections between other hosts, 64 open at
    a time: handshake, a 300-byte request, a 1–8-segment response each acknowledged, FIN close from
    the client (10–24 packets, 17 on average; 64 bytes captured). The scan's SYNs are spread evenly
    through the normal traffic. The defaults make about 1M packets (~75 MB)."""
    rnd = random.Random(seed)
    w = PcapWriter(path, snaplen=64)
    tcp = w.tcp
    scanner = _ip4("10.9.0.1")
    t = 1_700_000_000.0

    def conn_packets(k: int):
        c = Dir(bytes([10, 30 + (k >> 16), (k >> 8) & 0xFF, k & 0xFF]), _ip4("10.40.0.1"), 32768 + k % 28000, 80)
        s = c.reverse()
        ic, isv = rnd.getrandbits(32), rnd.getrandbits(32)
        yield c, ic, 0, SYN, 64240, 0, SYN_OPTS
        yield s, isv, ic + 1, SYN | ACK, 65160, 0, SYN_OPTS
        yield c, ic + 1, isv + 1, ACK, 502, 0, b""
        yield c, ic + 1, isv + 1, PSH | ACK, 502, 300, b""
        yield s, isv + 1, ic + 301, ACK, 509, 0, b""
        so = 1
        for _ in range(rnd.randint(1, 8)):
            yield s, isv + so, ic + 301, PSH | ACK, 509, 1448, b""
            so += 1448
            yield c, ic + 301, isv + so, ACK, 502, 0, b""
        yield c, ic + 301, isv + so, FIN | ACK, 502, 0, b""
        yield s, isv + so, ic + 302, FIN | ACK, 509, 0, b""
        yield c, ic + 302, isv + so + 1, ACK, 502, 0, b""

    active = []
    started = 0
    scanned = 0
    while started < 64 and started < connections:
        started += 1
        active.append(conn_packets(started))
    # about 17 packets a connection: one scan SYN every (normal packets / ports) packets
    every = max(1.0, connections * 17 / max(1, ports))
    credit = 0.0
    ipid = 0
    scan_out = scan_back = None
    while active or scanned < ports:
        t += 0.00002
        if active:
            i = rnd.randrange(len(active))
            try:
                d, seq, ack, fl, win, plen, opts = next(active[i])
                ipid = (ipid + 1) & 0xFFFF
                tcp(t, d, seq, ack, fl, win, plen, ipid, opts)
            except StopIteration:
                if started < connections:
                    started += 1
                    active[i] = conn_packets(started)
                else:
                    active.pop(i)
            credit += 1.0
        else:
            credit = every
        while scanned < ports and (credit >= every or not active):
            credit -= every
            host, port = divmod(scanned, 60_000)
            if port == 0 or scan_out is None:
                scan_out = Dir(scanner, bytes([10, 50, host >> 8, (host & 0xFF) + 1]), 61000, 1)
                scan_back = scan_out.reverse()
            d = scan_out.ports(61000, port + 1)
            isn = rnd.getrandbits(32)
            tcp(t, d, isn, 0, SYN, 1024, 0, scanned & 0xFFFF, MSS_OPT)
            if rnd.random() < 0.02:
                tcp(t + 0.000003, scan_back.ports(port + 1, 61000), 0, isn + 1, RST | ACK, 0)
            scanned += 1
            if not active:
                t += 0.00001
    w.close()
    return path


SMALL = {
    "one_connection_random_seq": build_one_connection_random_seq,
    "syn_same_tuple_new_isn": build_syn_same_tuple_new_isn,
    "pcapng_many_interfaces": build_pcapng_many_interfaces,
    "huge_records": build_huge_records,
}
LARGE = {
    "long_connection": build_long_connection,
    "syn_scan": build_syn_scan,
    "scan_mixed": build_scan_mixed,
}
SUFFIX = {"pcapng_many_interfaces": ".pcapng"}


def main(argv=None) -> int:
    import argparse
    import time
    ap = argparse.ArgumentParser(description="write the crafted hostile captures")
    ap.add_argument("dir")
    ap.add_argument("--large", action="store_true", help="also the three large ones (1M packets each)")
    args = ap.parse_args(argv)
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in list(SMALL.items()) + (list(LARGE.items()) if args.large else []):
        t0 = time.perf_counter()
        p = fn(out / (name + SUFFIX.get(name, ".pcap")))
        print(f"{p}: {Path(p).stat().st_size / 1e6:.2f} MB in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

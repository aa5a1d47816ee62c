"""Seeds and structure-aware mutators for captures: pcap, pcapng, gzip, and the frames inside.

A capture is parsed into a model -- `Pcap` (file header + records) or `Pcapng` (blocks, each
section with its own byte order) -- whose frames can be parsed further into a `Frame`
(link header, IPv4/IPv6 layers, TCP header, options, payload). Mutators change fields of
these models, then the model is written back, with lengths and checksums right unless the
mutator chose to leave them wrong. Seeds are the files in sample_pcaps/ and conversations
built here (`gen_capture`): handshakes, data, FIN/RST, options, several link types, both
pcap byte orders, µs and ns, pcapng with several interfaces and sections.

Every mutator takes a `random.Random`; `make_input(rng, seeds)` builds one fuzz input from
it, so the same seed gives the same bytes.
"""
from __future__ import annotations

import gzip
import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "sample_pcaps"
MAX_INPUT = 1 << 20          # inputs stay at most this big (the memory rule applies up to 1 MB)
M32 = 0xFFFFFFFF
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
PCAP_MAGICS = {("<", False): 0xA1B2C3D4, (">", False): 0xA1B2C3D4, ("<", True): 0xA1B23C4D, (">", True): 0xA1B23C4D}
SHB_TYPE = 0x0A0D0D0A
BOM = 0x1A2B3C4D
# link types the decoder knows (tcptrace_py.core.decode.LINK_TYPES) and some it does not
LINKS = (0, 1, 9, 12, 14, 50, 101, 108, 113, 228, 229, 239, 276)
OTHER_LINKS = (6, 10, 104, 105, 107, 119, 127, 140, 143, 187, 195, 220, 249, 2, 3, 147, 0xFFFF)
GEN_LINKS = (1, 1, 1, 101, 113, 276, 0, 108, 239, 9, 12, 14, 228, 229)
INTERESTING32 = (0, 1, 2, 3, 4, 7, 8, 12, 15, 16, 20, 24, 28, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000,
                 0x3FFFF, 0x40000, 0x40001, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, M32)


def pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def inet_csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def pick_int(rng: random.Random, near: int | None = None, bits: int = 32) -> int:
    """An interesting value: a boundary, a value next to `near`, or a random one."""
    mask = (1 << bits) - 1
    r = rng.random()
    if near is not None and r < 0.35:
        return (near + rng.choice((-4, -2, -1, 1, 2, 4, 8, 16, 255, 256, 4096))) & mask
    if r < 0.8:
        return rng.choice(INTERESTING32) & mask
    return rng.getrandbits(bits)


# ================================================================== frames: IP / TCP


@dataclass
class Tcp:
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    win: int
    urg: int = 0
    options: bytes = b""
    payload: bytes = b""
    off: int | None = None     # data offset as written (32-bit words); None: from the options
    csum: int | None = None    # None: the right checksum

    def build(self, pseudo: bytes) -> bytes:
        opts = pad4(self.options)
        off = self.off if self.off is not None else (20 + len(opts)) // 4
        hdr = struct.pack("!HHIIHHHH", self.sport & 0xFFFF, self.dport & 0xFFFF, self.seq & M32, self.ack & M32,
                          ((off & 15) << 12) | (self.flags & 0xFFF), self.win & 0xFFFF, 0, self.urg & 0xFFFF)
        seg = hdr + opts + self.payload
        c = self.csum if self.csum is not None else inet_csum(pseudo + struct.pack("!I", len(seg)) + seg)
        return seg[:16] + struct.pack("!H", c & 0xFFFF) + seg[18:]


@dataclass
class Ip:
    v: int
    src: bytes
    dst: bytes
    proto: int = 6
    ttl: int = 64
    ident: int = 0
    tos: int = 0
    flags: int = 2            # DF
    frag: int = 0
    options: bytes = b""      # IPv4 options
    ihl: int | None = None    # IPv4 header length as written (words)
    length: int | None = None  # IPv4 total length / IPv6 payload length as written
    csum: int | None = None
    ext: list = field(default_factory=list)   # IPv6 extension headers: [type, bytes], byte 0 set to the next header
    flow: int = 0
    l2tp: tuple | None = None  # (inner IP version, L2TP flags, PPP address bytes): UDP/1701 L2TPv2/PPP before l4

    def pseudo(self) -> bytes:
        if self.v == 4:
            return self.src + self.dst + b"\0\x06"
        return self.src + self.dst + b"\0\0\0\x06"

    def build(self, l4: bytes) -> bytes:
        if self.l2tp is not None:
            l4 = udp_l2tp(self, l4)
        if self.v == 4:
            opts = pad4(self.options)
            ihl = self.ihl if self.ihl is not None else (20 + len(opts)) // 4
            total = self.length if self.length is not None else 20 + len(opts) + len(l4)
            hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | (ihl & 15), self.tos & 0xFF, total & 0xFFFF, self.ident & 0xFFFF,
                              ((self.flags & 7) << 13) | (self.frag & 0x1FFF), self.ttl & 0xFF, self.proto & 0xFF, 0,
                              self.src, self.dst) + opts
            c = self.csum if self.csum is not None else inet_csum(hdr)
            return hdr[:10] + struct.pack("!H", c & 0xFFFF) + hdr[12:] + l4
        types = [e[0] for e in self.ext] + [self.proto]
        exts = b""
        for i, (_t, raw) in enumerate(self.ext):
            raw = bytearray(raw or b"\0")
            raw[0] = types[i + 1] & 0xFF
            exts += bytes(raw)
        plen = self.length if self.length is not None else len(exts) + len(l4)
        hdr = struct.pack("!IHBB16s16s", (6 << 28) | (self.tos & 0xFF) << 20 | (self.flow & 0xFFFFF), plen & 0xFFFF,
                          types[0] & 0xFF, self.ttl & 0xFF, self.src, self.dst)
        return hdr + exts + l4


def udp_l2tp(ip: Ip, inner: bytes) -> bytes:
    """UDP port 1701, an L2TPv2 data header (flags: L 0x4000, S 0x0800, O 0x0200), PPP, then `inner`."""
    v, fl, ppp_addr = ip.l2tp
    hdr = struct.pack("!H", fl)
    if fl & 0x4000:
        hdr += b"\0\0"                                   # length (filled below)
    hdr += struct.pack("!HH", 7, 9)                     # tunnel, session
    if fl & 0x0800:
        hdr += struct.pack("!HH", 1, 2)
    if fl & 0x0200:
        hdr += struct.pack("!H", 2) + b"\0\0"
    ppp = ppp_addr + struct.pack("!H", 0x0021 if v == 4 else 0x0057)
    body = hdr + ppp + inner
    if fl & 0x4000:
        body = body[:2] + struct.pack("!H", len(body) & 0xFFFF) + body[4:]
    return struct.pack("!HHHH", 1701, 1701, (8 + len(body)) & 0xFFFF, 0) + body


@dataclass
class Frame:
    lt: int
    ips: list                  # IP layers, outermost first (more than one: a tunnel)
    tcp: Tcp
    prefix: bytes = b""        # the link header of a non-Ethernet link
    macs: bytes = b""          # Ethernet: destination and source
    tags: list = field(default_factory=list)   # Ethernet: [(tpid, tci)]
    etype: int | None = None   # Ethernet type after the tags; None: from the IP version
    trailer: bytes = b""       # bytes after the IP packet (Ethernet padding, FCS)

    def build(self) -> bytes:
        inner = self.ips[-1]
        pkt = self.tcp.build(inner.pseudo())
        for ip in reversed(self.ips):
            pkt = ip.build(pkt)
        return self.wrap(pkt)

    def wrap(self, pkt: bytes, v: int | None = None) -> bytes:
        """The frame's link header (for IP version `v`), `pkt`, the trailer."""
        v = v or self.ips[0].v
        if self.lt == 1:
            et = self.etype if self.etype is not None else (ETH_IPV4 if v == 4 else ETH_IPV6)
            l2 = (self.macs or b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01")
            for tpid, tci in self.tags:
                l2 += struct.pack("!HH", tpid, tci)
            return l2 + struct.pack("!H", et & 0xFFFF) + pkt + self.trailer
        return self.prefix + pkt + self.trailer


def link_prefix(lt: int, v: int, rng: random.Random | None = None) -> bytes:
    """The link header of a generated frame on link type `lt` carrying IP version `v`."""
    et = ETH_IPV4 if v == 4 else ETH_IPV6
    if lt == 0:
        fam = 2 if v == 4 else (rng.choice((10, 24, 28, 30)) if rng else 30)
        return struct.pack("<I" if not rng or rng.random() < 0.8 else ">I", fam)
    if lt == 108:
        return struct.pack(">I", 2 if v == 4 else 24)
    if lt == 113:
        return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", et)
    if lt == 276:
        return struct.pack("!HHIHBB8s", et, 0, 1, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0")
    if lt == 239:
        fam = 2 if v == 4 else 10
        prefix_tlv = struct.pack("<HH", 8, 10) + b"fuzz"       # NFULA_PREFIX, 4 bytes of text
        return bytes((fam, 0, 0, 0)) + prefix_tlv + struct.pack("<HH", 4, 9)   # NFULA_PAYLOAD (length not checked)
    if lt in (9, 50):
        return b"\xff\x03" + struct.pack("!H", 0x0021 if v == 4 else 0x0057)
    return b""


def _link_split(lt: int, data: bytes):
    """(prefix, ip offset, macs, tags, etype) of a frame, or None when it is not IP over a known link."""
    if lt == 1:
        if len(data) < 14:
            return None
        p, tags = 12, []
        et = struct.unpack_from("!H", data, p)[0]
        while et in VLAN_TPIDS and p + 6 <= len(data):
            tags.append((et, struct.unpack_from("!H", data, p + 2)[0]))
            p += 4
            et = struct.unpack_from("!H", data, p)[0]
        if et not in (ETH_IPV4, ETH_IPV6):
            return None
        return b"", p + 2, data[:12], tags, et
    n = {0: 4, 108: 4, 113: 16, 276: 20, 12: 0, 14: 0, 101: 0, 228: 0, 229: 0}.get(lt)
    if lt in (9, 50):
        n = 4 if data[:2] == b"\xff\x03" else 2
    if lt == 239:
        p = 4
        while p + 4 <= len(data):
            tlen, ttype = struct.unpack_from("<HH", data, p)
            if ttype == 9:
                n = p + 4
                break
            if tlen < 4:
                return None
            p += (tlen + 3) & ~3
    if n is None or n > len(data):
        return None
    return data[:n], n, b"", [], None


def parse_frame(lt: int, data: bytes) -> Frame | None:
    """The frame as a model, or None when it is not a TCP segment in IPv4/IPv6 over a known link."""
    split = _link_split(lt, data)
    if split is None:
        return None
    prefix, p, macs, tags, et = split
    ips = []
    while True:
        if p >= len(data):
            return None
        v = data[p] >> 4
        if v == 4:
            if len(data) - p < 20:
                return None
            b0, tos, total, ident, ff, ttl, proto, _c, src, dst = struct.unpack_from("!BBHHHBBH4s4s", data, p)
            ihl = (b0 & 15) * 4
            if ihl < 20 or p + ihl > len(data) or total < ihl:
                return None
            end = min(p + total, len(data))
            ips.append(Ip(4, src, dst, proto, ttl, ident, tos, ff >> 13, ff & 0x1FFF, data[p + 20:p + ihl]))
            p += ihl
        elif v == 6:
            if len(data) - p < 40:
                return None
            vf, plen, nh, hl, src, dst = struct.unpack_from("!IHBB16s16s", data, p)
            end = min(p + 40 + plen, len(data)) if plen else len(data)
            ip = Ip(6, src, dst, nh, hl, tos=(vf >> 20) & 0xFF, flow=vf & 0xFFFFF)
            p += 40
            while nh in (0, 43, 60, 44, 51):
                if p + 8 > end:
                    return None
                ln = 8 if nh == 44 else (data[p + 1] + 2) * 4 if nh == 51 else (data[p + 1] + 1) * 8
                if p + ln > end:
                    return None
                ip.ext.append([nh, data[p:p + ln]])
                nh = data[p]
                p += ln
            ip.proto = nh
            ips.append(ip)
        else:
            return None
        proto = ips[-1].proto
        if proto in (4, 41):
            continue
        if proto != 6 or end - p < 20:
            return None
        break
    sport, dport, seq, ack, offfl, win, _c, urg = struct.unpack_from("!HHIIHHHH", data, p)
    off = (offfl >> 12) * 4
    if off < 20 or p + off > end:
        return None
    tcp = Tcp(sport, dport, seq, ack, offfl & 0xFFF, win, urg, data[p + 20:p + off], data[p + off:end])
    return Frame(lt, ips, tcp, prefix, macs, tags, et, data[end:])


# ---- TCP options

def opt_mss(v=1460):
    return struct.pack("!BBH", 2, 4, v & 0xFFFF)


def opt_ws(s=7):
    return bytes((3, 3, s & 0xFF))


def opt_ts(val, ecr):
    return struct.pack("!BBII", 8, 10, val & M32, ecr & M32)


def opt_sack(blocks):
    return bytes((5, 2 + 8 * len(blocks))) + b"".join(struct.pack("!II", a & M32, b & M32) for a, b in blocks)


def bad_options(rng: random.Random, room: int = 40) -> bytes:
    """TCP options with wrong kinds and lengths: 0/1/2 where longer is needed, past the end, too many SACKs."""
    out = b""
    for _ in range(rng.randint(1, 6)):
        k = rng.random()
        if k < 0.12:
            o = bytes((rng.choice((0, 1)),)) * rng.randint(1, 4)
        elif k < 0.3:
            kind = rng.choice((2, 3, 4, 5, 8, 28, 29, 30, 34))
            o = bytes((kind, rng.choice((0, 1, 2, 3, 5, 9, 11, 39, 40, 41, 255))))
            o += rng.randbytes(rng.randint(0, 10))
        elif k < 0.4:
            o = struct.pack("!BBH", 2, 4, rng.choice((0, 1, 536, 0xFFFF)))
        elif k < 0.5:
            o = bytes((3, 3, rng.choice((0, 1, 14, 15, 16, 100, 255))))
        elif k < 0.62:
            n = rng.choice((0, 1, 3, 4, 5, 9))
            base = rng.getrandbits(32)
            o = opt_sack([(base + 100 * i, base + 100 * i + rng.choice((0, 1, 50, -5))) for i in range(n)])
            if rng.random() < 0.3:
                o = o[:1] + bytes((rng.choice((3, 9, 17, 34, 255)),)) + o[2:]
        elif k < 0.72:
            o = opt_ts(rng.getrandbits(32), rng.getrandbits(32))
            if rng.random() < 0.5:
                o = o[:1] + bytes((rng.choice((2, 6, 9, 11, 40)),)) + o[2:]
        elif k < 0.8:
            o = bytes((4, rng.choice((2, 0, 1, 3))))
        elif k < 0.9:
            kind = rng.choice((6, 7, 9, 19, 253, 254, 99, 200, 255))
            ln = rng.randint(2, 12)
            o = bytes((kind, ln)) + rng.randbytes(ln - 2)
            if kind in (253, 254) and rng.random() < 0.5:
                o = bytes((kind, ln)) + b"\xf9\x89" + rng.randbytes(max(0, ln - 4))     # TFO experimental
        else:
            o = bytes((rng.getrandbits(8), 0xFF))       # length past the header end
        out += o
    if rng.random() < 0.8:
        out = out[:room]
    return out


# ================================================================== containers


@dataclass
class Rec:
    sec: int
    frac: int
    data: bytes
    caplen: int | None = None   # as written; None: len(data)
    wire: int | None = None     # as written; None: the captured length

    def to_bytes(self, e: str) -> bytes:
        cap = len(self.data) if self.caplen is None else self.caplen
        wire = cap if self.wire is None else self.wire
        return struct.pack(e + "IIII", self.sec & M32, self.frac & M32, cap & M32, wire & M32) + self.data


@dataclass
class Pcap:
    endian: str = "<"
    nano: bool = False
    linktype: int = 1
    snaplen: int = 262144
    vmaj: int = 2
    vmin: int = 4
    zone: int = 0
    sigfigs: int = 0
    magic: int | None = None           # None: from nano
    records: list = field(default_factory=list)
    tail: bytes = b""                  # bytes after the last whole record
    kind = "pcap"

    def header(self) -> bytes:
        magic = self.magic if self.magic is not None else (0xA1B23C4D if self.nano else 0xA1B2C3D4)
        return struct.pack(self.endian + "IHHiIII", magic & M32, self.vmaj & 0xFFFF, self.vmin & 0xFFFF,
                           self.zone, self.sigfigs & M32, self.snaplen & M32, self.linktype & M32)

    def to_bytes(self) -> bytes:
        e = self.endian
        return self.header() + b"".join(r.to_bytes(e) for r in self.records) + self.tail

    def units(self) -> list:
        return self.records

    def frames(self) -> list:
        return [(i, self.linktype & 0x0FFFFFFF, r.data) for i, r in enumerate(self.records)]

    def set_frame(self, ref, data: bytes, keep_wire: bool = False) -> None:
        r = self.records[ref]
        r.data = data
        r.caplen = None
        if not keep_wire:
            r.wire = None

    def add_frame(self, ts: float, lt: int, data: bytes) -> None:
        self.records.append(ts_rec(ts, data, self.nano))

    def boundaries(self) -> list:
        """Byte offsets of the record starts (and the end)."""
        out, p = [], 24
        for r in self.records:
            out.append(p)
            p += 16 + len(r.data)
        return out + [p]


def ts_rec(ts: float, data: bytes, nano: bool) -> Rec:
    sec = int(ts)
    frac = int(round((ts - sec) * (1e9 if nano else 1e6)))
    lim = 10 ** 9 if nano else 10 ** 6
    if frac >= lim:
        sec, frac = sec + 1, frac - lim
    return Rec(sec, frac, data)


def parse_pcap(data: bytes) -> Pcap | None:
    if len(data) < 24:
        return None
    m = data[:4]
    if m in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif m in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    magic, vmaj, vmin, zone, sig, snap, lt = struct.unpack_from(e + "IHHiIII", data, 0)
    pc = Pcap(e, magic == 0xA1B23C4D, lt, snap, vmaj, vmin, zone, sig)
    p = 24
    while p + 16 <= len(data):
        sec, frac, cap, wire = struct.unpack_from(e + "IIII", data, p)
        if cap > 256 * 1024 or p + 16 + cap > len(data):
            break
        pc.records.append(Rec(sec, frac, data[p + 16:p + 16 + cap], None, None if wire == cap else wire))
        p += 16 + cap
    pc.tail = data[p:]
    return pc


@dataclass
class Block:
    btype: int
    body: bytes
    endian: str = "<"
    len1: int | None = None     # as written; None: the real length
    len2: int | None = None

    def to_bytes(self) -> bytes:
        total = 12 + len(self.body)
        e = self.endian
        return (struct.pack(e + "II", self.btype & M32, (total if self.len1 is None else self.len1) & M32) + self.body
                + struct.pack(e + "I", (total if self.len2 is None else self.len2) & M32))


def options(e: str, opts, end: bool = True) -> bytes:
    out = b""
    for code, val in opts:
        out += struct.pack(e + "HH", code & 0xFFFF, len(val) & 0xFFFF) + pad4(val)
    return out + (struct.pack(e + "HH", 0, 0) if end else b"")


def shb(e: str, opts=(), section_len: int = -1, vmaj: int = 1, vmin: int = 0) -> Block:
    body = struct.pack(e + "IHHq", BOM, vmaj, vmin, section_len) + (options(e, opts) if opts else b"")
    return Block(SHB_TYPE, body, e)


def idb(e: str, lt: int, snaplen: int = 262144, opts=()) -> Block:
    return Block(1, struct.pack(e + "HHI", lt & 0xFFFF, 0, snaplen & M32) + (options(e, opts) if opts else b""), e)


def epb(e: str, ifid: int, units: int, data: bytes, wire: int | None = None, caplen: int | None = None,
        opts=()) -> Block:
    cap = len(data) if caplen is None else caplen
    body = struct.pack(e + "IIIII", ifid & M32, (units >> 32) & M32, units & M32, cap & M32,
                       (len(data) if wire is None else wire) & M32) + pad4(data)
    return Block(6, body + (options(e, opts) if opts else b""), e)


@dataclass
class Iface:
    lt: int
    unit: float = 1e-6
    offset: float = 0.0


@dataclass
class Pcapng:
    blocks: list = field(default_factory=list)
    tail: bytes = b""
    kind = "pcapng"

    def to_bytes(self) -> bytes:
        return b"".join(b.to_bytes() for b in self.blocks) + self.tail

    def units(self) -> list:
        return self.blocks

    def ifaces(self) -> list:
        """For each block, the interfaces of its section known at that point."""
        out, cur = [], []
        for b in self.blocks:
            if b.btype == SHB_TYPE:
                cur = []
            elif b.btype == 1 and len(b.body) >= 8:
                lt, _r, _s = struct.unpack_from(b.endian + "HHI", b.body, 0)
                unit, off = 1e-6, 0.0
                p = 8
                while p + 4 <= len(b.body):
                    code, ln = struct.unpack_from(b.endian + "HH", b.body, p)
                    if code == 0:
                        break
                    val = b.body[p + 4:p + 4 + ln]
                    if code == 9 and val:
                        unit = 2.0 ** -(val[0] & 0x7F) if val[0] & 0x80 else 10.0 ** -val[0]
                    elif code == 14 and len(val) >= 8:
                        off = float(struct.unpack_from(b.endian + "q", val)[0])
                    p += 4 + ((ln + 3) & ~3)
                cur = cur + [Iface(lt, unit, off)]
            out.append(cur)
        return out

    def frames(self) -> list:
        out = []
        for i, (b, ifs) in enumerate(zip(self.blocks, self.ifaces())):
            e = b.endian
            if b.btype == 6 and len(b.body) >= 20:
                ifid, _h, _l, cap, _w = struct.unpack_from(e + "IIIII", b.body, 0)
                data = b.body[20:20 + cap]
            elif b.btype == 2 and len(b.body) >= 20:
                ifid = struct.unpack_from(e + "H", b.body, 0)[0]
                cap = struct.unpack_from(e + "I", b.body, 12)[0]
                data = b.body[20:20 + cap]
            elif b.btype == 3 and len(b.body) >= 4:
                ifid = 0
                wire = struct.unpack_from(e + "I", b.body, 0)[0]
                data = b.body[4:4 + min(wire, len(b.body) - 4)]
            else:
                continue
            if ifid < len(ifs):
                out.append((i, ifs[ifid].lt, data))
        return out

    def set_frame(self, ref, data: bytes, keep_wire: bool = False) -> None:
        b = self.blocks[ref]
        e = b.endian
        if b.btype == 3:
            wire = struct.unpack_from(e + "I", b.body, 0)[0]
            b.body = struct.pack(e + "I", wire if keep_wire else len(data)) + pad4(data)
            return
        cap = struct.unpack_from(e + "I", b.body, 12)[0]
        wire = struct.unpack_from(e + "I", b.body, 16)[0]
        rest = b.body[20 + ((cap + 3) & ~3):]
        b.body = b.body[:12] + struct.pack(e + "II", len(data), wire if keep_wire else len(data)) + pad4(data) + rest

    def add_frame(self, ts: float, lt: int, data: bytes) -> None:
        ifs = self.ifaces()[-1] if self.blocks else []
        ifid = next((k for k, f in enumerate(ifs) if f.lt == lt), 0)
        unit = ifs[ifid].unit if ifid < len(ifs) else 1e-6
        e = self.blocks[-1].endian if self.blocks else "<"
        self.blocks.append(epb(e, ifid, int(ts / unit) & ((1 << 64) - 1), data))

    def boundaries(self) -> list:
        out, p = [], 0
        for b in self.blocks:
            out.append(p)
            p += 12 + len(b.body)
        return out + [p]


def parse_pcapng(data: bytes) -> Pcapng | None:
    if data[:4] != b"\x0a\x0d\x0d\x0a" or len(data) < 12:
        return None
    ng = Pcapng()
    e = "<"
    p = 0
    while p + 12 <= len(data):
        if data[p:p + 4] == b"\x0a\x0d\x0d\x0a":
            bom = data[p + 8:p + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                e = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                e = ">"
            else:
                break
        btype, blen = struct.unpack_from(e + "II", data, p)
        if blen < 12 or blen % 4 or p + blen > len(data):
            break
        l2 = struct.unpack_from(e + "I", data, p + blen - 4)[0]
        ng.blocks.append(Block(btype, data[p + 8:p + blen - 4], e, None, None if l2 == blen else l2))
        p += blen
    ng.tail = data[p:]
    return ng


def parse_capture(data: bytes):
    """A Pcap or Pcapng model of `data`, or None."""
    return parse_pcap(data) or parse_pcapng(data)


def split_units(data: bytes):
    """(head, units, tail) of a capture for reduction: each unit one record or block (as bytes)."""
    pc = parse_pcap(data)
    if pc is not None:
        return pc.header(), [r.to_bytes(pc.endian) for r in pc.records], pc.tail
    ng = parse_pcapng(data)
    if ng is not None:
        return b"", [b.to_bytes() for b in ng.blocks], ng.tail
    return None


# ================================================================== generated conversations


@dataclass
class Seg:
    ts: float
    d: int            # 0: client -> server, 1: server -> client
    flags: int
    seq: int
    ack: int
    win: int = 65535
    opts: bytes = b""
    payload: bytes = b""
    ipid: int = 0
    conv: int = 0


@dataclass
class Conv:
    v: int
    caddr: bytes
    saddr: bytes
    cport: int
    sport: int
    segs: list = field(default_factory=list)


FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128


def _addr(rng, v, n):
    if v == 4:
        return bytes((10, rng.randint(0, 3), rng.randint(0, 3), n))
    if rng.random() < 0.8:
        return b"\xfd\0" + bytes(13) + bytes((n,))
    return b"\0" * 10 + b"\xff\xff" + bytes((10, 0, 0, n))          # IPv4-mapped


def gen_conv(rng: random.Random, t0: float, idx: int, v: int | None = None, ports=None) -> Conv:
    """One TCP conversation: a handshake (or not), data with ACKs, and an end (FIN, RST, or none)."""
    v = v or (4 if rng.random() < 0.7 else 6)
    cport, sport = ports or (rng.randint(1024, 65535), rng.choice((80, 443, 8080, 22, 5000, rng.randint(1, 65535))))
    c = Conv(v, _addr(rng, v, 1 + idx % 200), _addr(rng, v, 201 + idx % 50), cport, sport)
    near_wrap = rng.random() < 0.25
    isn = [rng.getrandbits(32), rng.getrandbits(32)]
    if near_wrap:
        isn[rng.randint(0, 1)] = (M32 - rng.randint(0, 3000)) & M32
    nxt = [isn[0], isn[1]]
    ts_on = rng.random() < 0.6
    sack_on = rng.random() < 0.5
    ws = [rng.choice((0, 2, 7, 14)), rng.choice((0, 7, 9))] if rng.random() < 0.6 else None
    t = t0
    ipid = [rng.getrandbits(16), rng.getrandbits(16)]
    tsval = [rng.getrandbits(32), rng.getrandbits(32)]
    rtt = rng.choice((0.00002, 0.0005, 0.02, 0.2))
    win = [rng.choice((65535, 29200, 502, 64)), rng.choice((65535, 28960, 1024))]

    def add(d, flags, payload=b"", opts=None, seq=None, ack=None, w=None, dt=None):
        nonlocal t
        t += dt if dt is not None else rng.expovariate(1 / rtt)
        if opts is None:
            opts = b""
            if ts_on and not flags & SYN:
                opts = b"\x01\x01" + opt_ts(tsval[d], tsval[1 - d])
        tsval[d] = (tsval[d] + rng.randint(0, 10)) & M32
        ipid[d] = (ipid[d] + 1) & 0xFFFF
        s = Seg(t, d, flags, nxt[d] if seq is None else seq, nxt[1 - d] if ack is None else ack,
                win[d] if w is None else w, opts, payload, ipid[d], idx)
        c.segs.append(s)
        if seq is None:
            nxt[d] = (nxt[d] + len(payload) + (1 if flags & (SYN | FIN) else 0)) & M32
        return s

    def syn_opts(d):
        o = opt_mss(rng.choice((1460, 536, 65495, 1380)))
        if sack_on:
            o += b"\x04\x02"
        if ts_on:
            o += opt_ts(tsval[d], 0 if d == 0 else tsval[0])
        if ws is not None:
            o += b"\x01" + opt_ws(ws[d])
        return o

    r = rng.random()
    opened = True
    if r < 0.72:
        add(0, SYN, opts=syn_opts(0), ack=0)
        if rng.random() < 0.1:
            nxt[0] = (nxt[0] - 1) & M32
            add(0, SYN, opts=syn_opts(0), ack=0, dt=1.0)       # the SYN again
        add(1, SYN | ACK, opts=syn_opts(1))
        add(0, ACK)
    elif r < 0.78:
        add(0, SYN, opts=syn_opts(0), ack=0)
        for k in range(rng.randint(0, 2)):
            nxt[0] = (nxt[0] - 1) & M32
            add(0, SYN, opts=syn_opts(0), ack=0, dt=1.0 * 2 ** k)
        return c
    elif r < 0.85:
        add(0, SYN, opts=syn_opts(0), ack=0)
        add(1, RST | ACK, ack=nxt[0], opts=b"")
        return c
    elif r < 0.88:
        add(0, SYN, opts=syn_opts(0), ack=0)
        add(1, SYN | ACK, opts=syn_opts(1))
        opened = rng.random() < 0.5
        if not opened:
            return c
    elif r < 0.92:
        nxt[0] = (nxt[0] + 1) & M32        # the SYN was not captured: the SYN-ACK comes first
        add(1, SYN | ACK, opts=syn_opts(1))
        if rng.random() < 0.7:
            add(0, ACK)
    elif r < 0.96:
        # mid-stream, the server (on a well-known port, or not) speaking first
        add(1, PSH | ACK, rng.randbytes(rng.randint(1, 300)))
    else:
        pass    # mid-stream: no handshake captured
    # data
    for _ in range(rng.choice((0, 1, 2, 3, 5, 8, 12, 20))):
        d = 0 if rng.random() < 0.5 else 1
        ev = rng.random()
        if ev < 0.04:         # the receiver's window fills, then zero-window probes and their ACKs
            add(1 - d, ACK, w=0)
            for k in range(rng.randint(1, 3)):
                add(d, ACK, rng.randbytes(1), seq=nxt[d], dt=0.2 * 2 ** k)
                add(1 - d, ACK, w=0)
            add(1 - d, ACK)
            continue
        if ev < 0.07:         # keep-alives: one below the next sequence number, 0 or 1 byte
            for _k in range(rng.randint(1, 3)):
                add(d, ACK, rng.choice((b"", b"\0")), seq=(nxt[d] - 1) & M32, dt=rng.choice((75.0, 7200.0, 1.0)))
                add(1 - d, ACK)
            continue
        if ev < 0.11:         # a lost segment, duplicate ACKs with SACK blocks, a fast retransmission
            lost = add(d, PSH | ACK, rng.randbytes(rng.choice((100, 1448))))
            after = [add(d, PSH | ACK, rng.randbytes(rng.choice((100, 1448)))) for _k in range(rng.randint(1, 4))]
            c.segs.remove(lost)
            for a in after:
                o = (b"\x01\x01" + opt_sack([(a.seq, a.seq + len(a.payload))])) if sack_on else None
                add(1 - d, ACK, ack=lost.seq, opts=o, dt=0.0001)
            add(d, lost.flags, lost.payload, seq=lost.seq, dt=0.001)
            add(1 - d, ACK)
            continue
        if ev < 0.13:         # out of order: the second segment first
            a = add(d, PSH | ACK, rng.randbytes(50))
            b = add(d, PSH | ACK, rng.randbytes(50))
            a.ts, b.ts = b.ts, a.ts
            add(1 - d, ACK)
            continue
        if ev < 0.15:         # quiet for longer than the idle timeout
            t += rng.choice((3601.0, 7300.0, 11.0))
        n = rng.choice((1, 10, 97, 536, 1448, 1460, rng.randint(1, 1460)))
        s = add(d, PSH | ACK, rng.randbytes(n))
        if rng.random() < 0.08:
            add(d, s.flags, s.payload, seq=s.seq, dt=0.2)     # retransmission
        if rng.random() < 0.05:
            c.segs.append(Seg(s.ts + 1e-6, s.d, s.flags, s.seq, s.ack, s.win, s.opts, s.payload, s.ipid, idx))
        if rng.random() < 0.75:
            w = 0 if rng.random() < 0.08 else None
            opts = None
            if sack_on and rng.random() < 0.15:
                opts = b"\x01\x01" + opt_sack([(nxt[d] + 100, nxt[d] + 200)])
            add(1 - d, ACK, w=w, opts=opts)
            if w == 0:
                add(1 - d, ACK, dt=0.05)      # window update
    # end
    r = rng.random()
    if r < 0.45:
        a = 0 if rng.random() < 0.6 else 1
        add(a, FIN | ACK)
        if rng.random() < 0.4:
            add(1 - a, FIN | ACK)         # FIN+ACK in one
            add(a, ACK)
        else:
            add(1 - a, ACK)
            if rng.random() < 0.3:
                add(1 - a, PSH | ACK, rng.randbytes(rng.randint(1, 200)))   # half-close
                add(a, ACK)
            add(1 - a, FIN | ACK)
            add(a, ACK)
    elif r < 0.55:
        fa, fb = nxt[0], nxt[1]
        add(0, FIN | ACK)
        add(1, FIN | ACK, ack=fa)       # crossed FINs
        add(0, ACK)
        add(1, ACK)
        del fb
    elif r < 0.75:
        d = 0 if rng.random() < 0.5 else 1
        add(d, RST | (ACK if rng.random() < 0.7 else 0))
        if rng.random() < 0.2:
            add(1 - d, PSH | ACK, rng.randbytes(20))    # after the reset
    elif r < 0.85 and opened:
        add(0, rng.choice((FIN | SYN, SYN | RST, 0, FIN | PSH | URG, 0xFFF, ECE | CWR | ACK)))
    return c


def gen_segments(rng: random.Random) -> tuple[list, list]:
    """Conversations (some on reused 4-tuples) and all their segments in time order; now and then
    more than 256 of them, one left open (the output's reorder buffer fills)."""
    t0 = rng.choice((1_700_000_000.0, 0.0, 4_294_967_000.0, 1_000_000.5)) + rng.random()
    convs = []
    if rng.random() < 0.015:
        first = gen_conv(rng, t0, 0, 4)
        first.segs = [x for x in first.segs if not x.flags & (FIN | RST)]
        convs.append(first)
        for i in range(1, rng.choice((260, 300, 600))):
            c = Conv(4, bytes((10, 1, i >> 8, i & 0xFF)), b"\x0a\x02\0\x01", 1024 + i, 80)
            t = t0 + 0.001 * i
            isn = rng.getrandbits(32)
            for d, fl, sq, ak in ((0, SYN, isn, 0), (1, RST | ACK, 0, isn + 1)) if rng.random() < 0.5 else \
                    ((0, SYN, isn, 0), (1, SYN | ACK, 5, isn + 1), (0, RST, isn + 1, 0)):
                t += 0.0001
                c.segs.append(Seg(t, d, fl, sq, ak, 1000, b"", b"", i, i))
            convs.append(c)
        segs = sorted((s for c in convs for s in c.segs), key=lambda s: s.ts)
        return convs, segs
    for i in range(rng.choice((1, 1, 2, 3, 4, 6, 10))):
        ports = None
        if convs and rng.random() < 0.2:
            prev = rng.choice(convs)
            ports = (prev.cport, prev.sport)
            last = prev.segs[-1].ts if prev.segs else t0
            c = gen_conv(rng, last + rng.choice((0.001, 1.0, 30.0, 300.0)), i, prev.v, ports)
            c.caddr, c.saddr = prev.caddr, prev.saddr
        else:
            c = gen_conv(rng, t0 + rng.random() * rng.choice((0.01, 1, 100)), i)
        convs.append(c)
    segs = sorted((s for c in convs for s in c.segs), key=lambda s: s.ts)
    return convs, segs


def conv_mutate(rng: random.Random, convs: list, segs: list) -> tuple[list, str]:
    """Conversation-level changes to a list of segments."""
    if not segs:
        return segs, "none"
    k = rng.choice(("retransmit", "duplicate", "reorder", "after_end", "one_side", "midstream", "drop",
                    "reuse_new_isn", "wrap_seq", "jitter_ts"))
    segs = list(segs)
    if k == "retransmit":
        for _ in range(rng.randint(1, 4)):
            s = rng.choice(segs)
            segs.append(Seg(s.ts + rng.choice((0.0001, 0.2, 1.0)), s.d, s.flags, s.seq, s.ack, s.win, s.opts,
                            s.payload, (s.ipid + 7) & 0xFFFF, s.conv))
    elif k == "duplicate":
        i = rng.randrange(len(segs))
        segs.insert(i + 1, segs[i])
    elif k == "reorder":
        for _ in range(rng.randint(1, 3)):
            i, j = rng.randrange(len(segs)), rng.randrange(len(segs))
            segs[i], segs[j] = segs[j], segs[i]
    elif k == "after_end":
        last = segs[-1]
        for n in range(rng.randint(1, 4)):
            segs.append(Seg(last.ts + 0.01 * (n + 1), rng.randint(0, 1), rng.choice((ACK, PSH | ACK, FIN | ACK, RST)),
                            last.seq + rng.randint(0, 3000), last.ack, last.win, b"", rng.randbytes(rng.randint(0, 50)),
                            0, last.conv))
    elif k == "one_side":
        d = rng.randint(0, 1)
        segs = [s for s in segs if s.d == d] or segs
    elif k == "midstream":
        segs = segs[rng.randint(1, max(1, len(segs) // 2)):] or segs
    elif k == "drop":
        for _ in range(rng.randint(1, 3)):
            if len(segs) > 1:
                segs.pop(rng.randrange(len(segs)))
    elif k in ("reuse_new_isn", "wrap_seq"):
        delta = rng.getrandbits(32) if k == "reuse_new_isn" else (M32 - rng.randint(0, 2000))
        shift = segs[-1].ts - segs[0].ts + rng.choice((0.001, 2.0, 100.0, 500.0))
        again = [Seg(s.ts + shift, s.d, s.flags, (s.seq + delta) & M32, (s.ack + delta) & M32, s.win, s.opts,
                     s.payload, s.ipid, s.conv) for s in segs]
        segs = segs + again if k == "reuse_new_isn" else again
    else:
        segs = [Seg(s.ts + rng.choice((0, 0, -0.5, 1e-7, 5000.0)), s.d, s.flags, s.seq, s.ack, s.win, s.opts,
                    s.payload, s.ipid, s.conv) for s in segs]
    return segs, k


def seg_frame(seg: Seg, conv: Conv, lt: int, rng: random.Random, tags=()) -> Frame:
    src, dst = (conv.caddr, conv.saddr) if seg.d == 0 else (conv.saddr, conv.caddr)
    sp, dp = (conv.cport, conv.sport) if seg.d == 0 else (conv.sport, conv.cport)
    v = conv.v
    if lt == 228 and v == 6 or lt == 229 and v == 4:
        lt = 101
    ip = Ip(v, src, dst, 6, 64, seg.ipid)
    tcp = Tcp(sp, dp, seg.seq, seg.ack if seg.flags & ACK else (seg.ack if rng.random() < 0.1 else 0),
              seg.flags, seg.win, 0, seg.opts, seg.payload)
    fr = Frame(lt, [ip], tcp, link_prefix(lt, v, rng), tags=list(tags))
    if lt == 1 and rng.random() < 0.1:
        fr.trailer = bytes(max(0, 60 - 14 - 20 - 20 - len(seg.opts) - len(seg.payload)))    # Ethernet padding
    return fr


def gen_capture(rng: random.Random, container: str | None = None):
    """A built capture model (Pcap or Pcapng) of a few random conversations, and what was done."""
    convs, segs = gen_segments(rng)
    ops = []
    if rng.random() < 0.35:
        segs, k = conv_mutate(rng, convs, segs)
        ops.append("conv:" + k)
    container = container or ("pcap" if rng.random() < 0.55 else "pcapng")
    if container == "pcap":
        lt = rng.choice(GEN_LINKS)
        tags = []
        if lt == 1 and rng.random() < 0.15:
            tags = [(rng.choice(VLAN_TPIDS), rng.getrandbits(12)) for _ in range(rng.randint(1, 2))]
        pc = Pcap(rng.choice("<>"), rng.random() < 0.4, lt, rng.choice((262144, 65535, 262144, 1500, 96)))
        for s in segs:
            pc.add_frame(s.ts, lt, seg_frame(s, convs[s.conv], lt, rng, tags).build())
        if pc.snaplen < 1000:
            for r in pc.records:
                if len(r.data) > pc.snaplen:
                    r.wire, r.data = len(r.data), r.data[:pc.snaplen]
        ops.append(f"gen:pcap{pc.endian}{'ns' if pc.nano else 'us'}:lt{lt}")
        return pc, ops
    ng = Pcapng()
    nsec = 1 if rng.random() < 0.8 else rng.randint(2, 3)
    cut = sorted(rng.sample(range(1, max(2, len(segs))), min(nsec - 1, max(0, len(segs) - 1)))) if nsec > 1 else []
    parts = [segs[a:b] for a, b in zip([0] + cut, cut + [len(segs)])]
    desc = []
    for part in parts:
        e = rng.choice("<>")
        shb_opts = [(4, b"tcpflow-explain fuzz")] if rng.random() < 0.3 else ()
        ng.blocks.append(shb(e, shb_opts))
        ifs = []
        for _ in range(rng.choice((1, 1, 2, 3, 4))):
            lt = rng.choice(GEN_LINKS)
            opts = []
            r = rng.random()
            if r < 0.3:
                opts.append((9, bytes((9,))))
                unit = 1e-9
            elif r < 0.4:
                n = rng.choice((10, 20, 30))
                opts.append((9, bytes((0x80 | n,))))
                unit = 2.0 ** -n
            elif r < 0.45:
                opts.append((9, bytes((3,))))
                unit = 1e-3
            else:
                unit = 1e-6
            off = 0
            if rng.random() < 0.15:
                off = rng.choice((1, -1, 1000, 1_700_000_000))
                opts.append((14, struct.pack(e + "q", off)))
            if rng.random() < 0.3:
                opts.insert(0, (2, b"eth%d" % len(ifs)))
            ng.blocks.append(idb(e, lt, rng.choice((262144, 65535, 0)), opts))
            ifs.append((lt, unit, off))
        for s in part:
            k = s.conv % len(ifs) if rng.random() < 0.9 else rng.randrange(len(ifs))
            lt, unit, off = ifs[k]
            data = seg_frame(s, convs[s.conv], lt, rng).build()
            units = int(round((s.ts - off) / unit)) & ((1 << 64) - 1)
            r = rng.random()
            if r < 0.06 and k == 0:
                ng.blocks.append(Block(3, struct.pack(e + "I", len(data)) + pad4(data), e))     # SPB
            elif r < 0.1:
                ng.blocks.append(Block(2, struct.pack(e + "HHIIII", k, 0, (units >> 32) & M32, units & M32, len(data),
                                                      len(data)) + pad4(data), e))              # obsolete PB
            else:
                eopts = [(1, struct.pack(e + "I", rng.choice((1, 2))))] if rng.random() < 0.1 else ()
                ng.blocks.append(epb(e, k, units, data, opts=eopts))
            if rng.random() < 0.03:
                ng.blocks.append(Block(5, struct.pack(e + "III", k, 0, 0), e))                  # ISB
        desc.append(e + "/".join(str(i[0]) for i in ifs))
    ops.append("gen:pcapng:" + ",".join(desc))
    return ng, ops


# ================================================================== frame mutators


def _ip_frames(model):
    out = []
    for ref, lt, data in model.frames():
        fr = parse_frame(lt, data)
        if fr is not None:
            out.append((ref, fr))
    return out


def mut_frame(rng: random.Random, model) -> str:
    """Change one field of the link, IP or TCP layer of one or a few frames."""
    frames = _ip_frames(model)
    if not frames:
        return mut_frame_bytes(rng, model)
    kind = rng.choice(FRAME_MUTATORS)
    n = 1 if rng.random() < 0.7 else rng.randint(2, max(2, len(frames)))
    picked = rng.sample(frames, min(n, len(frames)))
    for ref, fr in picked:
        cut = kind(rng, fr) is True
        data = fr.build()
        if cut:
            data = data[:rng.choice((0, 1, 2, 3, 4, 6, 13, 14, 15, 16, 17, 19, 20, 21, 24, 33, 34, 38, 40, 53, 54,
                                     rng.randint(0, len(data)), rng.randint(0, len(data))))]
        model.set_frame(ref, data, keep_wire=cut)
    return "frame:" + kind.__name__[3:]


def mut_frame_bytes(rng: random.Random, model) -> str:
    frames = model.frames()
    if not frames:
        return "frame:none"
    ref, _lt, data = rng.choice(frames)
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if data:
            data[rng.randrange(len(data))] = rng.getrandbits(8)
    model.set_frame(ref, bytes(data))
    return "frame:bytes"


def fm_eth_type(rng, fr: Frame):
    if fr.lt == 1:
        fr.etype = rng.choice((ETH_IPV4, ETH_IPV6, 0x0806, 0x8100, 0x88A8, 0x8864, 0x8847, 0x05DC, 0x0600, 0, 0xFFFF))
    else:
        p = bytearray(fr.prefix or b"\0\0\0\0")
        p[rng.randrange(len(p))] = rng.getrandbits(8)
        fr.prefix = bytes(p)


def fm_vlan(rng, fr: Frame):
    if fr.lt != 1:
        fr.lt, fr.prefix = 1, b""
    fr.tags = [(rng.choice(VLAN_TPIDS), rng.getrandbits(16)) for _ in range(rng.choice((1, 2, 2, 3, 8)))]
    if rng.random() < 0.2:
        return True      # cut right after the tags


def fm_ipv4(rng, fr: Frame):
    ip = fr.ips[0] if fr.ips[0].v == 4 else None
    if ip is None:
        return fm_ipv6(rng, fr)
    k = rng.randrange(7)
    if k == 0:
        ip.ihl = rng.randrange(16)
    elif k == 1:
        ip.length = rng.choice((0, 1, 19, 20, 39, 40, 41, 60, 0xFFFF, rng.getrandbits(16)))
    elif k == 2:
        ip.frag = rng.choice((0, 1, 8, 0x1FFF))
        ip.flags = rng.choice((0, 1, 2, 3, 4, 7))
    elif k == 3:
        ip.proto = rng.choice((6, 17, 1, 4, 41, 47, 50, 115, 132, 0, 255))
    elif k == 4:
        ip.options = rng.choice((b"\x01" * 4, b"\x00" * 4, b"\x07\x07\x04" + bytes(4), b"\x44\x02",
                                 b"\x83\xff", rng.randbytes(rng.randint(1, 40))))
        if rng.random() < 0.3:
            ip.ihl = rng.randrange(16)
    elif k == 5:
        ip.csum = rng.getrandbits(16)
    else:
        ip.src, ip.dst = ip.dst, ip.src if rng.random() < 0.5 else rng.randbytes(4)


def fm_ipv6(rng, fr: Frame):
    ip = fr.ips[0]
    if ip.v != 6:
        return fm_ipv4(rng, fr)
    k = rng.randrange(5)
    if k == 0:
        ip.length = rng.choice((0, 1, 19, 20, 40, 0xFFFF, rng.getrandbits(16)))
    elif k == 1:
        ip.proto = rng.choice((6, 17, 58, 59, 4, 41, 0, 43, 44, 60, 51, 255))
    elif k in (2, 3):
        for _ in range(rng.randint(1, 6)):
            t = rng.choice((0, 43, 60, 44, 51, 0, 60))
            if t == 44:
                raw = bytes((0, 0)) + struct.pack("!HI", rng.choice((0, 1, 8, 0xFFF9)), rng.getrandbits(32))
            elif t == 51:
                n = rng.choice((1, 4))
                raw = bytes((0, n)) + rng.randbytes((n + 2) * 4 - 2)
            else:
                n = rng.choice((0, 0, 1, 2))
                raw = bytes((0, n)) + bytes(6 + 8 * n)
                if t == 0 and rng.random() < 0.4:     # jumbo payload option
                    raw = bytes((0, 0, 0xC2, 4)) + struct.pack("!I", rng.choice((0, 1, 65536, 70000, M32)))
                    ip.length = 0
                if rng.random() < 0.15:
                    raw = raw[:1] + bytes((rng.choice((5, 31, 255)),)) + raw[2:]   # length past the packet
            ip.ext.insert(rng.randint(0, len(ip.ext)), [t, raw])
    else:
        ip.ext.insert(0, [59, bytes(8)]) if rng.random() < 0.5 else ip.ext.append([0, bytes((0, 0xFF)) + bytes(6)])


def fm_to_ipv6(rng, fr: Frame):
    """The same TCP segment over IPv6 (or IPv4), with the link header rewritten."""
    old = fr.ips[0]
    v = 6 if old.v == 4 else 4
    n = 16 if v == 6 else 4
    mk = (lambda a: (b"\xfd\0" + bytes(10) + a)[-16:]) if v == 6 else (lambda a: a[-4:])
    fr.ips = [Ip(v, mk(old.src)[:n], mk(old.dst)[:n], 6, old.ttl, old.ident)]
    if fr.lt != 1:
        fr.prefix = link_prefix(fr.lt, v, rng)
    fr.etype = None


def fm_tunnel(rng, fr: Frame):
    inner = fr.ips[0]
    v = 4 if rng.random() < 0.6 else 6
    if rng.random() < 0.4:
        outer = Ip(v, b"\xc0\0\x02\x01" if v == 4 else b"\x20\x01\x0d\xb8" + bytes(11) + b"\x01",
                   b"\xc0\0\x02\x02" if v == 4 else b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02", 17)
        fl = rng.choice((0x0002, 0x4002, 0x0802, 0x4A02, 0x0202, 0x8002, 0x0003, 0x4802))
        outer.l2tp = (inner.v if rng.random() < 0.9 else 10 - inner.v, fl, rng.choice((b"\xff\x03", b"")))
        fr.ips.insert(0, outer)
        if fr.lt != 1:
            fr.prefix = link_prefix(fr.lt, v, rng)
        fr.etype = None
        return
    outer = Ip(v, b"\xc0\0\x02\x01" if v == 4 else b"\x20\x01\x0d\xb8" + bytes(11) + b"\x01",
               b"\xc0\0\x02\x02" if v == 4 else b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02", 4 if inner.v == 4 else 41)
    if rng.random() < 0.2:
        outer.proto = 41 if outer.proto == 4 else 4       # says the wrong inner version
    fr.ips.insert(0, outer)
    if fr.lt != 1:
        fr.prefix = link_prefix(fr.lt, v, rng)
    fr.etype = None


def fm_tcp_off(rng, fr: Frame):
    fr.tcp.off = rng.randrange(16)


def fm_tcp_flags(rng, fr: Frame):
    fr.tcp.flags = rng.getrandbits(12) if rng.random() < 0.3 else rng.getrandbits(8)


def fm_tcp_seq(rng, fr: Frame):
    t = fr.tcp
    if rng.random() < 0.5:
        t.seq = pick_int(rng, t.seq)
    else:
        t.ack = pick_int(rng, t.ack)
    if rng.random() < 0.3:
        t.seq = (M32 - rng.randint(0, len(t.payload) + 2)) & M32     # wrap inside the segment


def fm_tcp_win(rng, fr: Frame):
    fr.tcp.win = rng.choice((0, 0, 1, 0xFFFF, rng.getrandbits(16)))


def fm_tcp_urg(rng, fr: Frame):
    fr.tcp.urg = rng.choice((0, 1, len(fr.tcp.payload), 0xFFFF, rng.getrandbits(16)))
    if rng.random() < 0.7:
        fr.tcp.flags |= URG


def fm_tcp_options(rng, fr: Frame):
    t = fr.tcp
    room = 40
    t.options = bad_options(rng, room)
    if rng.random() < 0.2:
        t.off = rng.choice((5, 6, 15, (20 + len(t.options)) // 4))
    if rng.random() < 0.3:
        t.flags |= SYN


def fm_tcp_csum(rng, fr: Frame):
    fr.tcp.csum = rng.getrandbits(16)
    if rng.random() < 0.3:
        fr.ips[-1].csum = rng.getrandbits(16)


def fm_payload(rng, fr: Frame):
    fr.tcp.payload = rng.randbytes(rng.choice((0, 1, 2, 1460, 9000, rng.randint(0, 3000))))
    if rng.random() < 0.3:
        fr.ips[-1].length = rng.choice((0, 40, 60, 1500))


def fm_cut(rng, fr: Frame):
    return True     # cut the frame somewhere, keeping its wire length (a snaplen cut)


def fm_trailer(rng, fr: Frame):
    fr.trailer = rng.randbytes(rng.choice((1, 4, 18, 100)))


FRAME_MUTATORS = (fm_eth_type, fm_vlan, fm_ipv4, fm_ipv6, fm_to_ipv6, fm_tunnel, fm_tcp_off, fm_tcp_flags,
                  fm_tcp_flags, fm_tcp_seq, fm_tcp_win, fm_tcp_urg, fm_tcp_options, fm_tcp_options, fm_tcp_csum,
                  fm_payload, fm_cut, fm_trailer)


def mut_replay(rng: random.Random, model) -> str:
    """Conversation level on any capture: its TCP frames again, later, with new ISNs (the same 4-tuples)."""
    frames = _ip_frames(model)
    if not frames or len(frames) > 400:
        return mut_frame(rng, model)
    delta = rng.getrandbits(32)
    only = rng.choice((None, 0, 1))
    first = frames[0][1].tcp.sport
    lts = dict((ref, lt) for ref, lt, _d in model.frames())
    for ref, fr in frames:
        if only is not None and (fr.tcp.sport == first) != bool(only):
            continue
        fr.tcp.seq = (fr.tcp.seq + delta) & M32
        fr.tcp.ack = (fr.tcp.ack + delta * rng.choice((1, 1, 0))) & M32
        data = fr.build()
        if isinstance(model, Pcap):
            r = model.records[ref]
            model.records.append(Rec(r.sec + rng.choice((1, 60, 300, 0)), r.frac, data))
        else:
            model.add_frame(2_000_000_000.0 + ref * 0.001, lts[ref], data)
    return "conv:replay_new_isn" if only is None else "conv:replay_one_side"



def replace_frame(model, ref, datas: list) -> None:
    """Frame `ref` replaced by several frames (same timestamp, same interface)."""
    if isinstance(model, Pcap):
        r = model.records[ref]
        model.records[ref:ref + 1] = [Rec(r.sec, r.frac + i, d) for i, d in enumerate(datas)]
        return
    b = model.blocks[ref]
    new = []
    for d in datas:
        c = _copy(b)
        tmp = Pcapng([c])
        tmp.set_frame(0, d)
        new.append(c)
    model.blocks[ref:ref + 1] = new


def mut_fragment(rng: random.Random, model) -> str:
    """A TCP segment sent as IP fragments: in order or not, with holes, overlaps, copies, a missing
    last piece, an oversized datagram; or very many datagrams that never complete."""
    frames = _ip_frames(model)
    if not frames:
        return mut_frame(rng, model)
    ref, fr = rng.choice(frames)
    ip = fr.ips[0]
    inner = b""
    pkt = fr.tcp.build(fr.ips[-1].pseudo())
    for x in reversed(fr.ips[1:]):
        pkt = x.build(pkt)
    inner = pkt
    ident = rng.getrandbits(16 if ip.v == 4 else 32)
    proto = ip.proto if ip.v == 4 else ip.proto
    kind = rng.choice(("ordered", "reversed", "hole", "overlap", "copy", "no_last", "oversized", "tiny", "flood",
                       "cut", "ordered"))
    size = rng.choice((8, 16, 24, 64, 512, 1480))
    offs = list(range(0, max(1, len(inner)), size))
    pieces = [[o, inner[o:o + size], o + size < len(inner)] for o in offs]     # offset, data, more
    if kind == "reversed":
        pieces.reverse()
    elif kind == "hole" and len(pieces) > 1:
        pieces.pop(rng.randrange(len(pieces) - 1))
    elif kind == "overlap":
        o = rng.randrange(0, max(1, len(inner)), 8)
        pieces.insert(rng.randint(0, len(pieces)), [o, rng.randbytes(rng.choice((8, 16, size))), True])
    elif kind == "copy":
        i = rng.randrange(len(pieces))
        pieces.insert(i, list(pieces[i]))
    elif kind == "no_last":
        pieces[-1][2] = True
    elif kind == "oversized":
        pieces.append([65528, rng.randbytes(24), False])
    elif kind == "tiny":
        pieces = [[0, inner[:8], True], [8, inner[8:], False]] if rng.random() < 0.5 else [[0, inner, True]]

    def one(off, data, more, ident=ident):
        if ip.v == 4:
            f = Ip(4, ip.src, ip.dst, proto, ip.ttl, ident, flags=(1 if more else 0), frag=(off // 8) & 0x1FFF)
            return fr.wrap(f.build(data))
        f = Ip(6, ip.src, ip.dst, proto, ip.ttl)
        f.ext = [[44, bytes((0, 0)) + struct.pack("!HI", ((off // 8) << 3 | (1 if more else 0)) & 0xFFFF, ident)]]
        return fr.wrap(f.build(data))

    if kind == "flood":
        n = rng.choice((50, 1100))
        datas = [one(0, inner[:8] or b"\0" * 8, True, ident=(ident + i) & 0xFFFF) for i in range(n)]
    else:
        datas = [one(o, d, m) for o, d, m in pieces]
    if kind == "cut" and datas:
        i = rng.randrange(len(datas))
        replace_frame(model, ref, datas)
        model.set_frame(ref + i, datas[i][:max(0, len(datas[i]) - rng.randint(1, 20))], keep_wire=True)
        return "frame:fragment_cut"
    replace_frame(model, ref, datas)
    return "frame:fragment_" + kind


# ================================================================== container mutators


def _units_ops(rng, units: list, others: list, make_other) -> str:
    k = rng.choice(("drop", "dup", "reorder", "splice", "shuffle", "repeat"))
    if not units:
        k = "splice"
    if k == "drop" and units:
        for _ in range(rng.randint(1, 3)):
            if units:
                units.pop(rng.randrange(len(units)))
    elif k == "dup":
        i = rng.randrange(len(units))
        units.insert(i + rng.randint(0, 3), _copy(units[i]))
    elif k == "reorder":
        i, j = rng.randrange(len(units)), rng.randrange(len(units))
        units[i], units[j] = units[j], units[i]
    elif k == "shuffle":
        i = rng.randrange(len(units))
        part = units[i:i + rng.randint(2, 10)]
        rng.shuffle(part)
        units[i:i + len(part)] = part
    elif k == "repeat":
        i = rng.randrange(len(units))
        u = units[i]
        size = 16 + len(u.data) if isinstance(u, Rec) else 12 + len(u.body)
        n = min(rng.choice((2, 10, 100, 1000, 3000)), max(2, 300_000 // size))
        units[i:i + 1] = [_copy(u) for _ in range(n)]
    else:
        got = make_other()
        if got:
            pos = rng.randint(0, len(units))
            units[pos:pos] = got
    return "units:" + k


def _copy(u):
    if isinstance(u, Rec):
        return Rec(u.sec, u.frac, u.data, u.caplen, u.wire)
    return Block(u.btype, u.body, u.endian, u.len1, u.len2)


PCAP_KINDS = ("magic", "version", "snaplen", "linktype", "byteorder", "rec_ts", "rec_caplen", "rec_wirelen",
              "rec_snapcut", "records", "tail", "records")


def mut_pcap(rng: random.Random, pc: Pcap, seeds, kind: str | None = None) -> str:
    """One change to a pcap's file header, a record header, or its list of records."""
    k = PCAP_KINDS.index(kind) if kind else rng.randrange(len(PCAP_KINDS))
    recs = pc.records
    if k == 0:
        pc.magic = rng.choice((0xA1B2C3D4, 0xA1B23C4D, 0xD4C3B2A1, 0x4D3CB2A1, 0xA1B2CD34, 0x0A0D0D0A, 0))
        return "pcap:magic"
    if k == 1:
        pc.vmaj, pc.vmin = rng.choice(((2, 4), (2, 3), (1, 0), (0, 0), (0xFFFF, 0xFFFF), (3, 0)))
        pc.zone, pc.sigfigs = rng.choice((0, -3600, 2 ** 31 - 1)), rng.choice((0, 6, M32))
        return "pcap:version"
    if k == 2:
        pc.snaplen = rng.choice((0, 1, 14, 40, 54, 60, 96, 1500, 65535, 262144, 262145, M32))
        return "pcap:snaplen"
    if k == 3:
        pc.linktype = rng.choice(LINKS + OTHER_LINKS + (0x10000001, 0x0C000001, M32, 0x0FFFFFFF))
        return "pcap:linktype"
    if k == 4:
        pc.endian = ">" if pc.endian == "<" else "<"     # header rewritten, records too: still consistent
        return "pcap:byteorder"
    if not recs:
        return _units_ops(rng, recs, seeds, lambda: _other_recs(rng, seeds, pc))
    r = rng.choice(recs)
    if k == 5:
        r.sec = rng.choice((0, 1, M32, 0x7FFFFFFF, r.sec - 1, r.sec + 86400 * 365))
        r.frac = rng.choice((0, r.frac, 999999, 1000000, 999999999, 1000000000, M32))
        return "rec:ts"
    if k == 6:
        cap = len(r.data)
        r.caplen = rng.choice((0, 1, cap - 1, cap + 1, cap + 16, 256 * 1024, 256 * 1024 + 1, M32, 0x7FFFFFFF,
                               rng.getrandbits(16)))
        return "rec:caplen"
    if k == 7:
        cap = len(r.data)
        r.wire = rng.choice((0, 1, cap - 1, cap + 1, 65535, 0x7FFFFFFF, M32))
        return "rec:wirelen"
    if k == 8:
        r.wire = len(r.data) if r.wire is None else r.wire
        r.data = r.data[:rng.choice((0, 1, 13, 14, 20, 34, 40, 54, rng.randint(0, len(r.data))))]
        return "rec:snapcut"
    if k == 9:
        return _units_ops(rng, recs, seeds, lambda: _other_recs(rng, seeds, pc))
    if k == 10:
        pc.tail = rng.choice((b"\0", bytes(15), rng.randbytes(rng.randint(1, 40)), struct.pack(pc.endian + "IIII", 0, 0,
                              100, 100) + bytes(10)))
        return "pcap:tail"
    return _units_ops(rng, recs, seeds, lambda: _other_recs(rng, seeds, pc))


def _other_recs(rng, seeds, pc):
    other = parse_capture(rng.choice(seeds)[1])
    if other is None:
        return []
    fr = other.frames()
    if not fr:
        return []
    i = rng.randrange(len(fr))
    return [ts_rec(1_700_000_000 + rng.random(), d, pc.nano) for _r, _lt, d in fr[i:i + rng.randint(1, 8)]]


def _block_fields_min(btype: int) -> int:
    return {1: 8, 6: 20, 2: 20, 3: 4, SHB_TYPE: 16, 5: 12, 4: 4}.get(btype, 0)


PCAPNG_KINDS = ("block_type", "block_len", "short_block", "short_block", "shb", "new_section", "idb_linktype",
                "idb_snaplen", "idb_options", "idb_options", "idb_many", "epb_ifid", "epb_caplen", "epb_convert",
                "unknown_block", "sections_or_tail", "blocks")


def mut_pcapng(rng: random.Random, ng: Pcapng, seeds, kind: str | None = None) -> str:
    """One change to a pcapng block's type, lengths or fields, or to the list of blocks."""
    blocks = ng.blocks
    if not blocks:
        ng.blocks.append(shb("<"))
        return "ng:add_shb"
    k = PCAPNG_KINDS.index(kind) if kind else rng.randrange(len(PCAPNG_KINDS))
    b = rng.choice(blocks)
    e = b.endian
    if k == 0:
        b.btype = rng.choice((1, 2, 3, 4, 5, 6, 7, 10, SHB_TYPE, 0, 0xBAD, 0x40000BAD, 0x80000001, M32))
        return "ng:block_type"
    if k == 1:
        total = 12 + len(b.body)
        v = rng.choice((0, 4, 8, 12, 16, 20, 24, 28, total - 4, total + 4, total - 1, total + 1, total + 2,
                        16 * 1024 * 1024 + 4, 0x7FFFFFFC, M32))
        w = rng.randrange(3)
        if w in (0, 2):
            b.len1 = v
        if w in (1, 2):
            b.len2 = v if w == 2 or rng.random() < 0.5 else rng.choice((0, total + 4))
        return "ng:block_len"
    if k in (2, 3):
        # a block too small for its type's fields: body cut to 0/4/8/12/16 bytes, lengths consistent
        cands = [x for x in blocks if x.btype in (1, 2, 3, 5, 6)] or blocks
        b = rng.choice(cands)
        need = _block_fields_min(b.btype)
        b.body = b.body[:rng.choice([n for n in (0, 4, 8, 12, 16) if n < max(need, 4)] or [0])]
        b.len1 = b.len2 = None
        if rng.random() < 0.5:            # at the end of the file
            blocks.remove(b)
            blocks.append(b)
        return "ng:short_block"
    if k == 4:
        shbs = [x for x in blocks if x.btype == SHB_TYPE and len(x.body) >= 16]
        if shbs:
            s = rng.choice(shbs)
            body = bytearray(s.body)
            what = rng.randrange(3)
            if what == 0:
                body[0:4] = rng.choice((b"\x1a\x2b\x3c\x4d", b"\x4d\x3c\x2b\x1a", b"\0\0\0\0", b"\x1a\x2b\x3c\x4e"))
            elif what == 1:
                struct.pack_into(e + "HH", body, 4, *rng.choice(((1, 0), (2, 0), (0, 0), (1, 2), (0xFFFF, 0xFFFF))))
            else:
                struct.pack_into(e + "q", body, 8, rng.choice((-1, 0, 1, 28, 2 ** 62, -2)))
            s.body = bytes(body)
        return "ng:shb"
    if k == 5:
        pos = rng.randint(1, len(blocks))
        ne = rng.choice("<>")
        blocks.insert(pos, shb(ne))
        if rng.random() < 0.2:
            blocks[pos].body = rng.choice((b"\0\0\0\0", b"\x1a\x2b\x3c\x4e")) + blocks[pos].body[4:]
        if rng.random() < 0.5:
            blocks.insert(pos + 1, idb(ne, rng.choice(LINKS)))
        return "ng:new_section"
    idbs = [x for x in blocks if x.btype == 1 and len(x.body) >= 8]
    if k == 6 and idbs:
        x = rng.choice(idbs)
        lt = rng.choice(LINKS + OTHER_LINKS)
        x.body = struct.pack(x.endian + "H", lt) + x.body[2:]
        return "idb:linktype"
    if k == 7 and idbs:
        x = rng.choice(idbs)
        x.body = x.body[:4] + struct.pack(x.endian + "I", rng.choice((0, 1, 14, 54, 65535, M32))) + x.body[8:]
        return "idb:snaplen"
    if k in (8, 9) and idbs:
        x = rng.choice(idbs)
        xe = x.endian
        r = rng.randrange(7)
        if r == 0:
            v = rng.choice((0, 1, 3, 6, 9, 12, 19, 20, 63, 127, 255, 0x80, 0x81, 0x8A, 0x9E, 0xBF, 0xFF))
            opts = options(xe, [(9, bytes((v,)))])
        elif r == 1:
            opts = options(xe, [(9, rng.choice((b"", b"\x09\x09", b"\x06" * 8)))])
        elif r == 2:
            opts = options(xe, [(14, struct.pack(xe + "q", rng.choice((0, 1, -1, 2 ** 62, -2 ** 63, 1_700_000_000))))])
            if rng.random() < 0.4:
                opts = options(xe, [(14, rng.choice((b"", b"\1\2\3\4", bytes(7))))])
        elif r == 3:                  # an option running past the block end
            opts = struct.pack(xe + "HH", rng.choice((9, 14, 2, 3)), rng.choice((8, 100, 0xFFFF))) + b"\x09\0\0\0"
        elif r == 4:                  # end of options early, then more
            opts = options(xe, [], end=True) + options(xe, [(9, b"\x09")])
        elif r == 5:                  # many options, unknown codes
            opts = options(xe, [(rng.choice((2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 0x8000, 0xFFFF)),
                                 rng.randbytes(rng.randint(0, 9))) for _ in range(rng.randint(1, 30))])
        else:
            opts = options(xe, [(2, b"\xff\xfe\x00bad"), (9, bytes((rng.getrandbits(8),)))])
        x.body = x.body[:8] + opts
        return "idb:options"
    if k == 10 and idbs:
        x = rng.choice(idbs)
        i = blocks.index(x)
        n = rng.choice((2, 5, 50, 300))
        blocks[i + 1:i + 1] = [idb(x.endian, rng.choice(LINKS + OTHER_LINKS)) for _ in range(n)]
        return "idb:many"
    pkts = [x for x in blocks if x.btype in (6, 2) and len(x.body) >= 20]
    if k == 11 and pkts:
        x = rng.choice(pkts)
        xe = x.endian
        if x.btype == 6:
            v = rng.choice((1, 2, 3, 7, 255, 0xFFFF, 0x10000, M32))
            x.body = struct.pack(xe + "I", v) + x.body[4:]
        else:
            x.body = struct.pack(xe + "H", rng.choice((1, 3, 0xFFFF))) + x.body[2:]
        return "epb:ifid"
    if k == 12 and pkts:
        x = rng.choice(pkts)
        xe = x.endian
        cap, wire = struct.unpack_from(xe + "II", x.body, 12)
        room = len(x.body) - 20
        r = rng.randrange(3)
        if r == 0:
            cap = rng.choice((0, 1, room, room + 1, room + 4, cap + 1, cap - 1, 256 * 1024 + 1, M32)) & M32
        elif r == 1:
            wire = rng.choice((0, 1, cap - 1, cap + 1, M32)) & M32
        else:
            hi, lo = rng.choice(((0, 0), (M32, M32), (0x80000000, 0), (0, M32)))
            x.body = x.body[:4] + struct.pack(xe + "II", hi, lo) + x.body[12:]
            return "epb:ts"
        x.body = x.body[:12] + struct.pack(xe + "II", cap, wire) + x.body[20:]
        return "epb:caplen"
    if k == 13 and pkts:
        x = rng.choice(pkts)
        xe = x.endian
        if x.btype == 6:
            ifid, hi, lo, cap, wire = struct.unpack_from(xe + "IIIII", x.body, 0)
            data = x.body[20:20 + cap]
            if rng.random() < 0.5:
                x.btype = 2
                x.body = struct.pack(xe + "HHIIII", ifid & 0xFFFF, rng.choice((0, 5)), hi, lo, cap, wire) + x.body[20:]
                return "epb:to_pb"
            x.btype = 3
            w = rng.choice((wire, len(data), len(data) + 100, 0, M32))
            x.body = struct.pack(xe + "I", w & M32) + pad4(data)
            return "epb:to_spb"
    if k == 14:
        pos = rng.randint(0, len(blocks))
        bt = rng.choice((4, 5, 7, 8, 9, 10, 0xBAD, 0x40000BAD, 0x80000001, 0x0204, 0x00000BAD))
        body = rng.choice((b"", bytes(4), rng.randbytes(4 * rng.randint(1, 20)), struct.pack(e + "I", 1) * 3))
        blocks.insert(pos, Block(bt, body, e))
        return "ng:unknown_block"
    if k == 15:
        if rng.random() < 0.5 and sum(12 + len(x.body) for x in blocks) < MAX_INPUT // 3:
            blocks.extend(_copy(x) for x in list(blocks))
            return "ng:sections_again"
        ng.tail = rng.choice((b"\0" * 4, bytes(8), rng.randbytes(rng.randint(1, 11)), struct.pack(e + "I", 6)))
        return "ng:tail"
    return _units_ops(rng, blocks, seeds, lambda: _other_blocks(rng, seeds, e))


def _other_blocks(rng, seeds, e):
    other = parse_pcapng(rng.choice(seeds)[1])
    if other is None or not other.blocks:
        return [epb(e, 0, rng.getrandbits(40), rng.randbytes(60))]
    i = rng.randrange(len(other.blocks))
    return [_copy(b) for b in other.blocks[i:i + rng.randint(1, 6)]]


# ================================================================== whole-file mutators


def mut_cut(rng: random.Random, data: bytes, model=None) -> tuple[bytes, str]:
    """Cut at a record/block boundary, inside a record header, or inside the data."""
    if not data:
        return data, "cut:empty"
    bounds = model.boundaries() if model is not None else []
    r = rng.random()
    if bounds and r < 0.35:
        return data[:rng.choice(bounds)], "cut:boundary"
    if bounds and r < 0.75:
        b = rng.choice(bounds)
        return data[:b + rng.choice((1, 2, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23, 24, 27, 28, 30, 40))], "cut:inside_unit"
    if r < 0.85:
        return data[:rng.choice((0, 1, 2, 3, 4, 8, 11, 12, 16, 20, 23, 24, 28, 32))], "cut:header"
    return data[:rng.randint(0, len(data))], "cut:anywhere"


def mut_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    data = bytearray(data)
    if not data:
        return bytes(data), "bytes:empty"
    k = rng.randrange(4)
    for _ in range(rng.randint(1, 6)):
        pos = rng.randrange(len(data))
        if k == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif k == 1:
            data[pos:pos + 4] = pick_int(rng).to_bytes(4, rng.choice(("little", "big")))
        elif k == 2:
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        else:
            del data[pos:pos + rng.randint(1, 8)]
    return bytes(data), "bytes:" + ("flip", "set32", "insert", "delete")[k]


def gzip_members(rng: random.Random, data: bytes) -> bytes:
    n = 1 if rng.random() < 0.6 else rng.randint(2, 4)
    cuts = sorted(rng.randint(0, len(data)) for _ in range(n - 1))
    parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    return b"".join(gzip.compress(p, compresslevel=rng.choice((1, 6, 9)), mtime=0) for p in parts)


def mut_gzip(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Wrap in gzip (one or several members), then maybe corrupt it."""
    gz = gzip_members(rng, data)
    k = rng.randrange(9)
    if k <= 1:
        return gz, "gzip:ok"
    g = bytearray(gz)
    if k == 2:
        g[-8 - rng.randint(0, 3)] ^= 1 << rng.randrange(8)
        return bytes(g), "gzip:crc"
    if k == 3:
        g[-4:] = struct.pack("<I", rng.choice((0, 1, len(data) + 1, M32)))
        return bytes(g), "gzip:isize"
    if k == 4:
        return bytes(g[:rng.randint(10, max(10, len(g) - 1))]), "gzip:cut_member"
    if k == 5:
        tail = rng.choice((b"\0" * rng.randint(1, 20), rng.randbytes(rng.randint(1, 50)), b"\x1f\x8b",
                           b"\x1f\x8b\x08\0" + bytes(6), b"\x1f\x8b" + rng.randbytes(30)))
        return bytes(g) + tail, "gzip:garbage_after"
    if k == 6:
        return bytes(g[:rng.randint(2, 9)]), "gzip:cut_header"
    if k == 7:
        which = rng.randrange(3)
        if which == 0:
            g[2] = rng.choice((0, 7, 9, 255))                       # compression method
        elif which == 1:
            g[3] = rng.choice((1, 2, 4, 8, 16, 0x1F, 0xE0))         # flags: FTEXT FHCRC FEXTRA FNAME FCOMMENT, reserved
        else:
            pos = rng.randint(10, max(10, len(g) - 9))
            if pos < len(g):
                g[pos] ^= rng.randint(1, 255)                       # inside the deflate data
        return bytes(g), "gzip:header_or_data"
    # a small gzip of something that is not a capture, maybe cut (content sniffing reads 24 then 64 bytes)
    small = rng.choice((b"hello, this is not a capture file at all!\n", bytes(30), data[:rng.randint(0, 63)]))
    z = gzip.compress(small, mtime=0)
    return z[:rng.randint(10, len(z))], "gzip:small"


# ================================================================== seeds and inputs


def load_seeds() -> list:
    """(name, bytes) of every capture in sample_pcaps/."""
    return [(p.name, p.read_bytes()) for p in sorted(SAMPLE_DIR.iterdir()) if p.suffix in (".pcap", ".pcapng")]


def make_input(rng: random.Random, seeds: list) -> tuple[bytes, list]:
    """One fuzz input: a seed (a sample or a built capture), 0-4 structural mutations, maybe a cut,
    byte changes or gzip. Returns the bytes and the names of what was done."""
    ops = []
    if rng.random() < 0.35:
        name, blob = rng.choice(seeds)
        model = parse_capture(blob)
        ops.append("seed:" + name)
    else:
        model, gops = gen_capture(rng)
        ops += gops
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
        r = rng.random()
        if r < 0.42:
            ops.append(mut_frame(rng, model))
        elif r < 0.47:
            ops.append(mut_fragment(rng, model))
        elif r < 0.52:
            ops.append(mut_replay(rng, model))
        elif isinstance(model, Pcap):
            ops.append(mut_pcap(rng, model, seeds))
        else:
            ops.append(mut_pcapng(rng, model, seeds))
    data = model.to_bytes()
    if len(data) > MAX_INPUT:
        data = data[:MAX_INPUT]
        ops.append("cut:max_input")
    r = rng.random()
    if r < 0.18:
        data, op = mut_cut(rng, data, model)
        ops.append(op)
    elif r < 0.25:
        data, op = mut_bytes(rng, data)
        ops.append(op)
    if rng.random() < 0.12:
        data, op = mut_gzip(rng, data)
        ops.append(op)
    return data, ops


def input_for(seed: int, index: int, seeds: list) -> tuple[bytes, list]:
    """Input number `index` of the campaign with this seed (the same on every run and worker)."""
    return make_input(random.Random(f"tcpflow-explain-fuzz:{seed}:{index}"), seeds)


def sniff_ext(data: bytes) -> str:
    if data[:2] == b"\x1f\x8b":
        return ".gz"
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return ".pcapng"
    if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        return ".pcap"
    return ".bin"


def gunzip_tolerant(data: bytes) -> bytes | None:
    """What a (possibly corrupt) gzip stream decompresses to, as far as it goes."""
    if data[:2] != b"\x1f\x8b":
        return None
    out = b""
    rest = data
    while rest[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(31)
        try:
            out += d.decompress(rest)
        except zlib.error:
            break
        if not d.eof:
            break
        rest = d.unused_data
    return out

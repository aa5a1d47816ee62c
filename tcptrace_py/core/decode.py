"""decode: raw frames -> one `Packet` per TCP segment, or a counted reason why not.

Layers: link (one table entry per link type: `LINK_TYPES`), then IPv4/IPv6 with
extension headers and IP-in-IP, then the TCP header. Payload length always comes
from the IP header (so a frame cut short by the snaplen still reports the length
that was sent); a total length of 0 (TSO/GSO super-segment) falls back to the
frame's wire length, and an IPv6 jumbo payload option is honoured.

Nothing here raises on bad input: every length is checked, and a frame that is
not a TCP segment is counted in the `SkipReport` under a short reason
("UDP", "ARP", "truncated TCP header", "link type 105 (IEEE 802.11)", ...).
TCP options are kept as raw bytes; `parse_options` decodes them when something
needs them (window scale on SYNs, SACK for analysis, display).

The common layout (Ethernet, IPv4 without options, not a fragment, TCP) is read
with one `struct` call at fixed offsets; every other frame takes the general
path, with the same checks and the same result.

A decoder made with `shard=(k, n)` (a `--jobs` worker) decodes in full only the
segments of the connections whose partition (`flows.partition`) falls to worker
`k` of `n`; for the others it returns `OTHER` after the same checks, so every
worker counts the same skipped frames and sees every TCP packet's timestamp.
"""
from __future__ import annotations

import struct
from socket import AF_INET, AF_INET6, inet_ntop

from .flows import PARTITIONS, mix, partition
from .records import SkipReport, be16, be32, new_packet

OTHER = object()   # a TCP segment of another worker's connection (shard mode)

_H = struct.Struct("!H").unpack_from
_I = struct.Struct("!I").unpack_from
_TCP = struct.Struct("!HHIIHHH").unpack_from
_IP4 = struct.Struct("!BxHHHBB").unpack_from   # ver_ihl, tot_len, id, frag, ttl, proto

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)
ETHERTYPE_NAMES = {0x0806: "ARP", 0x8035: "RARP", 0x88CC: "LLDP", 0x888E: "EAPOL", 0x8863: "PPPoE discovery",
                   0x8847: "MPLS", 0x8848: "MPLS", 0x88E5: "MACsec", 0x8906: "FCoE", 0x9000: "loopback test"}
IP_PROTO_NAMES = {1: "ICMP", 2: "IGMP", 17: "UDP", 47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6",
                  89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP", 136: "UDP-Lite", 59: "IPv6 no next header"}
IPV6_EXT = {0, 43, 60, 135, 139, 140}
MAX_FRAG_DATAGRAMS = 1024   # hop-by-hop, routing, destination options, mobility, HIP, shim6

# Where the network layer starts, per link type. Each handler returns
# (offset of the IP header, ethertype-like protocol) or (None, reason).

def _link_ethernet(buf, off, end):
    if end - off < 14:
        return None, "truncated Ethernet header"
    p = off + 12
    et = _H(buf, p)[0]
    while et in VLAN_TYPES:
        p += 4
        if p + 2 > end:
            return None, "truncated 802.1Q tag"
        et = _H(buf, p)[0]
    p += 2
    if et == 0x8864:  # PPPoE session: 6-byte header, then a PPP protocol number
        if p + 8 > end:
            return None, "truncated PPPoE header"
        ppp = _H(buf, p + 6)[0]
        return p + 8, {0x0021: ETH_IPV4, 0x0057: ETH_IPV6}.get(ppp, "PPP protocol 0x%04x" % ppp)
    if et in (0x8847, 0x8848):  # MPLS: pop labels to the bottom of the stack, then guess by IP version
        while p + 4 <= end:
            label = _I(buf, p)[0]
            p += 4
            if label & 0x100:
                break
        return p, _by_version(buf, p, end)
    if et < 0x0600:  # 802.3 length field: LLC, not IP in practice
        return None, "802.3/LLC frame"
    return p, et


def _by_version(buf, p, end):
    if p >= end:
        return "empty IP packet"
    v = buf[p] >> 4
    return ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else "IP version %d" % v


def _link_raw(buf, off, end):
    return off, _by_version(buf, off, end)


def _link_ipv4(buf, off, end):
    return off, ETH_IPV4


def _link_ipv6(buf, off, end):
    return off, ETH_IPV6


def _null_family(fam):
    if fam == 2:
        return ETH_IPV4
    if fam in (10, 24, 28, 30):
        return ETH_IPV6
    return "BSD address family %d" % fam


def _link_null(buf, off, end):
    if end - off < 4:
        return None, "truncated loopback header"
    fam = struct.unpack_from("<I", buf, off)[0]
    if fam > 0xFFFF:  # written by a big-endian host
        fam = struct.unpack_from(">I", buf, off)[0]
    return off + 4, _null_family(fam)


def _link_loop(buf, off, end):
    if end - off < 4:
        return None, "truncated loopback header"
    return off + 4, _null_family(_I(buf, off)[0])


def _link_sll(buf, off, end):
    if end - off < 16:
        return None, "truncated Linux cooked header"
    return off + 16, _H(buf, off + 14)[0]


def _link_sll2(buf, off, end):
    if end - off < 20:
        return None, "truncated Linux cooked v2 header"
    return off + 20, _H(buf, off)[0]


def _link_nflog(buf, off, end):
    if end - off < 4:
        return None, "truncated NFLOG header"
    fam = buf[off]
    p = off + 4
    while p + 4 <= end:
        tlen, ttype = struct.unpack_from("<HH", buf, p)
        if tlen < 4:
            return None, "malformed NFLOG TLV"
        if ttype == 9:  # NFULA_PAYLOAD
            return p + 4, ETH_IPV4 if fam == 2 else ETH_IPV6 if fam == 10 else _by_version(buf, p + 4, end)
        p += (tlen + 3) & ~3
    return None, "NFLOG record without payload"


def _link_ppp(buf, off, end):
    if end - off < 4:
        return None, "truncated PPP header"
    p = off
    if buf[p] == 0xFF and buf[p + 1] == 0x03:
        p += 2
    proto = _H(buf, p)[0]
    return p + 2, {0x0021: ETH_IPV4, 0x0057: ETH_IPV6}.get(proto, "PPP protocol 0x%04x" % proto)


# link type number -> (name, handler). A new link type is one entry here.
LINK_TYPES = {
    0: ("BSD loopback", _link_null),
    1: ("Ethernet", _link_ethernet),
    9: ("PPP", _link_ppp),
    12: ("raw IP", _link_raw),
    14: ("raw IP", _link_raw),
    50: ("PPP in HDLC framing", _link_ppp),
    101: ("raw IP", _link_raw),
    108: ("OpenBSD loopback", _link_loop),
    113: ("Linux cooked", _link_sll),
    228: ("raw IPv4", _link_ipv4),
    229: ("raw IPv6", _link_ipv6),
    239: ("Linux NFLOG", _link_nflog),
    276: ("Linux cooked v2", _link_sll2),
}
LINK_TYPE_NAMES = {105: "IEEE 802.11", 127: "802.11 radiotap", 119: "Prism 802.11", 6: "Token Ring",
                   10: "FDDI", 104: "Cisco HDLC", 107: "Frame Relay", 140: "MTP2", 143: "DOCSIS",
                   195: "IEEE 802.15.4", 187: "Bluetooth HCI", 220: "USB", 249: "USBPcap"}


def link_name(lt: int) -> str:
    if lt in LINK_TYPES:
        return LINK_TYPES[lt][0]
    return "link type %d%s" % (lt, f" ({LINK_TYPE_NAMES[lt]})" if lt in LINK_TYPE_NAMES else "")


class Decoder:
    """Turns frames into Packets; counts everything else in `self.skipped`."""

    def __init__(self, shard: tuple[int, int] | None = None) -> None:
        self.skipped = SkipReport()
        self.tcp = 0
        self.frags: dict[tuple, list] = {}
        # shard mode (worker k of n): each flow-hash partition goes to a worker the first time one
        # of its segments is seen, to the worker with the fewest segments so far (then the fewest
        # partitions). Every worker reads every frame, so all of them make the same choices; a few
        # long connections (a bulk transfer) are spread as evenly as they can be.
        self.owned = None if shard is None else [-1] * PARTITIONS   # partition -> worker (-1: not yet)
        self.me = 0 if shard is None else shard[0]
        self.load = [] if shard is None else [0] * shard[1]       # segments of each worker's partitions

    def decode(self, frame: int, ts: float, lt: int, buf: bytes, off: int, caplen: int, wirelen: int):
        if lt == 1 and caplen >= 54 and off + caplen <= len(buf):
            # Fast path: Ethernet, IPv4 without options, not a fragment, TCP, read byte by byte at
            # known offsets (compiled, these are plain C reads). Anything it does not accept
            # (including every malformed frame) goes the general way below.
            o = off + 14
            if (buf[off + 12] == 8 and buf[off + 13] == 0 and buf[o] == 0x45 and buf[o + 9] == 6
                    and not (buf[o + 6] & 0x3F or buf[o + 7])):
                tot = buf[o + 2] << 8 | buf[o + 3]
                avail = wirelen - 14
                if tot == 0 or tot > avail:
                    tot = avail
                t = o + 20
                doff = (buf[t + 12] >> 4) << 2
                if 20 <= doff <= tot - 20:
                    sport = buf[t] << 8 | buf[t + 1]
                    dport = buf[t + 2] << 8 | buf[t + 3]
                    if self.owned is not None:
                        a = buf[o + 12]
                        b = buf[o + 16]
                        if not self._mine(mix((a << 24 | buf[o + 13] << 16 | buf[o + 14] << 8 | buf[o + 15])
                                              ^ (b << 24 | buf[o + 17] << 16 | buf[o + 18] << 8 | buf[o + 19]),
                                              sport ^ dport)):
                            return OTHER
                    cp = buf      # (compiled, a pointer to its bytes: a slice of it is a plain copy)
                    src = cp[o + 12:o + 16]
                    dst = cp[o + 16:o + 20]
                    end = off + caplen
                    length = tot - 20 - doff
                    self.tcp += 1
                    seq = buf[t + 4]          # (a 64-bit variable compiled: the shift must not overflow)
                    ack = buf[t + 8]
                    return new_packet(
                        frame, ts, src, dst, sport, dport,
                        seq << 24 | buf[t + 5] << 16 | buf[t + 6] << 8 | buf[t + 7],
                        ack << 24 | buf[t + 9] << 16 | buf[t + 10] << 8 | buf[t + 11],
                        (buf[t + 12] & 1) << 8 | buf[t + 13], buf[t + 14] << 8 | buf[t + 15], length, doff,
                        cp[t + 20:min(t + doff, end)] if doff > 20 else b"", buf[o + 4] << 8 | buf[o + 5],
                        buf[o + 8], t + doff + length > end, False, buf[t + 16] << 8 | buf[t + 17])
        return self._general(frame, ts, lt, buf, off, caplen, wirelen)

    def _foreign(self, src: bytes, dst: bytes, sport: int, dport: int) -> bool:
        """Shard mode: the connection is another worker's."""
        return not self._mine(partition(int.from_bytes(src, "big"), int.from_bytes(dst, "big"), sport ^ dport))

    def _mine(self, p: int) -> bool:
        """Shard mode: a segment of partition p; is the partition this worker's (see __init__)?"""
        w = self.owned[p]
        if w < 0:                  # a new partition (at most PARTITIONS times a run)
            load, owned = self.load, self.owned
            w = 0
            for i in range(1, len(load)):
                if load[i] < load[w] or (load[i] == load[w] and owned.count(i) < owned.count(w)):
                    w = i
            owned[p] = w
        self.load[w] += 1
        return w == self.me

    def _general(self, frame: int, ts: float, lt: int, buf, off: int, caplen: int, wirelen: int):
        end = off + caplen
        if lt == 1 and caplen >= 34 and buf[off + 12] == 8 and buf[off + 13] == 0:
            return self._ip4(frame, ts, buf, off + 14, end, wirelen - 14)
        entry = LINK_TYPES.get(lt)
        if entry is None:
            self.skipped.count(self.skipped.not_tcp, "unsupported " + link_name(lt), frame)
            return None
        p, proto = entry[1](buf, off, end)
        if p is None:
            self.skipped.count(self.skipped.undecodable, proto, frame)
            return None
        if proto == ETH_IPV4:
            return self._ip4(frame, ts, buf, p, end, wirelen - (p - off))
        if proto == ETH_IPV6:
            return self._ip6(frame, ts, buf, p, end, wirelen - (p - off))
        if isinstance(proto, int):
            proto = ETHERTYPE_NAMES.get(proto, "ethertype 0x%04x" % proto)
        self.skipped.count(self.skipped.not_tcp, proto, frame)
        return None

    def _ip4(self, frame, ts, buf, o, end, wire_avail, depth=0):
        if end - o < 20:
            self.skipped.count(self.skipped.undecodable, "truncated IPv4 header", frame)
            return None
        vihl, tot, ipid, frag, ttl, proto = _IP4(buf, o)
        if vihl >> 4 != 4:
            self.skipped.count(self.skipped.undecodable, "bad IP version %d" % (vihl >> 4), frame)
            return None
        ihl = (vihl & 15) * 4
        if ihl < 20:
            self.skipped.count(self.skipped.undecodable, "bad IPv4 header length", frame)
            return None
        if o + ihl > end:
            self.skipped.count(self.skipped.undecodable, "truncated IPv4 header", frame)
            return None
        if tot == 0 or tot > wire_avail:
            # 0: TSO, the NIC fills the length in; longer than the frame on the wire: the frame
            # was cut in transit, so only what was on the wire counts (as tshark does)
            tot = wire_avail
        if tot < ihl:
            self.skipped.count(self.skipped.undecodable, "bad IPv4 total length", frame)
            return None
        src, dst = buf[o + 12:o + 16], buf[o + 16:o + 20]
        if frag & 0x3FFF:   # a fragment: keep it until the datagram is whole
            whole = self._fragment((4, src + dst, ipid, proto), (frag & 0x1FFF) * 8, frag & 0x2000,
                                   buf[o + ihl:min(o + tot, end)], tot - ihl, frame)
            if whole is None:
                return None
            buf, o, ihl, end, tot = whole, 0, 0, len(whole), len(whole)
        if proto != 6:
            if proto in (4, 41) and depth < 4:
                return (self._ip4 if proto == 4 else self._ip6)(frame, ts, buf, o + ihl, end, tot - ihl, depth + 1)
            if proto == 17 and depth < 4:
                inner = self._l2tp(frame, ts, buf, o + ihl, end, depth)
                if inner is not False:
                    return inner
            self.skipped.count(self.skipped.not_tcp, IP_PROTO_NAMES.get(proto, "IP protocol %d" % proto), frame)
            return None
        return self._tcp(frame, ts, buf, o + ihl, end, tot - ihl, src, dst, ipid, ttl, False)

    def _ip6(self, frame, ts, buf, o, end, wire_avail, depth=0):
        if end - o < 40:
            self.skipped.count(self.skipped.undecodable, "truncated IPv6 header", frame)
            return None
        if buf[o] >> 4 != 6:
            self.skipped.count(self.skipped.undecodable, "bad IP version %d" % (buf[o] >> 4), frame)
            return None
        plen = _H(buf, o + 4)[0]
        nxt = buf[o + 6]
        hlim = buf[o + 7]
        src, dst = buf[o + 8:o + 24], buf[o + 24:o + 40]
        p = o + 40
        jumbo = None
        hops = 0
        while nxt in IPV6_EXT or nxt == 44 or nxt == 51:
            hops += 1
            if p + 8 > end or hops > 16:
                self.skipped.count(self.skipped.undecodable, "truncated IPv6 extension header", frame)
                return None
            if nxt == 44:  # fragment header
                fo = _H(buf, p + 2)[0]
                nxt = buf[p]
                if fo & 0xFFF9:  # offset != 0 or more fragments: keep it until the datagram is whole
                    plen_all = (plen or wire_avail - 40) - (p + 8 - o - 40)
                    whole = self._fragment((6, src + dst, _I(buf, p + 4)[0], nxt), fo & 0xFFF8, fo & 1,
                                           buf[p + 8:min(p + 8 + plen_all, end)], plen_all, frame)
                    if whole is None:
                        return None
                    # go on in the reassembled payload, as if it followed a bare IPv6 header
                    buf, end, p, o = whole, len(whole), 0, -40
                    plen, wire_avail = len(whole), len(whole) + 40
                    continue
                p += 8
                continue
            hlen = (buf[p + 1] + 2) * 4 if nxt == 51 else (buf[p + 1] + 1) * 8
            if nxt == 0 and plen == 0:
                jumbo = _jumbo(buf, p, min(p + hlen, end))
            nxt = buf[p]
            p += hlen
        if p > end:
            self.skipped.count(self.skipped.undecodable, "truncated IPv6 extension header", frame)
            return None
        if plen == 0:
            plen = jumbo if jumbo is not None else wire_avail - 40
        elif plen > wire_avail - 40:
            plen = wire_avail - 40
        ext = p - o - 40
        if nxt != 6:
            if nxt in (4, 41) and depth < 4:
                return (self._ip4 if nxt == 4 else self._ip6)(frame, ts, buf, p, end, plen - ext, depth + 1)
            if nxt == 17 and depth < 4:
                inner = self._l2tp(frame, ts, buf, p, end, depth)
                if inner is not False:
                    return inner
            self.skipped.count(self.skipped.not_tcp, IP_PROTO_NAMES.get(nxt, "IP protocol %d" % nxt), frame)
            return None
        return self._tcp(frame, ts, buf, p, end, plen - ext, src, dst, None, hlim, True)

    def _fragment(self, key, offset, more, data, length, frame):
        """Collect one IP fragment; return the whole payload when the last piece arrives.

        Bounded: at most MAX_FRAG_DATAGRAMS datagrams wait at once (the oldest is dropped) and a
        datagram may not exceed 64 KiB; a fragment cut by the snaplen makes its datagram incomplete.
        """
        fr = self.frags
        ent = fr.get(key)
        if ent is None:
            if len(fr) >= MAX_FRAG_DATAGRAMS:
                fr.pop(next(iter(fr)))
            ent = fr[key] = [{}, None, True]          # pieces by offset, total length, complete
        pieces = ent[0]
        if len(data) < length:
            ent[2] = False
        if offset + length > 65535 + 8:
            fr.pop(key, None)
            self.skipped.count(self.skipped.undecodable, "oversized IP fragment", frame)
            return None
        pieces[offset] = data
        if not more:
            ent[1] = offset + length
        self.skipped.count(self.skipped.not_tcp, "IP fragment (reassembled)", frame)
        total = ent[1]
        if total is None:
            return None
        have = 0
        for off in sorted(pieces):
            if off > have:
                return None                           # a hole: wait for more
            have = max(have, off + len(pieces[off]))
        if have < total:
            return None
        del fr[key]
        if not ent[2]:
            self.skipped.count(self.skipped.undecodable, "IP fragment cut by the snaplen", frame)
            return None
        whole = bytearray(total)
        for off in sorted(pieces):
            piece = pieces[off][:total - off]
            whole[off:off + len(piece)] = piece
        # the frame that completes the datagram carries the segment (as tshark shows it)
        self.skipped.not_tcp["IP fragment (reassembled)"] -= 1
        return bytes(whole)

    def _l2tp(self, frame, ts, buf, u, end, depth):
        """IP carried in L2TPv2 (UDP port 1701) over PPP; False when the UDP datagram is not that."""
        if end - u < 8 + 8 or (_H(buf, u)[0] != 1701 and _H(buf, u + 2)[0] != 1701):
            return False
        p = u + 8
        fl = _H(buf, p)[0]
        if fl & 0x800F != 0x0002:      # control messages and other versions are not IP
            return False
        p += 2 + (2 if fl & 0x4000 else 0) + 4 + (4 if fl & 0x0800 else 0)
        if fl & 0x0200:
            if p + 2 > end:
                return False
            p += 2 + _H(buf, p)[0]
        if p + 4 > end:
            return False
        if buf[p] == 0xFF and buf[p + 1] == 0x03:
            p += 2
        proto = _H(buf, p)[0]
        ipv = {0x0021: self._ip4, 0x0057: self._ip6}.get(proto)
        if ipv is None:
            return False
        return ipv(frame, ts, buf, p + 2, end, end - p - 2, depth + 1)

    def _tcp(self, frame, ts, buf, t, end, ip_payload, src, dst, ipid, ttl, v6):
        if end - t < 20:
            self.skipped.count(self.skipped.undecodable, "truncated TCP header", frame)
            return None
        sport, dport, seq, ack, offfl, win, csum = _TCP(buf, t)
        doff = (offfl >> 12) * 4
        if doff < 20:
            self.skipped.count(self.skipped.undecodable, "bad TCP data offset", frame)
            return None
        if doff > ip_payload:
            self.skipped.count(self.skipped.undecodable, "TCP header longer than its IP payload", frame)
            return None
        if self.owned is not None and self._foreign(src, dst, sport, dport):
            return OTHER
        opt_end = t + doff
        options = buf[t + 20:min(opt_end, end)] if doff > 20 else b""
        length = ip_payload - doff
        cut = opt_end + length > end
        self.tcp += 1
        return new_packet(frame, ts, src, dst, sport, dport, seq, ack, offfl & 0x1FF, win, length, doff,
                          options, ipid, ttl, cut, v6, csum)


def _jumbo(buf, p, end):
    q = p + 2
    while q + 2 <= end:
        kind = buf[q]
        if kind == 0:
            q += 1
            continue
        ln = buf[q + 1]
        if kind == 0xC2 and ln == 4 and q + 6 <= end:
            return _I(buf, q + 2)[0]
        q += 2 + ln
    return None


def addr_str(a: bytes) -> str:
    return inet_ntop(AF_INET6 if len(a) == 16 else AF_INET, a)


# --- TCP options -------------------------------------------------------------------

OPT_NAMES = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 8: "TS", 19: "md5",
             28: "uto", 29: "tcp-ao", 30: "mptcp", 34: "tfo", 253: "exp", 254: "exp"}


def parse_options(raw: bytes) -> list[tuple]:
    """Decode TCP options: [(name, value), ...]. Malformed tails, and options of a fixed layout
    with the wrong length, become ('malformed', bytes)."""
    out = []
    i, n = 0, len(raw)
    while i < n:
        kind = raw[i]
        if kind == 0:
            out.append(("eol", None))
            break
        if kind == 1:
            out.append(("nop", None))
            i += 1
            continue
        if i + 1 >= n:
            out.append(("malformed", raw[i:]))
            break
        ln = raw[i + 1]
        if ln < 2 or i + ln > n:
            out.append(("malformed", raw[i:]))
            break
        v = i + 2                 # the value: raw[v:i + ln]
        if kind == 2 and ln == 4:
            out.append(("mss", be16(raw, v)))
        elif kind == 3 and ln == 3:
            out.append(("wscale", raw[v]))
        elif kind == 4 and ln == 2:
            out.append(("sackOK", None))
        elif kind == 5 and (ln - 2) % 8 == 0:
            out.append(("sack", [(be32(raw, k), be32(raw, k + 4)) for k in range(v, i + ln, 8)]))
        elif kind == 8 and ln == 10:
            out.append(("TS", (be32(raw, v), be32(raw, v + 4))))
        elif kind == 34:
            out.append(("tfo", raw[v:i + ln].hex()))
        elif kind in (253, 254) and ln >= 4 and raw[v] == 0xF9 and raw[v + 1] == 0x89:
            out.append(("tfo", raw[v + 2:i + ln].hex()))    # experimental TFO (RFC 7413 ExID 0xF989)
        elif kind == 30:
            out.append(("mptcp", raw[v:i + ln].hex()))
        elif kind in (2, 3, 4, 5, 8):
            out.append(("malformed", raw[i:i + ln]))   # MSS, window scale, SACK or TS of a wrong length
        else:
            out.append((OPT_NAMES.get(kind, "opt-%d" % kind), raw[v:i + ln].hex()))
        i += ln
    return out


def option_value(raw: bytes, name: str):
    """The first option `name` in raw options, or None."""
    if not raw:
        return None
    for k, v in parse_options(raw):
        if k == name:
            return v if v is not None else True
    return None


def format_options(raw: bytes, sack_base: int | None = None) -> str:
    """tcpdump's style: 'mss 65495,sackOK,TS val 39875822 ecr 0,nop,wscale 7'. With `sack_base`
    (the peer's base sequence number), SACK edges are relative, as tcpdump prints them."""
    parts = []
    for k, v in parse_options(raw):
        if k in ("nop", "eol", "sackOK") or v is None:
            parts.append(k)
        elif k == "TS":
            parts.append(f"TS val {v[0]} ecr {v[1]}")
        elif k == "sack":
            if sack_base is not None:
                v = [((a - sack_base) & 0xFFFFFFFF, (b - sack_base) & 0xFFFFFFFF) for a, b in v]
            parts.append("sack %d %s" % (len(v), " ".join(f"{{{a}:{b}}}" for a, b in v)))
        elif k == "malformed":
            parts.append("malformed")
        else:
            parts.append(f"{k} {v}")
    return ",".join(parts)

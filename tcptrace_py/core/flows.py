"""flows: the bidirectional flow table.

A flow is keyed by its two (address, port) endpoints in canonical order, so both
directions of a connection land in the same flow. Flow ids count from 1 in order
of each flow's first packet. The originator (orig, the "client") is the sender of
the first SYN; a flow first seen at its SYN-ACK is oriented by it; a flow seen
only mid-stream is oriented by a guess, and `Flow.oriented_by` says which.

A 4-tuple reused for a new connection starts a new flow, as Wireshark does: a SYN
(without ACK) whose sequence number differs from the ISN (or first sequence
number) already recorded for that direction.

Finished flows are handed back to the caller by `expire` (closed or reset and
quiet for `grace` seconds of capture time, or idle for `idle` seconds), so memory
grows with the connections open at once, not with the packets in the capture.

Every 4-tuple falls in one of `PARTITIONS` partitions (`partition`, a symmetric
hash of the addresses and ports, the same for both directions). The table of
recently closed 4-tuples is kept per partition, so what it remembers about one
4-tuple depends only on the connections of its own partition; that is what lets
`--jobs` split a capture between processes by partition (`shard=True`: a worker's
table sees only its partitions, and a flow's id is its first frame number until
the parent process gives it its place among all flows).
"""
from __future__ import annotations

import heapq

from .packetlog import PacketLog
from .records import ACK, CLOSED_STATES, SYN, Anomaly, Endpoint, Packet, State, be32

WELL_KNOWN = 1024
PARTITIONS = 64
_NPART = PARTITIONS                      # (a C integer in the compiled core)
RECENT_MAX = 32768                       # closed 4-tuples remembered, in all partitions
RECENT_PER_PARTITION = RECENT_MAX // PARTITIONS


def partition(a: int, b: int, ports: int) -> int:
    """The partition of a connection: `a`, `b` its two addresses as integers, `ports` the XOR
    of its two ports. Symmetric, so both directions agree; cheap enough for every packet."""
    x = a ^ b
    if x > 0xFFFFFFFF:                  # IPv6: fold 128 bits to 32
        x ^= x >> 64
        x = (x ^ (x >> 32)) & 0xFFFFFFFF
    return mix(x, ports)


def mix(x: int, ports: int) -> int:
    """The partition of `x`, the two addresses XORed and folded to 32 bits, and `ports` (the
    decoder calls it directly on the 32-bit IPv4 addresses it reads)."""
    k1, k2, m = 0x9E3779B1, 0x85EBCA6B, 0xFFFFFFFF     # (64-bit C integers, compiled)
    h = ((x * k1) ^ (ports * k2)) & m
    return (h ^ (h >> 15) ^ (h >> 27)) % _NPART


def endpoint_int(addr: bytes, port: int) -> int:
    """An endpoint as one integer: its address, then its port in the low 16 bits."""
    if len(addr) == 4:
        return be32(addr, 0) << 16 | port
    return int.from_bytes(addr, "big") << 16 | port


# A 4-tuple's key in the table: the lower endpoint integer, then the higher one in the low
# 160 bits (an IPv6 endpoint takes 144), and bit 320 set for IPv6 (so ::a.b.c.d and a.b.c.d
# differ). One integer hashes and compares much faster than a tuple of tuples of bytes.
_LOW = (1 << 160) - 1
_V6 = 1 << 320


def key_partition(key) -> int:
    lo = (key >> 160) & _LOW
    hi = key & _LOW
    return partition(lo >> 16, hi >> 16, (lo ^ hi) & 0xFFFF)


class Flow:
    __slots__ = ("id", "key", "orig_low", "orig", "resp", "ends", "packets", "keep", "first_ts", "last_ts",
                 "first_frame", "last_frame", "oriented_by", "init_states", "anomalies", "irtt",
                 "close_ts", "zeek", "npkts", "reused_from", "ended", "counts", "syn_ack_rtt",
                 "ack_rtt", "first_fin_dir", "rst_dir", "ts_mru_syn", "first_rtt", "unsent_acks", "evicted",
                 "files")

    def __init__(self, fid: int, key, pkt: Packet, keep: bool, low: bool = False):
        """`low`: the packet's sender is the key's lower endpoint."""
        self.id = fid
        self.key = key
        f = pkt.flags
        src, dst = (pkt.src, pkt.sport), (pkt.dst, pkt.dport)
        if f & SYN and not f & ACK:
            self.orig, self.resp, self.oriented_by = src, dst, "syn"
            init = (State.CLOSED, State.LISTEN)
        elif f & SYN:
            self.orig, self.resp, self.oriented_by = dst, src, "synack"
            init = (State.SYN_SENT, State.LISTEN)
        else:
            if pkt.sport < WELL_KNOWN <= pkt.dport:
                self.orig, self.resp, self.oriented_by = dst, src, "port"
            else:
                self.orig, self.resp, self.oriented_by = src, dst, "first"
            init = (State.UNKNOWN, State.UNKNOWN)
        # the client is the lower endpoint (compared by value: in a connection of an endpoint with
        # itself both are, and every segment goes from the client)
        self.orig_low = low if self.orig == src else not low
        self.init_states = init
        self.ends = (Endpoint(init[0]), Endpoint(init[1]))
        # in memory up to a bound, on disk past it (packetlog); one shared empty log when the
        # packets are not kept (--summary), which nothing appends to
        self.packets = PacketLog() if keep else NO_PACKETS
        self.keep = keep
        self.first_ts = pkt.ts
        self.last_ts = pkt.ts
        self.first_frame = pkt.frame
        self.last_frame = pkt.frame
        self.anomalies: list[Anomaly] = []
        self.irtt = None          # handshake RTT: first SYN -> ACK of the SYN-ACK
        self.syn_ack_rtt = None   # SYN -> SYN-ACK
        self.close_ts = None      # when both ends reached CLOSED/TIME_WAIT
        self.zeek = None
        self.npkts = 0
        self.reused_from = None
        self.ended = None
        self.counts: dict[str, int] = {}
        self.ack_rtt = None       # [sum, n, max] of per-segment ACK RTTs
        self.first_fin_dir = None
        self.rst_dir = None
        self.ts_mru_syn = None    # most recent pure SYN (Wireshark's out-of-order threshold)
        self.first_rtt = None     # SYN -> first ACK, either direction
        self.unsent_acks = None   # ACKs beyond what the peer was seen to send, checked at the end
        self.evicted = None       # (frame, open connections) when the table had to make room for it
        self.files = None         # a capture set's FrameMap (captureset.py): which file each frame is from

    def open_at_end(self) -> bool:
        o, r = self.ends
        if o.rst_frame is not None or r.rst_frame is not None:
            return False
        return not (o.state in CLOSED_STATES and r.state in CLOSED_STATES)

    @property
    def closed(self) -> bool:
        o, r = self.ends
        return (o.rst_frame is not None or r.rst_frame is not None
                or (o.state in CLOSED_STATES and r.state in CLOSED_STATES))


NO_PACKETS = PacketLog()


def _eviction_order(item) -> tuple:
    flow = item[1]
    group = 0 if flow.close_ts is not None else 1 if flow.ends[1].pkts == 0 else 2
    return group, flow.last_ts, flow.id


class FlowTable:
    def __init__(self, keep_packets: bool = True, grace: float = 10.0, idle: float | None = 3600.0,
                 shard: bool = False, max_open: int = 0):
        self.table: dict[tuple, Flow] = {}
        self.max_open = max_open                 # at most this many flows open (0: no bound), `evict`
        self.next_id = 1
        self.keep = keep_packets
        self.grace = grace
        self.idle = idle
        # per partition, hash(key) -> (close_ts, flow id) of evicted flows: the last
        # RECENT_PER_PARTITION of each only, so memory stays flat however many connections a
        # capture holds (time_wait_reuse looks here)
        self.recent: list[dict[int, tuple]] = [{} for _ in range(PARTITIONS)]
        self.open_ids: set[int] = set()          # ids of the flows in the table
        self._id_heap: list[int] = []            # the same ids, as a heap with lazy deletion
        # shard mode (a --jobs worker): a flow's id is its first frame until the parent, which
        # numbers the flows of all workers, gives it its real one
        self.shard = shard

    def lookup(self, pkt: Packet) -> tuple[Flow, int]:
        """The flow a packet belongs to (made if new) and its direction: 0 orig->resp, 1 back."""
        ea = endpoint_int(pkt.src, pkt.sport)
        eb = endpoint_int(pkt.dst, pkt.dport)
        low = ea <= eb                       # the sender is the lower endpoint
        key = ea << 160 | eb if low else eb << 160 | ea
        if pkt.ipv6:
            key |= _V6
        flow = self.table.get(key)
        if flow is not None:
            d = 0 if low == flow.orig_low else 1
            if pkt.flags & (SYN | ACK) == SYN and self._new_connection(flow, flow.ends[d], pkt):
                flow = self._new(key, pkt, low)   # the old flow is in flow.reused_from
                return flow, 0
            return flow, d
        flow = self._new(key, pkt, low)
        return flow, 0 if low == flow.orig_low else 1

    @staticmethod
    def _new_connection(flow: Flow, end: Endpoint, pkt: Packet) -> bool:
        """A SYN that opens a new connection on this 4-tuple (Wireshark's rule)."""
        return end.base >= 0 and pkt.seq != end.base

    def _new(self, key, pkt: Packet, low: bool) -> Flow:
        flow = Flow(pkt.frame if self.shard else self.next_id, key, pkt, self.keep, low)
        self.next_id += 1
        old = self.table.get(key)
        self.table[key] = flow
        if old is not None:
            flow.reused_from = old
            self.open_ids.discard(old.id)
        self.open_ids.add(flow.id)
        heapq.heappush(self._id_heap, flow.id)
        return flow

    def min_open_id(self) -> int | None:
        """The smallest id still in the table (amortised O(log n))."""
        h = self._id_heap
        while h and h[0] not in self.open_ids:
            heapq.heappop(h)
        return h[0] if h else None

    def expire(self, now: float) -> list[Flow]:
        """Remove and return flows finished by `now` (capture time)."""
        done = []
        grace, idle = self.grace, self.idle
        for key, flow in self.table.items():
            if flow.close_ts is not None and now - flow.last_ts >= grace:
                done.append(key)
            elif idle is not None and now - flow.last_ts >= idle:
                done.append(key)
        return self._remove(done)

    def evict(self, frame: int, keep: Flow) -> list[Flow]:
        """Make room when more than `max_open` flows are open: remove and return the quarter of
        them that should go first — those already closed (waiting out the grace period), then
        those whose responder has sent nothing (a SYN scan, a flood), then the rest, each group
        the longest quiet first — never `keep` (the flow just made). Each is marked `evicted`
        and reported as it stands; a later packet of its 4-tuple starts a new flow."""
        n = len(self.table)
        k = max(1, self.max_open // 4)
        # the order: (group, last packet's time, id); nsmallest makes no full sort
        pick = heapq.nsmallest(k + 1, self.table.items(), key=_eviction_order)
        keys = []
        for key, flow in pick:
            if flow is keep or len(keys) == k:
                continue
            flow.evicted = (frame, n)
            keys.append(key)
        return self._remove(keys)

    def _remove(self, keys: list) -> list[Flow]:
        """Take these flows out of the table, remembering each 4-tuple's last flow (`recent`)."""
        out = []
        for key in keys:
            flow = self.table.pop(key)
            self.open_ids.discard(flow.id)
            recent = self.recent[key_partition(key)]
            recent[hash(key)] = (flow.last_ts, flow.id)
            if len(recent) > RECENT_PER_PARTITION:
                del recent[next(iter(recent))]
            out.append(flow)
        return out

    def pop_recent(self, key) -> tuple | None:
        """(close_ts, flow id) of the last evicted flow on this 4-tuple, forgotten once asked."""
        return self.recent[key_partition(key)].pop(hash(key), None)

    def drain(self) -> list[Flow]:
        flows = list(self.table.values())
        self.table.clear()
        self.open_ids.clear()
        self._id_heap.clear()
        return flows

"""Every fast path gives what the general path it shortcuts gives, on every sample and corpus
capture: the one-struct decode of Ethernet/IPv4/TCP, and the one-language notes for plain data
and ACKs. (The per-packet JSON writer and --jobs have their own tests in test_parallel.py.)"""
from __future__ import annotations

from pathlib import Path

import pytest

from tcptrace_py.core.capture import CaptureReader
from tcptrace_py.core.decode import Decoder
from tcptrace_py.prose.explain import Explainer
from tcptrace_py.core.pipeline import Analyzer
from tcptrace_py.core.records import Packet

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CAPTURES = sorted((ROOT / "sample_pcaps").glob("*.pcap*"))
if CORPUS.is_dir():
    CAPTURES += sorted(p for p in CORPUS.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))


def _fields(p: Packet) -> tuple:
    return tuple(getattr(p, k) for k in Packet.__slots__)


def test_the_captures_are_here():
    """With the corpus beside the project, all of it is compared (without it, only the samples)."""
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} not here")
    assert len(CAPTURES) > 100


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_fast_decode_is_the_general_decode(capture):
    try:
        frames = list(CaptureReader(str(capture)))
    except Exception as exc:  # a corpus file that is not a readable capture: nothing to compare
        pytest.skip(f"not readable: {exc}")
    fast, general = Decoder(), Decoder()
    for frame, ts, lt, buf, off, caplen, wire in frames:
        a = fast.decode(frame, ts, lt, buf, off, caplen, wire)
        b = general._general(frame, ts, lt, buf, off, caplen, wire)
        assert (a is None) == (b is None), frame
        if a is not None:
            assert _fields(a) == _fields(b), frame
    assert fast.tcp == general.tcp
    assert fast.skipped == general.skipped


def test_fast_decode_takes_the_common_frames():
    """The fast path is the one that runs on ordinary Ethernet/IPv4 traffic."""
    calls = []

    class Counting(Decoder):
        def _general(self, *a):
            calls.append(a[0])
            return super()._general(*a)

    d = Counting()
    n = 0
    for frame, ts, lt, buf, off, caplen, wire in CaptureReader(str(ROOT / "sample_pcaps" / "seed-8090.pcap")):
        n += d.decode(frame, ts, lt, buf, off, caplen, wire) is not None
    assert n > 0 and calls == []       # loopback-as-Ethernet IPv4: every frame on the fast path


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_plain_notes_are_the_general_notes(capture, lang):
    try:
        flows = list(Analyzer().run(CaptureReader(str(capture))))
    except Exception as exc:
        pytest.skip(f"not readable: {exc}")
    for flow in flows:
        ex = Explainer(flow, lang)
        before = flow.init_states
        for p in flow.packets:
            assert ex.note(p, before) == ex._note(p, before), p.frame   # _note: the general path
            before = (p.orig_state, p.resp_state)


def _headers_only_capture(path: Path) -> None:
    """A connection captured with a 66-byte snaplen (headers only, as the benchmark captures
    are): every data segment is cut, each record keeps its length on the wire."""
    import struct

    import dpkt
    c, s = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    cseq, sseq = 1000, 5000

    def frame(src, dst, sport, dport, seq, ack, flags, data=b""):
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=512,
                           opts=b"\x01\x01\x08\x0a" + struct.pack(">II", seq, ack), data=data)
        tcp.off = 8
        ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, id=seq & 0xFFFF, data=tcp)
        return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))

    A, PA, S, SA, FA = 0x10, 0x18, 0x02, 0x12, 0x11
    frames = [frame(c, s, 40000, 80, cseq, 0, S), frame(s, c, 80, 40000, sseq, cseq + 1, SA),
              frame(c, s, 40000, 80, cseq + 1, sseq + 1, A)]
    off = 1
    for i in range(6):
        frames.append(frame(s, c, 80, 40000, sseq + off, cseq + 1, PA, b"x" * 1000))
        off += 1000
        frames.append(frame(c, s, 40000, 80, cseq + 1, sseq + off, A))
    frames += [frame(c, s, 40000, 80, cseq + 1, sseq + off, FA), frame(s, c, 80, 40000, sseq + off, cseq + 2, FA),
               frame(c, s, 40000, 80, cseq + 2, sseq + off + 1, A)]
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 66, 1))
        for i, buf in enumerate(frames):
            cut = buf[:66]
            fh.write(struct.pack("<IIII", 1_700_000_000, i * 1000, len(cut), len(buf)) + cut)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_plain_notes_of_cut_packets_are_the_general_notes(tmp_path, lang):
    cap = tmp_path / "headers-only.pcap"
    _headers_only_capture(cap)
    (flow,) = list(Analyzer().run(CaptureReader(str(cap))))
    ex = Explainer(flow, lang)
    before = flow.init_states
    cut_data = 0
    for p in flow.packets:
        assert ex.note(p, before) == ex._note(p, before), p.frame
        if p.cut and p.len and not p.flags & 0x07 and not p.anomalies:
            cut_data += 1
            assert ex.note(p, before).endswith("snaplen）；长度取自 IP 首部" if lang == "zh" else
                                               "the length comes from the IP header")
        before = (p.orig_state, p.resp_state)
    assert cut_data == 6


def test_shard_decode_gives_the_partition_answer():
    """A --jobs worker keeps exactly the segments of its own partitions: on every frame of
    every sample and corpus capture, for both workers, the fast path's hash of the header bytes
    and the general path's hash of the decoded addresses give `flows.partition`'s answer, and the
    partitions are dealt to the workers as the rule says."""
    from tcptrace_py.core.decode import OTHER
    from tcptrace_py.core.flows import partition
    n = 0
    for capture in CAPTURES:
        try:
            frames = list(CaptureReader(str(capture)))
        except Exception:  # noqa: BLE001 - a corpus file that is not a readable capture
            continue
        for k in (0, 1):
            sharded, plain = Decoder((k, 2)), Decoder()
            owner, load = {}, [0, 0]      # the dealing rule, written out: least segments, then partitions
            for fr in frames:
                p = plain.decode(*fr)
                got = sharded.decode(*fr)
                if p is None:
                    assert got is None
                    continue
                part = partition(int.from_bytes(p.src, "big"), int.from_bytes(p.dst, "big"), p.sport ^ p.dport)
                if part not in owner:
                    counts = [sum(1 for w in owner.values() if w == i) for i in (0, 1)]
                    owner[part] = min((0, 1), key=lambda i: (load[i], counts[i], i))
                load[owner[part]] += 1
                mine = owner[part] == k
                assert (got is not OTHER) == mine, (capture.name, fr[0])
                if mine:
                    assert _fields(got) == _fields(p)
                n += 1
    assert n > 100


def test_flow_keys_tell_the_connections_apart():
    """The flow table's integer keys: both directions of a 4-tuple find the same flow with the
    right direction; IPv4 a.b.c.d and the IPv6 address ::a.b.c.d, other ports or other addresses
    are other flows; and a key's partition is `flows.partition`'s answer for its 4-tuple."""
    import ipaddress

    from tcptrace_py.core.flows import FlowTable, key_partition, partition
    from tcptrace_py.core.records import ACK, SYN, new_packet

    def seg(frame, src, sport, dst, dport, flags=ACK):
        a, b = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
        return new_packet(frame, float(frame), a, b, sport, dport, 1000, 2000, flags, 512, 0, 20,
                          b"", None if len(a) == 16 else 7, 64, False, len(a) == 16, 0)

    table = FlowTable()
    tuples = [("10.0.0.1", 40000, "10.0.0.2", 80), ("10.0.0.2", 40000, "10.0.0.1", 80),
              ("10.0.0.1", 40001, "10.0.0.2", 80), ("::a00:1", 40000, "::a00:2", 80),
              ("fe80::1", 443, "fe80::2", 51000), ("255.255.255.255", 65535, "0.0.0.0", 0),
              ("10.0.0.9", 5000, "10.0.0.9", 5000)]
    flows = []
    for i, (s, sp, d, dp) in enumerate(tuples):
        flow, direction = table.lookup(seg(2 * i + 1, s, sp, d, dp, SYN))
        assert direction == 0 and flow.orig == (ipaddress.ip_address(s).packed, sp)
        back, bdir = table.lookup(seg(2 * i + 2, d, dp, s, sp))
        assert back is flow and bdir == (0 if (s, sp) == (d, dp) else 1), (s, sp, d, dp)
        a, b = ipaddress.ip_address(s).packed, ipaddress.ip_address(d).packed
        assert key_partition(flow.key) == partition(int.from_bytes(a, "big"), int.from_bytes(b, "big"), sp ^ dp)
        flows.append(flow)
    assert len({id(f) for f in flows}) == len(tuples) == len(table.table)


def test_options_of_the_wrong_length_are_malformed_not_typed():
    """MSS, window scale, SACK and timestamps of a wrong length are reported as malformed (their
    consumers expect the typed value), and parsing goes on after them."""
    from tcptrace_py.core.decode import format_options, option_value, parse_options
    raw = b"\x02\x03\x05" + b"\x03\x04\x07\x00" + b"\x05\x04ab" + b"\x08\x06abcd" + b"\x04\x02"
    assert parse_options(raw) == [("malformed", b"\x02\x03\x05"), ("malformed", b"\x03\x04\x07\x00"),
                                  ("malformed", b"\x05\x04ab"), ("malformed", b"\x08\x06abcd"),
                                  ("sackOK", None)]
    assert option_value(raw, "sack") is None and option_value(raw, "sackOK") is True
    assert format_options(raw, sack_base=1000) == "malformed,malformed,malformed,malformed,sackOK"


def _lines_from_rows(flow, first, last, lang, notes, explain, asc) -> list[str]:
    """The timeline's packet lines formatted from `timeline.rows` (what the rich renderer
    draws): the reference for the text writer's direct path."""
    from tcptrace_py.render.text import ARROW
    from tcptrace_py.render.timeline import rows
    from tcptrace_py.prose.teach import lesson_lines

    out = []
    prev = -1
    for i, r in rows(flow, first, last, lang=lang, explain=explain):
        if i != prev + 1:
            k = i - prev - 1
            out.append(f"         … 省略了 {k} 个包（--max-packets 0 显示全部）…\n" if lang == "zh" else
                       f"         … {k} packets not shown (--max-packets 0 shows all) …\n")
        prev = i
        line = (f"  #{r.frame:<6} {r.t:>11.6f}  {ARROW[r.dir]}  [{r.flags}]  seq {r.seq}"
                + (f"  ack {r.ack}" if r.ack else "") + f"  win {r.win}  len {r.length}")
        out.append(f"{line:<76} {r.client}/{r.server}" + (f"  {r.where}" if r.where else "") + "\n")
        if r.options:
            out.append(f"           options [{r.options}]\n")
        if notes and r.note:
            out.append(f"           {r.note}\n")
        for kind, msg in r.anomalies:
            if not (kind in ("rst", "connection_refused") or (notes and msg in r.note)):
                out.append(f"           ! {kind}: {msg}\n")
        for t in lesson_lines(r.teach, lang, asc) if r.teach else ():
            out.append(f"             {t}\n")
    return out


# (first, last, lang, notes, explain, ascii): every packet; a folded window; Chinese with lessons;
# no notes; ASCII lessons with a window that leaves out a single packet
TEXT_VIEWS = [(None, None, "en", True, False, False), (2, 1, "en", True, False, False),
              (None, None, "zh", True, True, False), (None, None, "en", False, False, False),
              (3, 0, "en", True, True, True)]


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_text_packet_lines_are_the_formatted_rows(capture):
    from tcptrace_py.render.text import packet_lines

    try:
        flows = list(Analyzer().run(CaptureReader(str(capture))))
    except Exception as exc:
        pytest.skip(f"not readable: {exc}")
    for flow in flows:
        for first, last, lang, notes, explain, asc in TEXT_VIEWS:
            if first is not None and len(flow.packets) <= first + last:
                continue              # View.window folds only a timeline longer than the window
            got: list[str] = []
            packet_lines(got, flow, first, last, lang, notes, explain, asc)
            assert got == _lines_from_rows(flow, first, last, lang, notes, explain, asc), (flow.id, lang)


def test_seconds6_is_the_float_formatter():
    """The timeline's time column: the same text as f"{t:.6f}", on microsecond and nanosecond
    captures' offsets, exact ties, values just beside a tie, negative and huge ones."""
    import random

    from tcptrace_py.render.text import seconds6

    rnd = random.Random(7)
    values = [0.0, 1e-7, 4e-7, 5e-7, 1.5e-6, 2.5e-6, 0.0000005, 0.1234565, 0.9999995, 1.0000005,
              -0.5, -1e-6, 1e6 + 0.0000005, 12345678.9, 1e12, 1e20, float("inf")]
    for _ in range(100_000):
        sec, frac = rnd.randrange(0, 200_000), rnd.randrange(0, 1_000_000_000)
        t0 = 1.7e9 + rnd.randrange(0, 1000) * 1e-6
        values.append((1.7e9 + sec + frac * 1e-9) - t0)            # a nanosecond capture's offset
        values.append((1.7e9 + sec + (frac // 1000) * 1e-6) - t0)  # a microsecond capture's
        values.append(rnd.randrange(0, 10**9) * 1e-6 + 5e-7)        # near a tie
    for t in values:
        assert seconds6(t) == f"{t:.6f}", repr(t)


@pytest.mark.parametrize("endian,magic,unit", [("<", 0xA1B2C3D4, 1e-6), (">", 0xA1B2C3D4, 1e-6),
                                               ("<", 0xA1B23C4D, 1e-9), (">", 0xA1B23C4D, 1e-9)])
def test_pcap_records_read_every_header_field(tmp_path, endian, magic, unit):
    """The pcap record walk reads the four header fields byte by byte: every byte value in
    every position, top bits set (a 32-bit shift overflowed once), both byte orders and
    resolutions, as `struct` reads them, in the reader's tuples and in the records the frame
    loop reads."""
    import random
    import struct

    rng = random.Random(magic ^ ord(endian))
    recs = []
    for i in range(600):
        sec = rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, rng.getrandbits(32)])
        frac = rng.choice([0, 999999, 0x80000000, 0xFFFFFFFF, rng.getrandbits(32)])
        caplen = rng.choice([0, 1, 60, 255, 256, 1514, rng.randrange(0, 70000)])
        wire = rng.choice([caplen, 0, 0xFFFFFFFF, 0x80000001, rng.getrandbits(32)])
        recs.append((sec, frac, caplen, wire, bytes(rng.getrandbits(8) for _ in range(min(caplen, 64)))
                     + bytes(max(0, caplen - 64))))
    path = tmp_path / "fields.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 262144, 1))
        for sec, frac, caplen, wire, data in recs:
            f.write(struct.pack(endian + "IIII", sec, frac, caplen, wire) + data)
    got = [(fr, ts, caplen, wire, bytes(buf[off:off + caplen]))
           for fr, ts, _lt, buf, off, caplen, wire in CaptureReader(str(path))]
    want = [(i, sec + frac * unit, caplen, max(wire, caplen), data)
            for i, (sec, frac, caplen, wire, data) in enumerate(recs, 1)]
    assert got == want
    cur = CaptureReader(str(path)).pcap_records()     # what the frame loop reads
    seen = []
    while (buf := cur.next()) is not None:
        seen.append((cur.frame, cur.ts, cur.caplen, cur.wire, bytes(buf[cur.off:cur.off + cur.caplen])))
    assert seen == want and cur.linktype == 1

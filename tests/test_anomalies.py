"""Our own anomaly ids, and where we label differently from tshark on purpose.

Each id has a test on a real capture (a sample made here, or a corpus capture no one here
wrote) and a test on a built trace, so its rule is pinned from both sides.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tcptrace_py import analyze
from trace import Trace  # tests/trace.py

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_pcaps"
CORPUS = ROOT.parent / "shared" / "corpus"


def kinds_at(flow, frame):
    for p in flow.packets:
        if p.frame == frame:
            return set(p.anomalies or ())
    raise AssertionError(f"no frame {frame}")


def flow_kinds(flow):
    return {a.kind for a in flow.anomalies}


def corpus(rel):
    path = CORPUS / rel
    if not path.exists():
        pytest.skip("../shared/corpus is not beside the project")
    return analyze(str(path))


# --- real captures ------------------------------------------------------------------------

def test_real_connection_refused_and_rst():
    f = analyze(str(SAMPLES / "reset-refused.pcap")).flows
    assert kinds_at(f[0], 2) >= {"rst", "connection_refused"}
    assert kinds_at(f[1], 10) == {"rst"}
    assert f[1].ended.ended == "reset" and f[1].ended.closer == "resp"


def test_real_syn_unanswered():
    flows = corpus("pcapplusplus/raw_ip.pcap").flows
    assert any("syn_unanswered" in flow_kinds(f) and f.ended.opened == "syn_unanswered" for f in flows)


def test_real_synack_unanswered():
    (flow, *_) = corpus("suricata-verify/tcp-fastopen-09/tcp-opt-invalid-warning.pcap").flows
    assert "synack_unanswered" in flow_kinds(flow)


def test_real_data_unacked():
    (flow,) = corpus("zeek/tcp/rst-inject-rae.pcap").flows
    (a,) = [a for a in flow.anomalies if a.kind == "data_unacked"]
    assert a.frame == 8 and a.message.startswith("150 bytes the client sent were never acknowledged")


def test_real_fin_unacked():
    (flow,) = corpus("suricata-verify/http-auth-unrecognized/input.pcap").flows
    assert "fin_unacked" in flow_kinds(flow)


def test_real_data_after_fin_and_after_rst():
    (flow,) = corpus("suricata-verify/bug-3286-02-linux-evasion/with_evasion_linux.pcap").flows
    kinds = set(flow.ended.anomaly_counts)
    assert {"data_after_fin", "data_after_rst"} <= kinds


def test_real_syn_with_data_but_not_tfo():
    (flow,) = corpus("zeek/tcp/payload-syn.pcap").flows
    assert "syn_with_data" in kinds_at(flow, flow.packets[0].frame)
    tfo = corpus("suricata-verify/tcp-fastopen-05/tfo.pcap").flows
    assert not any("syn_with_data" in (p.anomalies or ()) for f in tfo for p in f.packets)


def test_real_invalid_flags():
    flows = corpus("tcpdump/tcp_eight_lowest_weight_flags_set.pcap").flows
    assert any("invalid_flags" in (p.anomalies or ()) for f in flows for p in f.packets)


def test_real_ack_of_unsent():
    flows = corpus("suricata-verify/issue-3341-tcphdr-01/urgent11_cve_2019_12260.pcap").flows
    assert any("ack_of_unsent" in flow_kinds(f) for f in flows)


def test_real_not_closed_and_time_wait_reuse():
    flows = analyze(str(SAMPLES / "multi.pcapng")).flows
    assert kinds_at(flows[1], flows[1].packets[0].frame) >= {"reused_ports", "time_wait_reuse"}
    f = corpus("dpkt/http.pcap").flows
    assert any("not_closed" in flow_kinds(x) for x in f)


def test_real_network_duplicates_are_not_retransmissions():
    """tcpdump's pptp.pcap: frame 3 repeats frame 2 byte for byte (same IP ID 20404, 106 µs later).
    tshark calls it a retransmission; the server did not send it twice, the network copied it."""
    (flow,) = corpus("tcpdump/pptp.pcap").flows
    p2, p3 = flow.packets[1], flow.packets[2]
    assert (p2.ip_id, p3.ip_id) == (20404, 20404) and p3.ts - p2.ts < 0.001
    assert set(p3.anomalies) == {"duplicate"} and p3.anomalies["duplicate"] == 2
    # and the copy does not move the server back to SYN_RECEIVED
    assert p3.resp_state.value == "SYN_RECEIVED" and flow.ended.opened == "handshake"


def test_real_linux_zero_window_probes_are_not_keep_alives():
    """Our zero-window sample: Linux probes a zero window with a segment one byte below the next
    sequence number; tshark calls that a keep-alive. The receiver's window was 0, so it is a probe."""
    (flow,) = analyze(str(SAMPLES / "zero-window.pcap")).flows
    probes = [p for p in flow.packets if p.anomalies and "zero_window_probe" in p.anomalies]
    assert len(probes) == 3
    assert not any(p.anomalies and "keep_alive" in p.anomalies for p in flow.packets)
    for p in probes:
        peer_last = [q for q in flow.packets if q.frame < p.frame and q.dir != p.dir][-1]
        assert peer_last.win_raw == 0


def test_real_resent_segment_is_not_out_of_order():
    """zeek/http/206_example_b.pcap: segments tshark calls out-of-order were already captured
    once, from the same sender: the sender sent them again (a capture at the sender)."""
    flows = corpus("zeek/http/206_example_b.pcap").flows
    resent = [p for f in flows for p in f.packets if isinstance(p.info, tuple) and p.info[0] == "resent_not_reordered"]
    assert len(resent) >= 20
    for p in resent[:5]:
        first = p.info[1]
        (orig,) = [q for f in flows for q in f.packets if q.frame == first]
        assert (orig.seq, orig.len, orig.dir) == (p.seq, p.len, p.dir) and orig.frame < p.frame
        assert set(p.anomalies) & {"retransmission", "fast_retransmission"}


# --- built traces ----------------------------------------------------------------------------

def test_built_refused_and_rst(tmp_path):
    t = Trace(); t.syn(); t.rst("s")
    flow = t.analyze(tmp_path)
    assert kinds_at(flow, 2) == {"rst", "connection_refused"}
    assert flow.ended.opened == "refused"


def test_built_syn_unanswered(tmp_path):
    t = Trace(); t.syn(); t.syn(); t.syn()
    flow = t.analyze(tmp_path)
    assert flow_kinds(flow) == {"syn_unanswered"} and "3 SYNs sent" in flow.anomalies[0].message


def test_built_synack_unanswered(tmp_path):
    t = Trace(); t.syn(); t.synack(); t.synack()
    assert "synack_unanswered" in flow_kinds(t.analyze(tmp_path))


def test_built_data_unacked_and_fin_unacked(tmp_path):
    t = Trace(isn_c=1000, isn_s=5000); t.handshake(); t.data(200, "s"); t.fin("s")
    t.data(5, "c", ack=5000 + 1)     # the client is seen later, still acking only the SYN
    flow = t.analyze(tmp_path)
    assert {"data_unacked", "fin_unacked"} <= flow_kinds(flow)
    (a,) = [a for a in flow.anomalies if a.kind == "data_unacked"]
    assert a.message.startswith("200 bytes the server sent were never acknowledged")


def test_built_data_after_fin_and_rst(tmp_path):
    t = Trace(); t.handshake(); t.fin(); t.data(10)
    f = t.analyze(tmp_path)
    assert "data_after_fin" in kinds_at(f, 5)
    t = Trace(); t.handshake(); t.rst("s"); t.data(10)
    f = t.analyze(tmp_path)
    assert "data_after_rst" in kinds_at(f, 5)


def test_built_syn_with_data(tmp_path):
    from trace import tfo
    t = Trace(); t.syn(n=50)
    assert "syn_with_data" in kinds_at(t.analyze(tmp_path), 1)
    t = Trace(); t.syn(n=50, options=tfo(b"12345678"))
    assert "syn_with_data" not in kinds_at(t.analyze(tmp_path), 1)


@pytest.mark.parametrize("flags,what", [(0x03, "SYN and FIN"), (0x06, "SYN and RST"), (0x00, "no flags"),
                                        (0x29, "Xmas")])
def test_built_invalid_flags(tmp_path, flags, what):
    t = Trace(); t.handshake(); t.send("c", flags, seq=t.isn["c"] if flags & 0x02 else None)
    f = t.analyze(tmp_path)
    p = f.packets[3]
    assert what in p.anomalies["invalid_flags"]


def test_built_ack_of_unsent(tmp_path):
    t = Trace(isn_c=1000, isn_s=5000); t.handshake(); t.data(10, "s")
    t.data(1, "c", ack=5000 + 1 + 10 + 500)        # acks 500 bytes the server never sent
    flow = t.analyze(tmp_path)
    assert "ack_of_unsent" in flow_kinds(flow)
    t = Trace(isn_c=1000, isn_s=5000); t.handshake(); t.data(10, "s")
    t.data(1, "c", ack=5000 + 1 + 10 + 500)
    t.data(10, "s", seq=5000 + 1 + 10 + 490)        # the server's later data: the capture had a gap
    assert "ack_of_unsent" not in flow_kinds(t.analyze(tmp_path))


def test_built_partial_ack(tmp_path):
    """An ACK into the middle of one 2000-byte segment is partial; an ACK at the edge of a segment,
    or at the edge of a later, smaller resend of the same bytes, is not."""
    t = Trace(isn_c=1000, isn_s=5000); t.handshake()
    seg = t.data(2000, "s")
    half = t.ack("c", ack=5000 + 1 + 1000)
    whole = t.ack("c")
    flow = t.analyze(tmp_path)
    assert kinds_at(flow, half) == {"partial_ack"} and kinds_at(flow, whole) == set()
    (p,) = [p for p in flow.packets if p.frame == half]
    assert p.anomalies["partial_ack"] == (seg, 1000, 2000)
    from tcptrace_py.prose.explain import Explainer
    assert Explainer(flow).anomaly_message(p, "partial_ack", p.anomalies["partial_ack"]).startswith(
        "partial ACK: client acknowledges 1000 of the 2000 bytes the server sent in frame 4")
    assert "只确认了其中 1000 字节" in Explainer(flow, "zh").anomaly_message(p, "partial_ack", (seg, 1000, 2000))
    t = Trace(isn_c=1000, isn_s=5000); t.handshake(); t.data(1000, "s"); t.data(1000, "s")
    first = t.ack("c", ack=5000 + 1 + 1000)
    assert kinds_at(t.analyze(tmp_path), first) == set()
    t = Trace(isn_c=1000, isn_s=5000); t.handshake(); t.data(2000, "s", advance=False)
    t.data(1000, "s", dt=0.3)                          # the first half again, as its own segment
    first = t.ack("c", ack=5000 + 1 + 1000)
    assert "partial_ack" not in kinds_at(t.analyze(tmp_path), first)


def test_built_not_closed(tmp_path):
    t = Trace(); t.handshake(); t.data(10)
    assert flow_kinds(t.analyze(tmp_path)) == {"not_closed"}


def test_built_time_wait_reuse(tmp_path):
    t = Trace(); t.handshake(); t.fin(); t.fin("s"); t.ack()
    t.wait(30); t.reconnect(77777, 88888); t.syn()
    f = t.analysis(tmp_path).flows
    assert len(f) == 2 and {"reused_ports", "time_wait_reuse"} <= set(f[1].packets[0].anomalies)
    t = Trace(); t.handshake(); t.fin(); t.fin("s"); t.ack()
    t.wait(300); t.reconnect(77777, 88888); t.syn()
    f = t.analysis(tmp_path).flows
    assert "time_wait_reuse" not in set(f[1].packets[0].anomalies)


def test_built_duplicate_vs_retransmission(tmp_path):
    t = Trace(); t.handshake(); d = t.data(100); t.duplicate(d)
    f = t.analyze(tmp_path)
    assert set(f.packets[-1].anomalies) == {"duplicate"}
    t = Trace(); t.handshake(); d = t.data(100); t.resend(d, dt=0.3)
    f = t.analyze(tmp_path)
    assert set(f.packets[-1].anomalies) == {"retransmission"}

"""Trace-style tests for the dual-endpoint state machine (tcptrace_py.core.tracker).

Each test writes a conversation with the vocabulary of tests/trace.py and checks
the analysis packet by packet with `expect`:

    <frame> <c|s> [<flags>] seq <rseq> ack <rack|-> len <n> <client state> <server state> [! anomalies]

"c" is the flow's orig (dir 0), "s" its resp (dir 1); the states are both
endpoints' states AFTER the packet; a line without "!" asserts the packet has no
anomaly at all. Then the verdict (opened, ended, closer) and the flow-level
anomalies. Expectations follow RFC 9293 as seen by a passive observer that
assumes every captured segment arrives.
"""
from __future__ import annotations

import itertools
import os
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))
if "trace" in sys.modules and not hasattr(sys.modules["trace"], "Trace"):
    del sys.modules["trace"]   # the standard library's `trace` got there first
from trace import (Trace, expect, flow_anomalies, listing, mss, notes, sack_ok, tfo,  # noqa: E402
                   verdict, write_pcap, wscale)

from tcptrace_py import analyze  # noqa: E402
from tcptrace_py.core.detectors import SEVERITY  # noqa: E402
from tcptrace_py.core.records import ACK, FIN, RST, SYN, Endpoint, Packet, State  # noqa: E402
from tcptrace_py.core.tracker import transition  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "sample_pcaps")
TCP_SEQ_KINDS = {"retransmission", "fast_retransmission", "spurious_retransmission",
                 "out_of_order", "lost_segment", "ack_lost_segment"}


def established(**kw) -> Trace:
    t = Trace(**kw)
    t.syn()
    t.synack()
    t.ack()
    return t


HANDSHAKE = """
    1 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    3 c [.]  seq 1 ack 1 len 0   ESTABLISHED  ESTABLISHED
"""


# --- 1. the three-way handshake ------------------------------------------------------

def test_handshake(tmp_path):
    t = Trace()
    t.syn(options=mss(1460) + sack_ok() + wscale(7))
    t.synack(options=mss(1400) + sack_ok() + wscale(9))
    t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE)
    assert verdict(flow) == ("handshake", "open", None)
    assert flow_anomalies(flow) == {"not_closed"}
    assert flow.oriented_by == "syn"
    assert flow.irtt == pytest.approx(2 * t.dt, abs=1e-5)
    o, r = flow.ends
    assert (o.isn, r.isn) == (1000, 5000)
    assert (o.mss, o.wscale, o.sack_ok) == (1460, 7, True)
    assert (r.mss, r.wscale, r.sack_ok) == (1400, 9, True)


def test_handshake_ipv6(tmp_path):
    t = Trace(client=("2001:db8::1", 40000), server=("2001:db8::2", 443))
    t.syn(); t.synack(); t.ack(); t.data(20); t.ack("s")
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 c [P.] seq 1 ack 1 len 20  ESTABLISHED ESTABLISHED
    5 s [.]  seq 1 ack 21 len 0  ESTABLISHED ESTABLISHED
    """)
    assert verdict(flow) == ("handshake", "open", None)


def test_window_scaling_applies_after_the_handshake(tmp_path):
    t = Trace()
    t.syn(options=wscale(2)); t.synack(options=wscale(3)); t.ack(win=100); t.ack("s", win=100)
    flow = t.analyze(tmp_path)
    p = flow.packets
    assert (p[2].win, p[3].win) == (100 << 2, 100 << 3)


# --- 2. retransmitted SYN and SYN-ACK ------------------------------------------------

def test_retransmitted_syn(tmp_path):
    t = Trace()
    t.syn()
    t.resend(1, dt=1.0)
    t.resend(1, dt=2.0)
    t.synack(); t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN
    2 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN        ! retransmission
    3 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN        ! retransmission
    4 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    5 c [.]  seq 1 ack 1 len 0   ESTABLISHED  ESTABLISHED
    """)
    assert verdict(flow) == ("handshake", "open", None)
    assert flow_anomalies(flow) == {"not_closed"}
    # the handshake RTT is measured from the SYN that was answered (the last one)
    assert flow.irtt == pytest.approx(2 * t.dt, abs=1e-5)


def test_retransmitted_synack(tmp_path):
    t = Trace()
    t.syn(); t.synack()
    t.resend(2, dt=1.0)          # the server heard nothing: SYN-ACK again
    t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    3 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED  ! retransmission
    4 c [.]  seq 1 ack 1 len 0   ESTABLISHED  ESTABLISHED
    """)
    assert verdict(flow) == ("handshake", "open", None)
    assert flow_anomalies(flow) == {"not_closed"}


def test_synack_repeated_after_the_final_ack_was_captured(tmp_path):
    # the ACK was captured but lost after the capture point: the server repeats its
    # SYN-ACK, so it is still in SYN_RECEIVED; the client's second ACK completes it
    t = Trace()
    t.syn(); t.synack(); t.ack()
    t.resend(2, dt=1.0)
    t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED  ! retransmission
    5 c [.]  seq 1 ack 1 len 0   ESTABLISHED  ESTABLISHED   ! duplicate_ack
    """)
    assert verdict(flow) == ("handshake", "open", None)


def test_syn_repeated_after_the_synack_was_captured(tmp_path):
    t = Trace()
    t.syn(); t.synack()
    t.resend(1, dt=1.0)          # the SYN-ACK was lost after the capture point
    t.resend(2, dt=0.001)        # the server answers the repeated SYN with its SYN-ACK
    t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    3 c [S]  seq 0 ack - len 0   SYN_SENT     SYN_RECEIVED  ! retransmission
    4 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED  ! retransmission
    5 c [.]  seq 1 ack 1 len 0   ESTABLISHED  ESTABLISHED
    """)


# --- 3. simultaneous open ------------------------------------------------------------

def simultaneous_open(last: str) -> Trace:
    t = Trace(client=("10.0.0.1", 5001), server=("10.0.0.2", 5002))
    t.syn("c")
    t.syn("s")                                    # the SYNs cross
    t.synack("c")                                 # each answers the other's SYN
    if last == "synack":
        t.synack("s")
    else:
        t.ack("s")
    return t


def test_simultaneous_open_ending_with_ack_states(tmp_path):
    flow = simultaneous_open("ack").analyze(tmp_path)
    # frame 3 repeats the client's SYN sequence number: tshark calls it a retransmission too
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT      LISTEN
    2 s [S]  seq 0 ack - len 0   SYN_RECEIVED  SYN_SENT
    3 c [S.] seq 0 ack 1 len 0   SYN_RECEIVED  ESTABLISHED   ! retransmission
    4 s [.]  seq 1 ack 1 len 0   ESTABLISHED   ESTABLISHED
    """)


def test_simultaneous_open_with_two_synacks_states(tmp_path):
    flow = simultaneous_open("synack").analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT      LISTEN
    2 s [S]  seq 0 ack - len 0   SYN_RECEIVED  SYN_SENT
    3 c [S.] seq 0 ack 1 len 0   SYN_RECEIVED  ESTABLISHED   ! retransmission
    4 s [S.] seq 0 ack 1 len 0   ESTABLISHED   ESTABLISHED   ! retransmission
    """)


@pytest.mark.parametrize("last", ["ack", "synack"])
def test_simultaneous_open_verdict(tmp_path, last):
    flow = simultaneous_open(last).analyze(tmp_path)
    assert verdict(flow) == ("handshake", "open", None)
    assert flow_anomalies(flow) == {"not_closed"}


# --- 4. data on the handshake's third packet -----------------------------------------

def test_data_on_the_third_handshake_packet(tmp_path):
    t = Trace()
    t.syn(); t.synack()
    t.data(10)                     # [P.] that also ACKs the SYN-ACK
    t.ack("s")
    t.fin(); t.fin("s"); t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0    SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 1 len 0    ESTABLISHED  SYN_RECEIVED
    3 c [P.] seq 1 ack 1 len 10   ESTABLISHED  ESTABLISHED
    4 s [.]  seq 1 ack 11 len 0   ESTABLISHED  ESTABLISHED
    5 c [F.] seq 11 ack 1 len 0   FIN_WAIT_1   CLOSE_WAIT
    6 s [F.] seq 1 ack 12 len 0   TIME_WAIT    LAST_ACK
    7 c [.]  seq 12 ack 2 len 0   TIME_WAIT    CLOSED
    """)
    assert verdict(flow) == ("handshake", "graceful", "orig")
    assert flow_anomalies(flow) == set()
    assert "handshake 3/3" in notes(flow)[3] and "bytes 1–10" in notes(flow)[3]


# --- 5. SYN carrying data ------------------------------------------------------------

def test_syn_with_tfo_cookie_carries_data(tmp_path):
    t = Trace()
    t.syn(n=20, options=mss() + tfo())
    t.synack()                     # acknowledges the SYN and the 20 bytes
    t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 20   SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 21 len 0   ESTABLISHED  SYN_RECEIVED
    3 c [.]  seq 21 ack 1 len 0   ESTABLISHED  ESTABLISHED
    """)
    assert verdict(flow) == ("handshake", "open", None)
    assert flow_anomalies(flow) == {"not_closed"}
    assert "Fast Open" in notes(flow)[1]


def test_syn_with_data_without_cookie(tmp_path):
    t = Trace()
    t.syn(n=20, options=mss())
    t.synack(ack=t.isn["c"] + 1)   # a server without TFO acknowledges only the SYN
    t.data(20, seq=t.isn["c"] + 1)  # and the client sends the bytes again
    t.ack("s")
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 20   SYN_SENT     LISTEN        ! syn_with_data
    2 s [S.] seq 0 ack 1 len 0    ESTABLISHED  SYN_RECEIVED
    3 c [P.] seq 1 ack 1 len 20   ESTABLISHED  ESTABLISHED   ! retransmission
    4 s [.]  seq 1 ack 21 len 0   ESTABLISHED  ESTABLISHED
    """)
    assert verdict(flow) == ("handshake", "open", None)


def test_tfo_cookie_request_without_data_is_plain(tmp_path):
    t = Trace()
    t.syn(options=mss() + tfo(b""))
    t.synack(options=mss() + tfo())
    t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE)


# --- 6. half-close ------------------------------------------------------------------

def test_half_close(tmp_path):
    t = established()
    t.data(10); t.ack("s")
    t.fin(n=5)                     # [FP.]: the last 5 bytes ride on the FIN
    t.ack("s")
    t.data(100, "s"); t.ack()      # the server keeps sending into the half-closed connection
    t.data(50, "s"); t.ack()
    t.fin("s"); t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4  c [P.]  seq 1 ack 1 len 10     ESTABLISHED  ESTABLISHED
    5  s [.]   seq 1 ack 11 len 0     ESTABLISHED  ESTABLISHED
    6  c [FP.] seq 11 ack 1 len 5     FIN_WAIT_1   CLOSE_WAIT
    7  s [.]   seq 1 ack 17 len 0     FIN_WAIT_2   CLOSE_WAIT
    8  s [P.]  seq 1 ack 17 len 100   FIN_WAIT_2   CLOSE_WAIT
    9  c [.]   seq 17 ack 101 len 0   FIN_WAIT_2   CLOSE_WAIT
    10 s [P.]  seq 101 ack 17 len 50  FIN_WAIT_2   CLOSE_WAIT
    11 c [.]   seq 17 ack 151 len 0   FIN_WAIT_2   CLOSE_WAIT
    12 s [F.]  seq 151 ack 17 len 0   TIME_WAIT    LAST_ACK
    13 c [.]   seq 17 ack 152 len 0   TIME_WAIT    CLOSED
    """)
    assert verdict(flow) == ("handshake", "graceful", "orig")
    assert flow_anomalies(flow) == set()
    n = notes(flow)
    assert "close 1/4" in n[6] and "close 2/4" in n[7] and "close 3/4" in n[12] and "close 4/4" in n[13]


def test_half_close_server_data_before_it_sees_the_fin(tmp_path):
    # the server's data segment left before the client's FIN arrived: its ACK does
    # not cover the FIN, so the client stays in FIN_WAIT_1 until the next ACK
    t = established()
    t.fin()
    t.data(30, "s", ack=t.isn["c"] + 1)
    t.ack("s")
    t.ack()
    t.fin("s"); t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 c [F.] seq 1 ack 1 len 0    FIN_WAIT_1  CLOSE_WAIT
    5 s [P.] seq 1 ack 1 len 30   FIN_WAIT_1  CLOSE_WAIT
    6 s [.]  seq 31 ack 2 len 0   FIN_WAIT_2  CLOSE_WAIT
    7 c [.]  seq 2 ack 31 len 0   FIN_WAIT_2  CLOSE_WAIT
    8 s [F.] seq 31 ack 2 len 0   TIME_WAIT   LAST_ACK
    9 c [.]  seq 2 ack 32 len 0   TIME_WAIT   CLOSED
    """)
    assert verdict(flow) == ("handshake", "graceful", "orig")


# --- 7. simultaneous close -----------------------------------------------------------

def test_simultaneous_close(tmp_path):
    t = established()
    t.data(10); t.ack("s")
    t.fin()
    t.fin("s", crosses=True)       # sent before the client's FIN arrived: ack 11, not 12
    t.ack("c")
    t.ack("s")
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 c [P.] seq 1 ack 1 len 10   ESTABLISHED ESTABLISHED
    5 s [.]  seq 1 ack 11 len 0   ESTABLISHED ESTABLISHED
    6 c [F.] seq 11 ack 1 len 0   FIN_WAIT_1  CLOSE_WAIT
    7 s [F.] seq 1 ack 11 len 0   CLOSING     CLOSING
    8 c [.]  seq 12 ack 2 len 0   CLOSING     TIME_WAIT
    9 s [.]  seq 2 ack 12 len 0   TIME_WAIT   TIME_WAIT
    """)
    assert verdict(flow) == ("handshake", "graceful", "orig")
    assert flow_anomalies(flow) == set()
    assert "cross" in notes(flow)[7]


def test_simultaneous_close_sample():
    flow = analyze(os.path.join(SAMPLES, "simultaneous-close.pcap")).flows[0]
    states = [(p.orig_state, p.resp_state) for p in flow.packets]
    assert (State.CLOSING, State.CLOSING) in states
    assert states[-1] == (State.TIME_WAIT, State.TIME_WAIT)
    assert verdict(flow)[1] == "graceful"


# --- 8. three- and four-packet close --------------------------------------------------

def test_three_packet_close(tmp_path):
    t = established()
    t.data(97); t.ack("s"); t.data(50, "s"); t.ack()
    t.fin(); t.fin("s"); t.ack()   # F., F., .
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4  c [P.] seq 1 ack 1 len 97    ESTABLISHED ESTABLISHED
    5  s [.]  seq 1 ack 98 len 0    ESTABLISHED ESTABLISHED
    6  s [P.] seq 1 ack 98 len 50   ESTABLISHED ESTABLISHED
    7  c [.]  seq 98 ack 51 len 0   ESTABLISHED ESTABLISHED
    8  c [F.] seq 98 ack 51 len 0   FIN_WAIT_1  CLOSE_WAIT
    9  s [F.] seq 51 ack 99 len 0   TIME_WAIT   LAST_ACK
    10 c [.]  seq 99 ack 52 len 0   TIME_WAIT   CLOSED
    """)
    assert verdict(flow) == ("handshake", "graceful", "orig")
    assert flow_anomalies(flow) == set()
    n = notes(flow)
    assert n[8].startswith("close 1/3") and n[9].startswith("close 2/3") and n[10].startswith("close 3/3")
    assert not any("/4" in x for x in n.values())


def test_three_packet_close_server_first(tmp_path):
    t = established()
    t.fin("s"); t.fin("c"); t.ack("s")
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 s [F.] seq 1 ack 1 len 0   CLOSE_WAIT  FIN_WAIT_1
    5 c [F.] seq 1 ack 2 len 0   LAST_ACK    TIME_WAIT
    6 s [.]  seq 2 ack 2 len 0   CLOSED      TIME_WAIT
    """)
    assert verdict(flow) == ("handshake", "graceful", "resp")
    n = notes(flow)
    assert "close 1/3" in n[4] and "close 2/3" in n[5] and "close 3/3" in n[6]


def test_four_packet_close(tmp_path):
    t = established()
    t.fin(); t.ack("s"); t.fin("s"); t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 c [F.] seq 1 ack 1 len 0   FIN_WAIT_1  CLOSE_WAIT
    5 s [.]  seq 1 ack 2 len 0   FIN_WAIT_2  CLOSE_WAIT
    6 s [F.] seq 1 ack 2 len 0   TIME_WAIT   LAST_ACK
    7 c [.]  seq 2 ack 2 len 0   TIME_WAIT   CLOSED
    """)
    assert verdict(flow) == ("handshake", "graceful", "orig")
    assert flow_anomalies(flow) == set()
    n = notes(flow)
    assert [n[f][:9] for f in (4, 5, 6, 7)] == ["close 1/4", "close 2/4", "close 3/4", "close 4/4"]


def test_retransmitted_fins(tmp_path):
    t = established()
    t.fin()
    t.resend(4, dt=0.5)            # the client's FIN again: still FIN_WAIT_1 / CLOSE_WAIT
    t.fin("s")
    t.resend(6, dt=0.5)            # the server's FIN again: its ACK was lost
    t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 c [F.] seq 1 ack 1 len 0   FIN_WAIT_1  CLOSE_WAIT
    5 c [F.] seq 1 ack 1 len 0   FIN_WAIT_1  CLOSE_WAIT   ! retransmission
    6 s [F.] seq 1 ack 2 len 0   TIME_WAIT   LAST_ACK
    7 s [F.] seq 1 ack 2 len 0   TIME_WAIT   LAST_ACK     ! retransmission
    8 c [.]  seq 2 ack 2 len 0   TIME_WAIT   CLOSED
    """)
    assert verdict(flow) == ("handshake", "graceful", "orig")


def test_seed_capture_close():
    flow = analyze(os.path.join(SAMPLES, "seed-8090.pcap")).flows[0]
    last3 = flow.packets[-3:]
    assert [p.flag_str for p in last3] == ["F.", "F.", "."]
    assert [(p.orig_state, p.resp_state) for p in last3] == [
        (State.FIN_WAIT_1, State.CLOSE_WAIT), (State.TIME_WAIT, State.LAST_ACK),
        (State.TIME_WAIT, State.CLOSED)]
    n = notes(flow)
    assert [n[p.frame][:9] for p in last3] == ["close 1/3", "close 2/3", "close 3/3"]
    assert verdict(flow) == ("handshake", "graceful", "orig")


# --- 9. RST in every state -----------------------------------------------------------

def test_connection_refused(tmp_path):
    t = Trace()
    t.syn()
    t.rst("s", seq=0)              # Linux: [R.] seq 0, ack = ISN + 1
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT  LISTEN
    2 s [R.] seq 1 ack 1 len 0   CLOSED    CLOSED   ! connection_refused, rst
    """)
    assert flow.packets[1].anomalies["rst"] == "LISTEN"
    assert verdict(flow) == ("refused", "refused", "resp")
    assert flow_anomalies(flow) == set()
    assert "refuses" in notes(flow)[2]


def test_rst_from_client_in_syn_sent(tmp_path):
    t = Trace()
    t.syn()
    t.rst("c", with_ack=False)     # the client gives up before any SYN-ACK
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S] seq 0 ack - len 0   SYN_SENT  LISTEN
    2 c [R] seq 1 ack - len 0   CLOSED    LISTEN   ! rst
    """)
    assert flow.packets[1].anomalies["rst"] == "SYN_SENT"
    assert verdict(flow) == ("syn_unanswered", "reset", "orig")
    assert flow_anomalies(flow) == {"syn_unanswered"}


def test_rst_from_client_answering_the_synack(tmp_path):
    t = Trace()
    t.syn(); t.synack()
    t.rst("c", with_ack=False)
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    3 c [R]  seq 1 ack - len 0   CLOSED       CLOSED        ! rst
    """)
    assert verdict(flow) == ("handshake_no_ack", "reset", "orig")
    assert flow_anomalies(flow) == set()


def test_rst_from_server_in_syn_received(tmp_path):
    t = Trace()
    t.syn(); t.synack()
    t.rst("s")
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    3 s [R.] seq 1 ack 1 len 0   CLOSED       CLOSED        ! rst
    """)
    assert flow.packets[2].anomalies["rst"] == "SYN_RECEIVED"
    assert verdict(flow) == ("handshake_no_ack", "reset", "resp")
    assert flow_anomalies(flow) == set()
    assert "it was SYN_RECEIVED" in notes(flow)[3]


@pytest.mark.parametrize("by,closer", [("c", "orig"), ("s", "resp")])
def test_abort_in_established(tmp_path, by, closer):
    t = established()
    t.data(5); t.ack("s")
    t.rst(by)
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + f"""
    4 c [P.] seq 1 ack 1 len 5   ESTABLISHED ESTABLISHED
    5 s [.]  seq 1 ack 6 len 0   ESTABLISHED ESTABLISHED
    6 {by} [R.] seq {6 if by == 'c' else 1} ack {1 if by == 'c' else 6} len 0   CLOSED CLOSED  ! rst
    """)
    assert flow.packets[-1].anomalies["rst"] == "ESTABLISHED"
    assert verdict(flow) == ("handshake", "reset", closer)
    assert flow_anomalies(flow) == set()


# (close steps before the RST, client state, server state) just before it
CLOSE_PREFIXES = {
    "FIN_WAIT_1/CLOSE_WAIT": (lambda t: t.fin(), State.FIN_WAIT_1, State.CLOSE_WAIT),
    "FIN_WAIT_2/CLOSE_WAIT": (lambda t: (t.fin(), t.ack("s")), State.FIN_WAIT_2, State.CLOSE_WAIT),
    "TIME_WAIT/LAST_ACK": (lambda t: (t.fin(), t.fin("s")), State.TIME_WAIT, State.LAST_ACK),
    "CLOSING/CLOSING": (lambda t: (t.fin(), t.fin("s", crosses=True)), State.CLOSING, State.CLOSING),
    "TIME_WAIT/CLOSED": (lambda t: (t.fin(), t.fin("s"), t.ack()), State.TIME_WAIT, State.CLOSED),
}


@pytest.mark.parametrize("by", ["c", "s"])
@pytest.mark.parametrize("prefix", list(CLOSE_PREFIXES))
def test_rst_during_close(tmp_path, prefix, by):
    steps, cs, ss = CLOSE_PREFIXES[prefix]
    t = established()
    t.data(10); t.ack("s")
    steps(t)
    before = len(t.frames)
    t.rst(by)
    flow = t.analyze(tmp_path)
    p = flow.packets
    assert (p[before - 1].orig_state, p[before - 1].resp_state) == (cs, ss)
    rst = p[before]
    assert (rst.orig_state, rst.resp_state) == (State.CLOSED, State.CLOSED)
    assert rst.anomalies == {"rst": (cs if by == "c" else ss).value}
    assert all(q.anomalies is None for q in p[:before])
    assert verdict(flow) == ("handshake", "reset", "orig" if by == "c" else "resp")
    assert flow_anomalies(flow) == set()


def test_data_after_rst(tmp_path):
    t = established()
    t.data(5); t.ack("s")
    t.rst("s")
    t.data(5)                      # the client had not heard of the RST yet
    t.rst("s", seq=t.nxt["s"])
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 c [P.] seq 1 ack 1 len 5   ESTABLISHED ESTABLISHED
    5 s [.]  seq 1 ack 6 len 0   ESTABLISHED ESTABLISHED
    6 s [R.] seq 1 ack 6 len 0   CLOSED CLOSED  ! rst
    7 c [P.] seq 6 ack 1 len 5   CLOSED CLOSED  ! data_after_rst
    8 s [R.] seq 1 ack 11 len 0  CLOSED CLOSED  ! rst
    """)
    assert flow.packets[6].anomalies["data_after_rst"] == 6
    assert verdict(flow) == ("handshake", "reset", "resp")


def test_unlisted_pair_is_an_anomaly_not_an_error(tmp_path):
    t = Trace()
    t.syn()
    t.fin("s")                     # the server's SYN-ACK was not captured; the client never got one
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT  LISTEN
    2 s [F.] seq 1 ack 1 len 0   SYN_SENT  FIN_WAIT_1  ! unexpected_segment
    """)
    assert flow.packets[1].anomalies["unexpected_segment"] == "SYN_SENT did not expect to receive a FIN"


# --- 10. capture starting after the handshake ----------------------------------------

def test_midstream_then_fin_close(tmp_path):
    t = Trace(isn_c=70000, isn_s=90000)
    t.data(10); t.ack("s"); t.data(20, "s"); t.ack()
    t.fin(); t.fin("s"); t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [P.] seq 1 ack 1 len 10    UNKNOWN     UNKNOWN
    2 s [.]  seq 1 ack 11 len 0    UNKNOWN     UNKNOWN
    3 s [P.] seq 1 ack 11 len 20   UNKNOWN     UNKNOWN
    4 c [.]  seq 11 ack 21 len 0   UNKNOWN     UNKNOWN
    5 c [F.] seq 11 ack 21 len 0   FIN_WAIT_1  CLOSE_WAIT
    6 s [F.] seq 21 ack 12 len 0   TIME_WAIT   LAST_ACK
    7 c [.]  seq 12 ack 22 len 0   TIME_WAIT   CLOSED
    """)
    assert flow.init_states == (State.UNKNOWN, State.UNKNOWN)
    assert flow.oriented_by == "first"   # the first packet's sender; port 80 agrees
    assert verdict(flow) == ("midstream", "graceful", "orig")
    assert flow_anomalies(flow) == set()


def test_midstream_oriented_by_port_when_the_server_speaks_first(tmp_path):
    t = Trace()
    t.data(10, "s"); t.ack("c")
    flow = t.analyze(tmp_path)
    assert flow.oriented_by == "port"
    assert flow.orig[1] == 40000        # the well-known port 80 is the server's
    expect(flow, """
    1 s [P.] seq 1 ack 1 len 10   UNKNOWN UNKNOWN
    2 c [.]  seq 1 ack 11 len 0   UNKNOWN UNKNOWN
    """)
    assert verdict(flow) == ("midstream", "open", None)
    assert flow_anomalies(flow) == {"not_closed"}


def test_midstream_oriented_by_first_packet_between_high_ports(tmp_path):
    t = Trace(client=("10.0.0.1", 40000), server=("10.0.0.2", 8080))
    t.data(10, "s"); t.ack("c")       # the "server" speaks first: it becomes the orig
    flow = t.analyze(tmp_path)
    assert flow.oriented_by == "first"
    assert flow.orig[1] == 8080
    expect(flow, """
    1 c [P.] seq 1 ack 1 len 10   UNKNOWN UNKNOWN
    2 s [.]  seq 1 ack 11 len 0   UNKNOWN UNKNOWN
    """)
    assert verdict(flow) == ("midstream", "open", None)


def test_midstream_reset(tmp_path):
    t = Trace()
    t.data(10); t.rst("s")
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [P.] seq 1 ack 1 len 10   UNKNOWN UNKNOWN
    2 s [R.] seq 1 ack 11 len 0   CLOSED  CLOSED   ! rst
    """)
    assert flow.packets[1].anomalies["rst"] == "UNKNOWN"
    assert verdict(flow) == ("midstream", "reset", "resp")


def test_capture_starting_at_the_synack(tmp_path):
    t = Trace()
    t.nxt["c"] += 1                 # the client's SYN was sent but not captured
    t.synack(); t.ack(); t.data(5)
    flow = t.analyze(tmp_path)
    assert flow.oriented_by == "synack" and flow.orig[1] == 40000
    expect(flow, """
    1 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    2 c [.]  seq 1 ack 1 len 0   ESTABLISHED  ESTABLISHED
    3 c [P.] seq 1 ack 1 len 5   ESTABLISHED  ESTABLISHED
    """)
    assert verdict(flow) == ("partial_handshake", "open", None)


# --- 11. capture ending in every state ------------------------------------------------

def test_ends_after_syn(tmp_path):
    t = Trace()
    t.syn()
    flow = t.analyze(tmp_path)
    expect(flow, "1 c [S] seq 0 ack - len 0 SYN_SENT LISTEN")
    assert verdict(flow) == ("syn_unanswered", "unanswered", None)
    assert flow_anomalies(flow) == {"syn_unanswered"}     # never opened, so not "left open"


def test_ends_after_synack(tmp_path):
    t = Trace()
    t.syn(); t.synack()
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    """)
    assert verdict(flow) == ("handshake_no_ack", "open", None)
    assert flow_anomalies(flow) == {"synack_unanswered", "not_closed"}


def test_ends_established(tmp_path):
    t = established()
    t.data(3); t.ack("s")
    flow = t.analyze(tmp_path)
    assert (flow.ends[0].state, flow.ends[1].state) == (State.ESTABLISHED, State.ESTABLISHED)
    assert verdict(flow) == ("handshake", "open", None)
    assert flow_anomalies(flow) == {"not_closed"}
    assert all(p.anomalies is None for p in flow.packets)


def test_ends_with_unacknowledged_data(tmp_path):
    t = established()
    t.data(3); t.data(4, "s", ack=t.isn["c"] + 1)   # the server talks but never ACKs the 3 bytes
    flow = t.analyze(tmp_path)
    assert verdict(flow) == ("handshake", "open", None)
    assert flow_anomalies(flow) == {"data_unacked", "not_closed"}


@pytest.mark.parametrize("acked,states", [
    (False, (State.FIN_WAIT_1, State.CLOSE_WAIT)),
    (True, (State.FIN_WAIT_2, State.CLOSE_WAIT)),
])
def test_ends_half_closed(tmp_path, acked, states):
    t = established()
    t.fin()
    if acked:
        t.ack("s")
    flow = t.analyze(tmp_path)
    assert (flow.ends[0].state, flow.ends[1].state) == states
    assert verdict(flow) == ("handshake", "half_closed", "orig")
    assert flow_anomalies(flow) == {"not_closed"}


def test_ends_in_last_ack(tmp_path):
    t = established()
    t.fin(); t.fin("s")                    # the final ACK is not captured
    flow = t.analyze(tmp_path)
    assert (flow.ends[0].state, flow.ends[1].state) == (State.TIME_WAIT, State.LAST_ACK)
    assert verdict(flow) == ("handshake", "half_closed", "orig")
    assert flow_anomalies(flow) == {"not_closed"}


def test_fin_never_acknowledged(tmp_path):
    t = established()
    t.fin()
    t.data(10, "s", ack=t.isn["c"] + 1)    # the server is seen afterwards, never ACKing the FIN
    flow = t.analyze(tmp_path)
    assert (flow.ends[0].state, flow.ends[1].state) == (State.FIN_WAIT_1, State.CLOSE_WAIT)
    assert flow_anomalies(flow) == {"fin_unacked", "not_closed"}


# --- 12. sequence numbers wrapping past 2**32 -----------------------------------------

@pytest.mark.parametrize("isn_c,isn_s", [
    (2**32 - 100, 2**32 - 3),
    (2**32 - 1, 2**32 - 1),     # the SYN itself is the last number: data starts at 0
    (2**32 - 2, 2**32 - 41),    # a FIN lands exactly on 2**32 - 1 (the client's, after 200 bytes)
])
def test_sequence_wrap(tmp_path, isn_c, isn_s):
    t = Trace(isn_c=isn_c, isn_s=isn_s)
    t.syn(); t.synack(); t.ack()
    for _ in range(5):
        t.data(40); t.ack("s"); t.data(30, "s"); t.ack()
    t.fin(); t.fin("s"); t.ack()
    flow = t.analyze(tmp_path)
    assert all(p.anomalies is None for p in flow.packets), [r for r in listing(flow) if "!" in r]
    sent = {0: 0, 1: 0}
    for p in flow.packets[3:-3]:
        peer = 1 - p.dir
        assert p.rseq == 1 + sent[p.dir]
        assert p.rack == 1 + sent[peer]
        sent[p.dir] += p.len
    assert sent == {0: 200, 1: 150}
    assert listing(flow)[-3:] == [
        "24 c [F.] seq 201 ack 151 len 0 FIN_WAIT_1 CLOSE_WAIT",
        "25 s [F.] seq 151 ack 202 len 0 TIME_WAIT LAST_ACK",
        "26 c [.] seq 202 ack 152 len 0 TIME_WAIT CLOSED",
    ]
    assert verdict(flow) == ("handshake", "graceful", "orig")
    assert flow_anomalies(flow) == set()


def test_midstream_starting_at_seq_zero(tmp_path):
    t = Trace(isn_c=0, isn_s=2**32 - 5)
    t.data(10); t.ack("s"); t.data(10, "s"); t.ack()
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [P.] seq 1 ack 1 len 10    UNKNOWN UNKNOWN
    2 s [.]  seq 1 ack 11 len 0    UNKNOWN UNKNOWN
    3 s [P.] seq 1 ack 11 len 10   UNKNOWN UNKNOWN
    4 c [.]  seq 11 ack 11 len 0   UNKNOWN UNKNOWN
    """)


# --- 14. a 4-tuple reused after a close ------------------------------------------------

def closed_then_reused(gap: float) -> Trace:
    t = established()
    t.data(10); t.ack("s")
    t.fin(); t.fin("s"); t.ack()
    t.wait(gap)
    t.reconnect(isn_c=777777, isn_s=999999)
    t.syn(); t.synack(); t.ack()
    return t


@pytest.mark.parametrize("gap,tw", [(10.0, True), (239.0, True), (300.0, False)])
def test_reused_ports(tmp_path, gap, tw):
    t = closed_then_reused(gap)
    a = t.analysis(tmp_path)
    assert [f.id for f in a.flows] == [1, 2]
    old, new = a.flows
    assert verdict(old) == ("handshake", "graceful", "orig")
    assert (old.ends[0].state, old.ends[1].state) == (State.TIME_WAIT, State.CLOSED)
    assert new.reused_from == 1
    want = "reused_ports,time_wait_reuse" if tw else "reused_ports"
    expect(new, f"""
    9  c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN         ! {want}
    10 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    11 c [.]  seq 1 ack 1 len 0   ESTABLISHED  ESTABLISHED
    """)
    syn = new.packets[0]
    assert syn.anomalies["reused_ports"] == 1
    if tw:
        old_id, dt = syn.anomalies["time_wait_reuse"]
        close_ts, syn_ts = t.frames[7][0], t.frames[8][0]   # old flow's last ACK, the new SYN
        assert old_id == 1 and dt == pytest.approx(syn_ts - close_ts, abs=1e-5)
    assert verdict(new) == ("handshake", "open", None)
    assert flow_anomalies(new) == {"not_closed"}


def test_same_isn_syn_is_not_a_new_connection(tmp_path):
    t = Trace()
    t.syn()
    t.syn(dt=3.0)                  # the same ISN: a retransmission, the same flow
    a = t.analysis(tmp_path)
    assert len(a.flows) == 1


def test_network_duplicate_changes_no_state(tmp_path):
    t = established()
    t.data(10)
    t.duplicate(4)                 # the same bytes, IP ID included: copied by the network
    t.ack("s")
    flow = t.analyze(tmp_path)
    p = flow.packets[4]
    assert (p.orig_state, p.resp_state) == (State.ESTABLISHED, State.ESTABLISHED)
    assert "duplicate" in p.anomalies and not TCP_SEQ_KINDS & set(p.anomalies)


def test_fin_repeated_after_the_final_ack_was_captured(tmp_path):
    t = established()
    t.fin(); t.fin("s"); t.ack()
    t.resend(5, dt=0.2)            # the final ACK was lost after the capture point
    t.resend(6)                    # the client (TIME_WAIT) ACKs the FIN again
    flow = t.analyze(tmp_path)
    expect(flow, HANDSHAKE + """
    4 c [F.] seq 1 ack 1 len 0   FIN_WAIT_1  CLOSE_WAIT
    5 s [F.] seq 1 ack 2 len 0   TIME_WAIT   LAST_ACK
    6 c [.]  seq 2 ack 2 len 0   TIME_WAIT   CLOSED
    7 s [F.] seq 1 ack 2 len 0   TIME_WAIT   LAST_ACK    ! retransmission
    8 c [.]  seq 2 ack 2 len 0   TIME_WAIT   CLOSED      ! duplicate_ack
    """)


def _states(flow) -> list[tuple[str, str]]:
    return [(p.orig_state.value, p.resp_state.value) for p in flow.packets]


def test_handshake_ack_that_also_acks_the_fin(tmp_path):
    t = Trace()
    t.syn(); t.synack()
    t.fin("s")                     # e.g. a server that closes at once
    t.ack(); t.fin(); t.ack("s")
    flow = t.analyze(tmp_path)
    expect(flow, """
    1 c [S]  seq 0 ack - len 0   SYN_SENT     LISTEN
    2 s [S.] seq 0 ack 1 len 0   ESTABLISHED  SYN_RECEIVED
    3 s [F.] seq 1 ack 1 len 0   CLOSE_WAIT   FIN_WAIT_1
    4 c [.]  seq 1 ack 2 len 0   CLOSE_WAIT   FIN_WAIT_2
    5 c [F.] seq 1 ack 2 len 0   LAST_ACK     TIME_WAIT
    6 s [.]  seq 2 ack 2 len 0   CLOSED       TIME_WAIT
    """)
    assert verdict(flow) == ("handshake", "graceful", "resp")


@pytest.mark.parametrize("last", ["bare_fin", "late_syn_copy"])
def test_no_data_unacked_after_a_segment_without_ack_flag(tmp_path, last):
    t = established()
    t.data(10); t.ack("s")
    if last == "bare_fin":
        t.send("c", FIN)           # [F] without ACK: legal, if unusual
    else:
        t.resend(1, dt=0.5)        # a late copy of the SYN
    flow = t.analyze(tmp_path)
    assert "data_unacked" not in flow_anomalies(flow), [a.message for a in flow.anomalies]


def test_simultaneous_open_note(tmp_path):
    flow = simultaneous_open("ack").analyze(tmp_path)
    assert "repeats its SYN-ACK" not in notes(flow)[3]


# --- the tables themselves: no (state, event) pair raises ------------------------------

KINDS = {"syn": SYN, "synack": SYN | ACK, "ack": ACK, "fin": FIN | ACK, "bare_fin": FIN,
         "rst": RST, "rstack": RST | ACK}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_state_pair_and_event_is_defined(kind):
    for s_state in State:
        for r_state in State:
            for ack_rel in (0, 1, 2):          # ack covers nothing / the SYN / the FIN too
                snd, rcv = Endpoint(s_state), Endpoint(r_state)
                rcv.isn, rcv.fin_seq = 100, 200
                snd.fin_seq = 5010 if ack_rel == 2 else None
                ack = (100, 101, 201)[ack_rel]
                pkt = Packet(1, 0.0, "a", "b", 1, 2, 5000, ack, KINDS[kind], 100, 0, 20, b"",
                             0, 64, False, False)
                problem = transition(snd, rcv, pkt)
                assert isinstance(snd.state, State) and isinstance(rcv.state, State)
                assert problem is None or "did not expect" in problem


# --- 13. Hypothesis -------------------------------------------------------------------

isns = st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 3000, 2**32 - 1),
                 st.integers(0, 3))
exchanges = st.lists(st.tuples(st.sampled_from("cs"), st.integers(1, 1460), st.booleans()),
                     min_size=1, max_size=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(isn_c=isns, isn_s=isns, steps=exchanges, handshake=st.booleans())
def test_in_order_exchange_relative_numbers(isn_c, isn_s, steps, handshake):
    t = Trace(isn_c=isn_c, isn_s=isn_s)
    if handshake:
        t.syn(); t.synack(); t.ack()
    for by, n, acked in steps:
        t.data(n, by)
        if acked:
            t.ack("s" if by == "c" else "c")
    flow = t.analyze()
    sent = {"c": 0, "s": 0}
    first = 3 if handshake else 0
    orig_is_client = flow.orig[1] == 40000
    for p in flow.packets[first:]:
        by = "c" if (p.dir == 0) == orig_is_client else "s"
        peer = "s" if by == "c" else "c"
        assert p.rseq == 1 + sent[by]
        assert p.rack == 1 + sent[peer]
        sent[by] += p.len
        assert not TCP_SEQ_KINDS & set(p.anomalies or ()), p.anomalies
        assert (p.orig_state, p.resp_state) == ((State.ESTABLISHED,) * 2 if handshake else (State.UNKNOWN,) * 2)


MOVES = ["syn", "synack", "ack", "data", "fin", "rst"]


def play(t: Trace, kind: str, by: str, stale: bool = False, **kw) -> None:
    """One segment of `kind` from `by`; `stale`: its ACK field repeats the sender's
    previous ACK (sent before the latest peer segment arrived), which makes FINs cross."""
    if stale and t.last_ack[by] is not None:
        kw.setdefault("ack", t.last_ack[by])
    if kind == "data":
        t.data(10, by, **kw)
    else:
        getattr(t, kind)(by, **kw)


def check_invariants(analysis, nframes: int) -> tuple[set, set]:
    """What must hold for any input. Returns the (sender state before, segment flags)
    pairs exercised and the set of states reached."""
    seen, reached = set(), set()
    assert sum(len(f.packets) for f in analysis.flows) == nframes
    for f in analysis.flows:
        assert f.ended is not None
        assert isinstance(f.ends[0].state, State) and isinstance(f.ends[1].state, State)
        assert {a.kind for a in f.anomalies} <= set(SEVERITY)
        before = f.init_states
        for p in f.packets:
            assert isinstance(p.orig_state, State) and isinstance(p.resp_state, State)
            assert 0 <= p.rseq < 2**32 and (p.rack is None or 0 <= p.rack < 2**32)
            assert set(p.anomalies or ()) <= set(SEVERITY), p.anomalies
            after = (p.orig_state, p.resp_state)
            if p.flags & RST:
                assert after[p.dir] is State.CLOSED
                assert after[1 - p.dir] in (State.CLOSED, State.LISTEN)
            seen.add((before[p.dir], p.flag_str))
            reached.update(after)
            before = after
    return seen, reached


def test_every_sequence_of_three_segments(tmp_path):
    """Exhaustive: every sequence of up to three segments (7 kinds x 2 senders, FINs
    crossing included), each on its own 4-tuple, in one capture."""
    moves = [(k, b, False) for k in MOVES for b in "cs"] + [("fin", b, True) for b in "cs"]
    traces = []
    for n in (1, 2, 3):
        for seq in itertools.product(moves, repeat=n):
            i = len(traces) + 1
            t = Trace(client=(f"10.1.{i // 250}.{1 + i % 250}", 40000), server=("10.2.0.1", 80))
            for kind, by, stale in seq:
                play(t, kind, by, stale)
            traces.append(t)
    a = analyze(write_pcap(tmp_path / "all.pcap", *traces))
    seen, reached = check_invariants(a, sum(len(t.frames) for t in traces))
    assert reached == set(State)
    assert {(State.CLOSE_WAIT, "F."), (State.LISTEN, "S."), (State.SYN_SENT, "S")} <= seen


segments = st.lists(
    st.tuples(st.sampled_from(MOVES), st.sampled_from("cs"),
              st.booleans(),                                     # stale ACK field
              st.one_of(st.none(), st.integers(0, 2**32 - 1)),   # seq override (None: in order)
              st.integers(0, 3)),                                # time step class
    min_size=1, max_size=10)
STEP = (0.0, 0.0005, 0.2, 5.0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(isn_c=isns, isn_s=isns, segs=segments)
def test_any_segment_sequence_never_raises(isn_c, isn_s, segs):
    t = Trace(isn_c=isn_c, isn_s=isn_s)
    for kind, by, stale, seq, step in segs:
        kw = {"dt": STEP[step]}
        if seq is not None:
            kw["seq"] = seq
        play(t, kind, by, stale, **kw)
    a = t.analysis()
    for state, flags in check_invariants(a, len(segs))[0]:
        event(f"{state.value} sends [{flags}]")


def test_window_scale_and_mss_options_of_the_wrong_length_are_ignored():
    """A SYN whose window-scale option is 4 bytes long (and MSS 3) is not a negotiation: the
    options are malformed and the endpoint keeps no shift or MSS (found by the fuzz test)."""
    from tcptrace_py.core.records import Endpoint, Packet
    from tcptrace_py.core.tracker import _syn_options
    end = Endpoint(State.CLOSED)
    pkt = Packet(1, 0.0, b"\x01\x02\x03\x04", b"\x01\x02\x03\x05", 1000, 80, 7, 0, SYN, 512, 0, 28,
                 b"\x03\x04\x07\x00\x02\x03\x05\x00", 1, 64, False, False)
    _syn_options(end, pkt)
    assert end.wscale is None and end.mss is None


def test_ack_rtt_over_a_long_flight():
    """ACK RTT with hundreds of segments in flight, acknowledged a few at a time, some ACKs
    ending inside a segment and one covering a retransmitted segment (Karn: not timed): every
    ACK's RTT is the time since the segment it acknowledges exactly, as a plain queue gives."""
    t = established()
    sent = []                                   # (end seq relative, frame, ts) of each segment
    for i in range(300):
        f = t.data(100, dt=0.0001 * (i % 7 + 1))
        sent.append((1 + 100 * (i + 1), f, t.ts))
    resent = t.resend(sent[150][1])             # a retransmission of segment 150: not timed
    acks = []
    for end in list(range(1 + 300, 1 + 100 * 300 + 1, 300)) + [1 + 100 * 200 + 50, 1 + 100 * 300]:
        acks.append((t.ack_from_server(ack=(t.isn["c"] + end) & 0xFFFFFFFF, dt=0.0003), end, t.ts))
    flow = t.analyze()
    by_frame = {p.frame: p for p in flow.packets}
    assert by_frame[resent].anomalies
    queue = [(end, ts) for end, f, ts in sent]      # the reference: a plain list, popped in front
    total, n, top = 0.0, 0, 0.0
    for f, end, ts in acks:
        want = None
        while queue and queue[0][0] <= end:
            e, sent_ts = queue.pop(0)
            if e == end:
                want = ts - sent_ts
        got = by_frame[f].ack_rtt
        assert (got is None) == (want is None), (f, end)
        if want is not None:
            assert got == pytest.approx(want, abs=2e-6)     # the capture keeps microseconds
            total, n, top = total + want, n + 1, max(top, want)
    assert n > 50
    assert flow.ack_rtt[1] == n
    assert flow.ack_rtt[0] == pytest.approx(total, abs=1e-3) and flow.ack_rtt[2] == pytest.approx(top, abs=2e-6)

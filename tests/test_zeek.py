"""Zeek's conn_state / history / sizes (tcptrace_py/core/zeek.py).

Two kinds of tests:

* Differential: every Zeek baseline in ``../shared/corpus/zeek/baselines`` that logs
  TCP connections (conn.log and the few ``out`` files that print a history) is compared
  with what ``tcptrace_py.analyze`` says about the same trace, connection by connection
  (matched by 4-tuple, then start order). The agreement must stay >= 95 %; every
  mismatch is printed (``pytest -s``, or ``python tests/test_zeek.py`` for the report).
* Unit: tiny captures written with dpkt into tmp_path, one per rule.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import dpkt
import pytest

from tcptrace_py import analyze

from tcptrace_py.core import zeek
from tcptrace_py.core.decode import addr_str

SHARED = Path(__file__).resolve().parents[2] / "shared"

ZEEK = SHARED / "corpus" / "zeek"
BASELINES = ZEEK / "baselines"

# Baselines of a configuration we do not emulate, and why (the same trace is compared
# through another baseline of the same test, named here).
NOT_EMULATED = {
    "core.checksums_ignore_nets/conn-failed.log":
        "validates checksums of a capture with bad client checksums (conn-worked.log: same trace, "
        "client exempted, is compared)",
    "core.expire-all-timers/conn-limited.log":
        "run with max_timer_expires limited (conn-all.log, every timer expiring, is compared)",
}

# `out` files that print a history / conn_state, as (regex over the lines, fields).
# conn_state-RST-behavior/out has one "history, conn_state" line per trace run; its third
# line comes from syn-then-ack-then-rst.pcap, which is not in the corpus.
OUT_FILES = {
    "core.connection_flipped/out": (r"connection_state_remove, .*\], (\S+), ", ("history",)),
    "core.tcp.tcp-dups/out": (r"REMOVE:, .*\], (\S+)$", ("history",)),
    "scripts.base.protocols.conn.conn_state-RST-behavior/out": (r"^(\S+), (\S+)$",
                                                                ("history", "conn_state")),
}
RST_BEHAVIOR_LINES = (0, 1, 3)   # lines of conn_state-RST-behavior/out that have a trace here


def _baseline_index():
    """baseline path -> (traces, bare mode?) from BASELINES.tsv."""
    out = {}
    with open(ZEEK / "BASELINES.tsv") as fh:
        next(fh)
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 5:
                continue
            name = cols[0].removeprefix("baselines/")
            traces = [t for t in cols[1].split(",") if t]
            bare = re.search(r"zeek -\w*b", cols[4]) is not None
            out[name] = (traces, bare)
    return out


def _read_log(path: Path):
    """Rows (dicts) of a Zeek TSV log or a zeek-cut style baseline; [] if no history/state."""
    lines = path.read_text().splitlines()
    lines = [x for x in lines if not x.startswith("### ")]
    fields = None
    rows = []
    for line in lines:
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line.startswith("#"):
            continue
        elif fields is None:
            fields = line.split("\t")
        else:
            vals = line.split("\t")
            if len(vals) == len(fields):
                rows.append(dict(zip(fields, vals)))
    if not fields or not ({"history", "conn_state"} & set(fields)):
        return []
    return [r for r in rows if r.get("proto", "tcp") == "tcp"]


def _read_out(name: str, path: Path):
    rx, keys = OUT_FILES[name]
    rows = []
    for line in path.read_text().splitlines():
        m = re.search(rx, line)
        if m:
            rows.append(dict(zip(keys, m.groups())))
    return rows


def _likely_ports(bare: bool, rows) -> frozenset:
    """likely_server_ports of the run: full mode has every base protocol script; a bare
    (-b) run has those of the protocol scripts it loaded, i.e. of the services it logs."""
    if not bare:
        return zeek.LIKELY_SERVER_PORTS
    ports = set()
    for row in rows:
        for svc in row.get("service", "-").split(","):
            ports |= zeek.SERVER_PORTS_BY_SERVICE.get(svc.replace("-", "_"), set())
    return frozenset(ports)


def _zeek_conns(trace: Path, ports: frozenset):
    """Every Zeek connection our analysis finds in `trace`, in start order."""
    saved = zeek.LIKELY_SERVER_PORTS
    zeek.LIKELY_SERVER_PORTS = ports
    try:
        result = analyze(str(trace))
    finally:
        zeek.LIKELY_SERVER_PORTS = saved
    out = []
    for flow in result.flows:
        if flow.zeek is None:
            continue
        for c in flow.zeek.conns():
            o, r = (flow.orig, flow.resp) if c.orig_dir == 0 else (flow.resp, flow.orig)
            out.append({"start": c.start_time, "flow": flow.id, "conn": c,
                        "orig": (addr_str(o[0]), str(o[1])), "resp": (addr_str(r[0]), str(r[1]))})
    out.sort(key=lambda x: (x["start"], x["flow"]))
    return out


def baseline_comparison():
    """[(baseline, trace, row, ours-or-None)] for every baseline TCP connection."""
    index = _baseline_index()
    pairs = []
    for name, (traces, bare) in sorted(index.items()):
        if name in NOT_EMULATED:
            continue
        path = BASELINES / name
        if name in OUT_FILES:
            rows = _read_out(name, path)
            if name.endswith("conn_state-RST-behavior/out"):
                rows = [rows[i] for i in RST_BEHAVIOR_LINES]
                per_trace = [[r] for r in rows]
            else:
                per_trace = [rows]
        elif "conn" in path.name:
            rows = _read_log(path)
            per_trace = [rows] if len(traces) == 1 else None
        else:
            continue
        if not rows or per_trace is None:
            continue
        for trace, trows in zip(traces, per_trace):
            ours = _zeek_conns(ZEEK / trace, _likely_ports(bare, trows))
            if all("id.orig_h" in r for r in trows):
                by_key = {}
                for c in ours:
                    by_key.setdefault(frozenset((c["orig"], c["resp"])), []).append(c)
                for row in trows:
                    key = frozenset(((row["id.orig_h"], row["id.orig_p"]),
                                     (row["id.resp_h"], row["id.resp_p"])))
                    cand = by_key.get(key)
                    pairs.append((name, trace, row, cand.pop(0) if cand else None))
            else:
                for i, row in enumerate(trows):
                    pairs.append((name, trace, row, ours[i] if i < len(ours) else None))
    return pairs


def agreement(pairs):
    """(state ok, state total, history ok, history total, mismatch lines)."""
    s_ok = s_n = h_ok = h_n = 0
    bad = []
    for name, trace, row, ours in pairs:
        c = ours["conn"] if ours else None
        got_s = c.conn_state() if c else "(none)"
        got_h = c.history() if c else "(none)"
        line = []
        if "conn_state" in row:
            s_n += 1
            if row["conn_state"] == got_s:
                s_ok += 1
            else:
                line.append(f"conn_state {row['conn_state']} != {got_s}")
        if "history" in row:
            h_n += 1
            if row["history"] == got_h:
                h_ok += 1
            else:
                line.append(f"history {row['history']!r} != {got_h!r}")
        if line:
            who = f"{row.get('id.orig_h', '?')}:{row.get('id.orig_p', '?')}" \
                  f"->{row.get('id.resp_h', '?')}:{row.get('id.resp_p', '?')}"
            bad.append(f"{name} [{trace}] {who}: " + "; ".join(line))
    return s_ok, s_n, h_ok, h_n, bad


@pytest.mark.skipif(not BASELINES.is_dir(), reason="shared Zeek corpus not present")
def test_agreement_with_zeek_baselines():
    pairs = baseline_comparison()
    s_ok, s_n, h_ok, h_n, bad = agreement(pairs)
    print(f"\nZeek baselines: {len(pairs)} TCP connections; conn_state {s_ok}/{s_n}, "
          f"history {h_ok}/{h_n}")
    for line in bad:
        print("  MISMATCH", line)
    assert len(pairs) >= 50
    assert s_ok >= 0.95 * s_n
    assert h_ok >= 0.95 * h_n


ENDPOINT_BASELINES = {   # baselines printing Zeek's endpoint records: [size=N, state=N, num_pkts=N, ...]
    "core.tcp.rst-after-syn/.stdout": "tcp/rst-inject-rae.pcap",
    "core.tcp.fin-retransmit/out": "tcp/fin_retransmission.pcap",
}


@pytest.mark.skipif(not BASELINES.is_dir(), reason="shared Zeek corpus not present")
@pytest.mark.parametrize("name", sorted(ENDPOINT_BASELINES))
def test_endpoint_records_match_zeek(name):
    recs = re.findall(r"\[size=(\d+), state=(\d+), num_pkts=(\d+)", (BASELINES / name).read_text())
    want = [tuple(int(x) for x in r) for r in recs]          # orig, then resp
    z = _zeek_conns(ZEEK / ENDPOINT_BASELINES[name], frozenset())
    assert len(z) == 1
    c = z[0]["conn"]
    got = [(c._size(e), e.state) for e in (c.orig, c.resp)]
    assert got == [w[:2] for w in want]
    assert c.npkts == sum(w[2] for w in want)


# --- unit tests on hand-made captures -----------------------------------------------------

C, S = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
CP, SP = 40000, 7777   # 7777: not a likely server port


class Trace:
    """Writes a tiny pcap: `syn()`, `synack()`, `ack()`, `data(n)`, `fin()`, `rst()`."""

    def __init__(self, tmp_path, name="t.pcap"):
        self.path = tmp_path / name
        self.pkts = []
        self.ts = 1000.0
        self.seq = {0: 1000, 1: 5000}   # next seq per direction (0: client -> server)

    def _pkt(self, d, flags, n=0, seq=None, ack=True, win=65535, dt=0.01, advance=True):
        self.ts += dt
        s = self.seq[d] if seq is None else seq
        a = self.seq[1 - d] if ack else 0
        tcp = dpkt.tcp.TCP(sport=CP if d == 0 else SP, dport=SP if d == 0 else CP, seq=s,
                           ack=a, flags=flags | (dpkt.tcp.TH_ACK if ack else 0), win=win,
                           data=b"x" * n)
        src, dst = (C, S) if d == 0 else (S, C)
        ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, data=tcp)
        ip.len = 20 + len(bytes(tcp))
        eth = dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x00" * 6, type=0x0800, data=ip)
        self.pkts.append((self.ts, bytes(eth)))
        if advance:
            used = n + (1 if flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)
            end = s + used
            if end > self.seq[d] or seq is None:
                self.seq[d] = end
        return self

    def syn(self, d=0, **kw):
        return self._pkt(d, dpkt.tcp.TH_SYN, ack=False, **kw)

    def synack(self, d=1, **kw):
        return self._pkt(d, dpkt.tcp.TH_SYN, **kw)

    def ack(self, d=0, **kw):
        return self._pkt(d, 0, **kw)

    def data(self, d, n, **kw):
        return self._pkt(d, dpkt.tcp.TH_PUSH, n=n, **kw)

    def fin(self, d, **kw):
        return self._pkt(d, dpkt.tcp.TH_FIN, **kw)

    def rst(self, d, ack=False, **kw):
        return self._pkt(d, dpkt.tcp.TH_RST, ack=ack, **kw)

    def zeek(self):
        with open(self.path, "wb") as fh:
            w = dpkt.pcap.Writer(fh)
            for ts, buf in self.pkts:
                w.writepkt(buf, ts=ts)
        flows = analyze(str(self.path)).flows
        assert len(flows) == 1
        return flows[0].zeek


def test_handshake_and_fin_close_is_sf(tmp_path):
    t = Trace(tmp_path).syn().synack().ack().data(0, 100).ack(1).data(1, 300).ack(0)
    z = t.fin(0).fin(1).ack(0).zeek()
    assert (z.conn_state(), z.history()) == ("SF", "ShADadFf")
    assert (z.orig_bytes, z.resp_bytes, z.missed_bytes) == (100, 300, 0)
    assert (z.orig_state, z.resp_state) == ("CLOSED", "CLOSED")


def test_syn_only_is_s0(tmp_path):
    z = Trace(tmp_path).syn().zeek()
    assert (z.conn_state(), z.history()) == ("S0", "S")
    assert z.orig_bytes is None            # duration 0: conn.log shows '-'


def test_retransmitted_syn_adds_nothing(tmp_path):
    z = Trace(tmp_path).syn().syn(seq=1000, dt=1.0).syn(seq=1000, dt=2.0).zeek()
    assert (z.conn_state(), z.history()) == ("S0", "S")


def test_syn_answered_by_rst_is_rej(tmp_path):
    z = Trace(tmp_path).syn().rst(1, ack=True).zeek()
    assert (z.conn_state(), z.history()) == ("REJ", "Sr")


def test_syn_then_orig_rst_is_rstos0(tmp_path):
    z = Trace(tmp_path).syn().rst(0).zeek()
    assert (z.conn_state(), z.history()) == ("RSTOS0", "SR")


def test_lone_rst_is_oth(tmp_path):
    z = Trace(tmp_path).rst(0).zeek()
    assert (z.conn_state(), z.history()) == ("OTH", "R")


def test_established_then_resp_rst_is_rstr(tmp_path):
    z = Trace(tmp_path).syn().synack().ack().data(0, 10).rst(1, ack=True).zeek()
    assert (z.conn_state(), z.history()) == ("RSTR", "ShADr")


def test_synack_first_is_flipped_when_an_ack_follows(tmp_path):
    # the SYN was not captured: Zeek makes the SYN-ACK's receiver the originator ('^')
    z = Trace(tmp_path).synack().ack().data(0, 10).data(1, 20).fin(0).fin(1).ack(0).zeek()
    assert (z.conn_state(), z.history()) == ("SF", "^hADdFf")
    assert z.orig_dir == 0                  # Zeek's originator is our originator again


def test_synack_alone_is_not_flipped(tmp_path):
    z = Trace(tmp_path).synack().zeek()
    assert (z.conn_state(), z.history()) == ("OTH", "H")
    assert z.orig_dir == 1                  # Zeek's originator is the SYN-ACK's sender


def test_synack_then_syn_is_a_reversal(tmp_path):
    t = Trace(tmp_path).synack()
    z = t.syn(seq=999).ack().data(0, 5).fin(0).fin(1).ack(0).zeek()
    assert (z.conn_state(), z.history()) == ("SF", "Hs^ADFf")


def test_likely_server_port_flips_at_creation(tmp_path, monkeypatch):
    monkeypatch.setattr(zeek, "LIKELY_SERVER_PORTS", frozenset({SP}))
    z = Trace(tmp_path).synack().zeek()
    assert (z.conn_state(), z.history()) == ("OTH", "^h")


def test_retransmissions_scale_1_10_100(tmp_path):
    t = Trace(tmp_path).syn().synack().ack().data(0, 100)
    for _ in range(12):                     # 12 retransmissions: letters at the 1st and 10th
        t.data(0, 100, seq=1001)
    t.ack(1).data(1, 50).data(1, 50, seq=5001)
    z = t.zeek()
    assert z.history() == "ShADTTadt"
    t2 = Trace(tmp_path, "t2.pcap").syn().synack().ack().data(0, 10)
    for _ in range(100):
        t2.data(0, 10, seq=1001)
    assert t2.zeek().history() == "ShADTTT"


def test_out_of_order_data_counts_as_retransmission(tmp_path):
    # Zeek's T is "payload not beyond the highest sequence seen": a late, earlier segment counts
    t = Trace(tmp_path).syn().synack().ack()
    t.data(0, 100, seq=1101).data(0, 100, seq=1001).ack(1)
    z = t.zeek()
    assert z.history() == "ShADTa"
    assert (z.missed_bytes, z.conn_state()) == (0, "S1")


def test_zero_window(tmp_path):
    t = Trace(tmp_path).syn().synack().ack().data(0, 10)
    z = t.ack(1, win=0).ack(1, win=0).ack(1, win=65535).zeek()
    assert z.history() == "ShADaw"
    assert z.conn_state() == "S1"
    z2 = Trace(tmp_path, "t2.pcap").syn().synack().ack(win=0).data(1, 10).zeek()
    assert z2.history() == "ShAWd"


def test_fin_with_data_is_f_only_and_sizes(tmp_path):
    t = Trace(tmp_path).syn().synack().ack()
    z = t._pkt(0, dpkt.tcp.TH_FIN, n=7).fin(1).ack(0).zeek()
    assert (z.conn_state(), z.history()) == ("SF", "ShAFf")   # a FIN with data: F, never D
    assert z.orig_bytes == 7 and z.resp_bytes == 0


def test_content_gap_counts_missed_bytes(tmp_path):
    # 100 bytes of the client's data are never captured, but the server acks them
    t = Trace(tmp_path).syn().synack().ack().data(0, 50)
    t.seq[0] += 100
    t.data(0, 50).ack(1).fin(0).fin(1).ack(0)
    z = t.zeek()
    assert z.history() == "ShADaGFf"
    assert (z.missed_bytes, z.orig_bytes) == (100, 200)
    assert z.conn_state() == "SF"


def test_midstream_both_fin_is_sf_and_partial_is_oth(tmp_path):
    t = Trace(tmp_path).data(0, 10).ack(1).fin(0).fin(1).ack(0)
    z = t.zeek()
    assert (z.conn_state(), z.history()) == ("SF", "DaFfA")
    z2 = Trace(tmp_path, "t2.pcap").data(0, 10).ack(1).zeek()
    assert (z2.conn_state(), z2.history()) == ("OTH", "Da")


def test_half_open_syn_then_fin_is_sh(tmp_path):
    z = Trace(tmp_path).syn().fin(0, ack=False).zeek()
    assert (z.conn_state(), z.history()) == ("SH", "SF")


def test_unanswered_syn_then_data_after_5s_is_a_second_zeek_connection(tmp_path):
    # Zeek's attempt timer removes the S0 connection 5 s after the SYN
    t = Trace(tmp_path).syn().ack(dt=1.0).data(0, 10, dt=5.0).fin(0)
    z = t.zeek()
    assert [(c.conn_state(), c.history()) for c in z.conns()] == [("S0", "SA"), ("SH", "DF")]
    assert (z.conn_state(), z.history()) == ("S0", "SA")   # the flow reports the first


def test_syn_after_close_is_a_new_zeek_connection(tmp_path):
    t = Trace(tmp_path).syn().synack().ack().fin(0).fin(1).ack(0)
    t.syn(seq=1000, dt=1.0)                 # same ISN: one flow for us, two lines for Zeek
    z = t.zeek()
    assert [(c.conn_state(), c.history()) for c in z.conns()] == [("SF", "ShAFf"), ("S0", "S")]


def test_json_has_zeek_sizes(tmp_path):
    from tcptrace_py.render.jsonout import flow_dict
    t = Trace(tmp_path).syn().synack().ack().data(0, 100).ack(1).fin(0).fin(1).ack(0)
    t.zeek()
    flow = analyze(str(t.path)).flows[0]
    d = flow_dict(flow, with_packets=False)
    assert (d["zeek_orig_bytes"], d["zeek_resp_bytes"], d["missed_bytes"]) == (100, 0, 0)
    assert (d["conn_state"], d["history"]) == ("SF", "ShADaFf")


def test_odd_packets_never_raise(tmp_path):
    import random
    rnd = random.Random(7)
    t = Trace(tmp_path)
    flags = [dpkt.tcp.TH_SYN, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH, 0,
             dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN, dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST]
    for _ in range(300):
        t._pkt(rnd.randint(0, 1), rnd.choice(flags), n=rnd.choice((0, 0, 1, 100)),
               seq=rnd.choice((None, rnd.randrange(2 ** 32))), ack=rnd.random() < 0.8,
               win=rnd.choice((0, 1000)), dt=rnd.choice((0.001, 0.5, 7.0)))
    with open(t.path, "wb") as fh:
        w = dpkt.pcap.Writer(fh)
        for ts, buf in t.pkts:
            w.writepkt(buf, ts=ts)
    for flow in analyze(str(t.path)).flows:
        for c in flow.zeek.conns():
            assert c.conn_state() in {"S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR",
                                      "RSTOS0", "RSTRH", "SH", "SHR", "OTH"}
            assert isinstance(c.history(), str)
            assert c.missed_bytes >= 0


if __name__ == "__main__":   # python tests/test_zeek.py: the agreement report
    if not BASELINES.is_dir():
        sys.exit("no shared corpus")
    pairs = baseline_comparison()
    s_ok, s_n, h_ok, h_n, bad = agreement(pairs)
    print(f"{len(pairs)} TCP connections; conn_state {s_ok}/{s_n} ({100 * s_ok / max(s_n, 1):.1f} %),"
          f" history {h_ok}/{h_n} ({100 * h_ok / max(h_n, 1):.1f} %)")
    for line in bad:
        print("MISMATCH", line)

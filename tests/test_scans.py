"""SYN scans and floods are told as one finding each; --max-open bounds the open connections,
reporting the ones that must go first early, marked evicted."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcptrace_py.engine import parallel
from tcptrace_py.cli import main
from trace import Trace, write_pcap
from wellformed import assert_well_formed

ROOT = Path(__file__).resolve().parents[1]


def cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def scan_capture(path) -> Path:
    """10.9.0.1 probes ports 1..150 of 10.20.0.1: ports 1-10 open (SYN-ACK, then the scanner's
    RST), 11-30 closed (RST), the rest silent; plus one ordinary connection, which is no probe."""
    traces = []
    for port in range(1, 151):
        t = Trace(client=("10.9.0.1", 61000), server=("10.20.0.1", port), t0=1_700_000_000 + port * 0.01)
        t.syn()
        if port <= 10:
            t.synack()
            t.rst(with_ack=False)
        elif port <= 30:
            t.rst("s")
        traces.append(t)
    t = Trace(client=("10.1.0.1", 40000), server=("10.20.0.1", 443), t0=1_700_000_000.5)
    t.handshake()
    t.data(100)
    t.ack("s")
    t.fin()
    t.fin("s")
    t.ack()
    traces.append(t)
    return Path(write_pcap(path, *traces))


def flood_capture(path) -> Path:
    """120 SYNs to 10.20.0.5:80 from 60 hosts, two source ports each, all answered with SYN-ACK and
    never completed (a SYN flood)."""
    traces = []
    for i in range(120):
        t = Trace(client=(f"10.7.{i // 2 // 250}.{i // 2 % 250 + 1}", 30000 + i % 2), server=("10.20.0.5", 80),
                  t0=1_700_000_000 + i * 0.001)
        t.syn()
        t.synack()
        traces.append(t)
    return Path(write_pcap(path, *traces))


def test_a_syn_scan_is_one_finding_in_every_format(tmp_path):
    cap = scan_capture(tmp_path / "scan.pcap")
    code, out, _ = cli("--format", "json", cap)
    assert code == 0
    assert_well_formed("json", out)
    doc = json.loads(out)
    assert len(doc["flows"]) == 151
    (f,) = doc["scans"]
    assert f["kind"] == "syn_scan" and f["source"] == "10.9.0.1" and f["probes"] == 150
    assert f["targets"] == {"hosts": {"n": 1, "at_least": False}, "ports": {"n": 150, "at_least": False}}
    assert f["answered"] == {"synack": 10, "rst": 20, "none": 120}
    first = min(x["first_frame"] for x in doc["flows"] if x["orig"]["ip"] == "10.9.0.1")
    last = max(x["last_frame"] for x in doc["flows"] if x["orig"]["ip"] == "10.9.0.1")
    assert (f["first_frame"], f["last_frame"]) == (first, last)
    code, out, _ = cli("--format", "jsonl", cap)
    recs = [json.loads(x) for x in out.splitlines()]
    assert [r["type"] for r in recs[-3:]] == ["scan", "capture", "totals"]
    assert {k: v for k, v in recs[-3].items() if k != "type"} == f
    for args in (["--format", "text"], ["--summary", "--format", "text"], ["--format", "mermaid"]):
        code, out, _ = cli(*args, cap)
        assert ("SYN scan: 10.9.0.1 sent 150 probing SYNs to 150 ports on 1 host (frames "
                f"{first}–{last}, ") in out
        assert "10 answered with SYN-ACK (open), 20 with RST (closed), 120 not at all" in out
    code, out, _ = cli("--format", "text", "--lang", "zh", cap)
    assert "SYN 扫描：10.9.0.1 向 1 台主机的 150 个端口发出 150 个探测 SYN" in out


def test_a_syn_flood_is_one_finding(tmp_path):
    cap = flood_capture(tmp_path / "flood.pcap")
    doc = json.loads(cli("--format", "json", cap)[1])
    (f,) = doc["scans"]
    assert f["kind"] == "syn_flood" and f["target"] == "10.20.0.5:80" and f["probes"] == 120
    assert f["sources"] == {"hosts": {"n": 60, "at_least": False}, "ports": {"n": 2, "at_least": False}}
    assert f["answered"] == {"synack": 120, "rst": 0, "none": 0}


def test_ordinary_traffic_has_no_scan(tmp_path):
    for cap in sorted((ROOT / "sample_pcaps").glob("*.pcap*")):
        assert json.loads(cli("--format", "json", cap)[1])["scans"] == []
    # 99 probes are not yet a scan
    traces = []
    for port in range(1, 100):
        t = Trace(client=("10.9.0.1", 61000), server=("10.20.0.1", port), t0=1_700_000_000 + port * 0.01)
        t.syn()
        traces.append(t)
    cap = write_pcap(tmp_path / "few.pcap", *traces)
    assert json.loads(cli("--format", "json", cap)[1])["scans"] == []


@pytest.mark.skipif(not parallel.available(), reason="needs fork")
@pytest.mark.parametrize("fmt", ["json", "jsonl", "text"])
def test_jobs_find_the_same_scans(tmp_path, fmt):
    cap = scan_capture(tmp_path / "scan.pcap")
    run = [sys.executable, "-c", "import os, sys; os.cpu_count = lambda: 2; sys.argv[0] = 'tcpflow-explain'; "
           "from tcptrace_py.cli import run; run()", "--format", fmt, "--all", str(cap)]
    one = subprocess.run(run, capture_output=True, cwd=ROOT)
    two = subprocess.run(run + ["--jobs", "2"], capture_output=True, cwd=ROOT)
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout
    assert (b'"syn_scan"' if fmt != "text" else b"SYN scan: 10.9.0.1 sent 150") in one.stdout


def eviction_capture(path) -> Path:
    """A long connection, with 30 SYNs to silent ports arriving while it runs."""
    long = Trace(client=("10.1.0.1", 40000), server=("10.2.0.1", 80), t0=1_700_000_000.0, dt=0.1)
    long.handshake()
    traces = [long]
    for i in range(30):
        long.data(100)
        long.ack("s")
        t = Trace(client=("10.9.0.1", 50000 + i), server=("10.2.0.9", 1000 + i), t0=1_700_000_000.15 + i * 0.2)
        t.syn()
        traces.append(t)
    long.fin()
    long.fin("s")
    long.ack()
    return Path(write_pcap(path, *traces))


def test_max_open_evicts_the_silent_first_and_says_so(tmp_path):
    cap = eviction_capture(tmp_path / "evict.pcap")
    ref = json.loads(cli("--format", "json", cap)[1])
    assert not any("evicted" in f["anomaly_counts"] for f in ref["flows"])
    code, out, err = cli("--format", "json", "--max-open", "8", cap)
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["flows"]) == 31 == len(ref["flows"])
    long = next(f for f in doc["flows"] if f["orig"]["ip"] == "10.1.0.1")
    assert long == next(f for f in ref["flows"] if f["orig"]["ip"] == "10.1.0.1")     # never evicted
    evicted = [f for f in doc["flows"] if "evicted" in f["anomaly_counts"]]
    assert len(evicted) >= 20 and all(f["orig"]["ip"] == "10.9.0.1" for f in evicted)
    e = evicted[0]
    msgs = {a["kind"]: a["message"] for a in e["anomalies"]}
    assert msgs["evicted"].startswith("reported early, at frame ")
    assert "connections were open, more than --max-open allows" in msgs["evicted"]
    assert msgs["syn_unanswered"].endswith("when it was reported early")
    # each evicted connection is reported before the frame that made room for it is analysed further
    for f in evicted:
        a = next(a for a in f["anomalies"] if a["kind"] == "evicted")
        assert a["frame"] > f["last_frame"]
    code, out, _ = cli("--format", "text", "--all", "--lang", "zh", "--max-open", "8", cap)
    assert "被提前报告" in out
    assert json.loads(cli("--format", "json", "--max-open", "0", cap)[1]) == ref


def test_max_open_bounds_a_syn_scan(tmp_path):
    """With --max-open 16 at most 16 connections are open at once: every probe of the scan is
    still reported, and the scan is still one finding."""
    cap = scan_capture(tmp_path / "scan.pcap")
    doc = json.loads(cli("--format", "json", "--max-open", "16", cap)[1])
    assert len(doc["flows"]) == 151
    assert sum("evicted" in f["anomaly_counts"] for f in doc["flows"]) > 100
    (f,) = doc["scans"]
    assert f["probes"] == 150

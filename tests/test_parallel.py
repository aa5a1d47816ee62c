"""--jobs N gives the same bytes as one process: sample captures, corpus captures, and a built
capture that exercises everything the parent has to get right (ids across workers, the
out-of-order emission past the reorder limit, 4-tuple reuse ids, --head, --limit, policies)."""
from __future__ import annotations

import gzip
import os
import struct
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tcptrace_py.engine import parallel
from tcptrace_py.core.capture import CaptureReader
from tcptrace_py.core.pipeline import CREATED, EXPIRED, FINAL, REUSED, Analyzer
from tcptrace_py.render.jsonout import _dumps, packet_dicts, packet_json
from trace import Trace, write_pcap

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "sample_pcaps").glob("*.pcap*"))
CORPUS = ROOT.parent / "shared" / "corpus"
# corpus captures with many connections, port reuse, IPv6, fragments and odd link layers
CORPUS_PICKS = ["zeek/http-qinq-0.pcap", "zeek/nflog-http.pcap", "zeek/ipv6-http-atomic-frag.pcap",
                "dpkt/nb6-http.pcap", "gopacket/test_loopback.pcap", "pcapplusplus/many_interfaces-1.pcapng"]

pytestmark = pytest.mark.skipif(not parallel.available(), reason="needs fork")


def run(*args, cwd=ROOT, cpus=None):
    """The CLI in a new process; `cpus` makes it see that many CPUs (--jobs is capped at the CPU
    count, and three workers must be tested on a two-CPU machine too)."""
    pre = [] if cpus is None else ["-c", f"import os, sys; os.cpu_count = lambda: {cpus}; "
                                         "sys.argv[0] = 'tcpflow-explain'; "
                                         "from tcptrace_py.cli import run; run()"]
    p = subprocess.run([sys.executable, *(pre or ["-m", "tcptrace_py"]), *map(str, args)], cwd=cwd,
                       capture_output=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def same(capture, *args, jobs=(2, 3)):
    """Run with --jobs 1 and each of `jobs`; every run must give the same exit code and bytes."""
    ref = run(*args, "--jobs", "1", capture)
    assert ref[0] in (0, 1, 4), ref[2].decode()
    for j in jobs:
        got = run(*args, "--jobs", j, capture, cpus=max(j, os.cpu_count() or 1))
        assert got[0] == ref[0], (j, got[2].decode())
        assert got[1] == ref[1], f"--jobs {j} stdout differs for {capture} {args}"
        assert got[2] == ref[2], (j, got[2].decode(), ref[2].decode())
    return ref


FORMATS = [("--format", "json"), ("--format", "jsonl"), ("--format", "text", "--all", "--max-packets", "0"),
           ("--summary", "--format", "json"), ("--summary", "--format", "text")]


@pytest.mark.parametrize("capture", SAMPLES, ids=lambda p: p.name)
def test_jobs_same_output_on_sample_captures(capture):
    for args in FORMATS:
        same(capture, *args, jobs=(2,))


@pytest.mark.parametrize("name", CORPUS_PICKS)
def test_jobs_same_output_on_corpus_captures(name):
    capture = CORPUS / name
    if not capture.exists():
        pytest.skip(f"{capture} not here")
    for args in FORMATS[:3]:
        same(capture, *args, jobs=(2,))


# --- a capture built to stress the parent's bookkeeping -----------------------------------------

def busy_capture(path: Path) -> Path:
    """One long connection open from the first frame to the last, so every other flow waits
    behind it until more than 256 have finished (the reorder limit); 420 short connections
    over IPv4 and IPv6, some refused, some reset; client ports reused both while the old
    connection is still kept (within --grace) and after it was forgotten (recent 4-tuples),
    so reused_ports and time_wait_reuse name other connections' ids."""
    t0 = 1_700_000_000.0
    traces = []
    long = Trace(client=("10.1.0.1", 50000), server=("10.1.0.2", 22), t0=t0)
    long.handshake()
    for i in range(60):
        long.wait(1.5)
        long.data(40 + i)
        long.ack("s")
    traces.append(long)
    for i in range(420):
        v6 = i % 7 == 3
        j = i - 1 if i % 50 == 10 else i      # the previous connection's 4-tuple, right after it
        client = ("2001:db8::%x" % (j % 7), 41000 + j % 150) if v6 else ("10.2.0.%d" % (j % 3 + 1), 41000 + j % 150)
        server = ("2001:db8::ff", 80) if v6 else ("10.2.9.9", 80)
        t = Trace(client=client, server=server, t0=t0 + 0.2 * i, isn_c=1000 + 7919 * i, isn_s=5000 + 104729 * i)
        t.syn()
        if i % 13 == 5:
            t.rst("s")                 # refused
        else:
            t.synack()
            t.ack()
            t.data(100 + i % 50)
            t.ack("s")
            if i % 17 == 2:
                t.resend(4, dt=0.3)     # a retransmission
            if i % 11 == 4:
                t.rst()                # reset by the client
            else:
                t.fin()
                t.fin("s")
                t.ack()
        traces.append(t)
    return Path(write_pcap(path, *traces))


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    return busy_capture(tmp_path_factory.mktemp("busy") / "busy.pcap")


def test_busy_capture_exercises_what_it_should(busy):
    """The built capture really holds what the parallel tests rely on."""
    rc, out, err = run("--format", "json", busy)
    assert rc == 0, err.decode()
    doc = json.loads(out)
    ids = [f["id"] for f in doc["flows"]]
    assert len(ids) == 421 and sorted(ids) == list(range(1, 422))
    assert ids != sorted(ids), "the reorder limit never sent a flow ahead of a lower id"
    kinds = doc["totals"]["anomalies"]
    assert kinds.get("reused_ports", 0) > 100 and kinds.get("time_wait_reuse", 0) > 100
    assert kinds.get("connection_refused", 0) > 20 and kinds.get("spurious_retransmission", 0) > 10
    reuses = [f["reuses"] for f in doc["flows"] if f["reuses"] is not None]
    assert len(reuses) > 100
    assert any(":" in f["orig"]["ip"] for f in doc["flows"])


@pytest.mark.parametrize("args", FORMATS, ids=lambda a: " ".join(a))
def test_jobs_same_output_on_busy_capture(busy, args):
    same(busy, *args)


@pytest.mark.parametrize("args", [
    ("--format", "text"),                                   # --limit 20 across workers
    ("--format", "text", "--limit", "7", "--max-packets", "4"),
    ("--format", "json", "--port", "80", "--head", "25"),    # --head counts in the one-process order
    ("--format", "jsonl", "--flow", "3", "--flow", "300", "--flow", "421"),
    ("--format", "json", "--with-anomalies", "--fail-on", "rst"),
    ("--summary", "--format", "text", "--require", "graceful-close", "--conn-state", "SF,RSTO"),
    ("--format", "text", "--all", "--max-packets", "0", "--lang", "zh", "--ascii"),
], ids=lambda a: " ".join(a))
def test_jobs_same_selection_limit_and_policy(busy, args):
    same(busy, *args)


def test_jobs_same_junit_report(busy, tmp_path):
    reports = []
    for j in (1, 2):
        junit = tmp_path / f"j{j}.xml"
        rc, out, _ = run("--summary", "--format", "json", "--fail-on", "error", "--junit", junit, "--jobs", j, busy)
        assert rc == 1
        reports.append(junit.read_text().split("timestamp=")[0] + junit.read_text().split("<properties/>")[1])
    assert reports[0] == reports[1]


def test_jobs_same_output_on_gzip_input(busy, tmp_path):
    gz = tmp_path / "busy.pcap.gz"
    gz.write_bytes(gzip.compress(busy.read_bytes()))
    same(gz, "--format", "jsonl", jobs=(2,))


def test_jobs_zero_means_one_per_cpu(busy):
    assert run("--format", "jsonl", "--jobs", "0", busy)[1] == run("--format", "jsonl", busy)[1]


def test_jobs_on_a_cut_capture_reports_the_same_and_exits_4(busy, tmp_path):
    cut = tmp_path / "cut.pcap"
    data = busy.read_bytes()
    cut.write_bytes(data[:len(data) * 2 // 3])
    rc, _, err = same(cut, "--format", "json", jobs=(2,))
    assert rc == 4 and b"capture ends early" in err


# --- the pieces ------------------------------------------------------------------------------

def test_shards_partition_the_connections(busy):
    """Every connection is tracked by exactly one worker, and the workers' TCP packets add up."""
    whole = Analyzer(keep_packets=False)
    flows = list(whole.run(CaptureReader(str(busy))))
    parts = []
    for k in range(3):
        az = Analyzer(keep_packets=False, shard=(k, 3))
        mine = list(az.run(CaptureReader(str(busy))))
        parts.append((mine, az))
    assert sum(len(m) for m, _ in parts) == len(flows)
    assert sum(az.stats.tcp_packets for _, az in parts) == whole.stats.tcp_packets
    keys = [f.key for m, _ in parts for f in m]
    assert sorted(map(repr, keys)) == sorted(repr(f.key) for f in flows)
    assert all(len(m) > 50 for m, _ in parts), [len(m) for m, _ in parts]
    # the capture's own numbers are the same in every worker
    for _, az in parts:
        assert az.stats.frames == whole.stats.frames
        assert (az.stats.first_ts, az.stats.last_ts) == (whole.stats.first_ts, whole.stats.last_ts)


def test_worker_events_are_in_frame_order(busy):
    az = Analyzer(keep_packets=False, shard=(1, 2))
    for _ in az.run(CaptureReader(str(busy))):
        pass
    ev = az.events
    assert ev[-1][:2] == (FINAL, FINAL)
    keys = [(e[0], e[1]) for e in ev]
    assert keys == sorted(keys)
    kinds = {e[1] for e in ev}
    assert {CREATED, REUSED, EXPIRED, FINAL} <= kinds


def test_merge_numbers_flows_and_replays_the_emission_order():
    """Two workers: flows created at frames 1 (w0), 2 (w1), 5 (w0); flow 2 finishes first but
    waits for flow 1, which is still open; then flow 1 finishes and both go out in id order."""
    m = parallel.Merge(2)
    m.feed(0, [(1, CREATED, None), (5, CREATED, None)], 9)
    assert m.step() == {}                     # worker 1 has not said how far it has read
    m.feed(1, [(2, CREATED, None)], 3)
    assert m.step() == {0: [(1, 1)], 1: [(2, 2)]}   # frame 5 waits: worker 1 is only at frame 3
    m.feed(1, [(8, EXPIRED, [2])], 9)
    assert m.step() == {0: [(5, 3)]}
    assert list(m.order) == []                # 2 is held behind the open 1
    m.feed(0, [(12, EXPIRED, [1])], 20)
    m.feed(1, [], 20)
    m.step()
    assert list(m.order) == [1, 2]
    m.feed(0, [(FINAL, FINAL, [5])], FINAL)
    m.step()
    assert not m.finished                     # worker 1 has not finished yet
    m.feed(1, [(FINAL, FINAL, [])], FINAL)
    m.step()
    assert m.finished and list(m.order) == [1, 2, 3] and m.flows == 3


@pytest.mark.parametrize("spill", [False, True], ids=["in-memory", "spilled"])
def test_renumber_rewrites_every_id(spill):
    """Every id a flow mentions gets the capture's id, in its packets too — also those a long
    connection's log has written to disk."""
    from tcptrace_py.core.packetlog import PacketLog
    from tcptrace_py.core.records import new_packet

    def pkt(frame, an):
        p = new_packet(frame, 1.0, b"\x01" * 4, b"\x02" * 4, 1, 2, 0, 0, 0x10, 100, 0, 20, b"", 1, 64,
                       False, False, 0)
        p.flow, p.anomalies = 70, an
        return p

    class F:
        pass

    f = F()
    f.id, f.reused_from = 70, 30
    f.packets = PacketLog()
    f.packets.append(pkt(1, {"reused_ports": 30, "time_wait_reuse": (30, 1.5)}))
    if spill:
        f.packets.spill()
    f.packets.append(pkt(2, None))
    final = {70: 4, 30: 2}.get
    parallel.renumber(f, final)
    assert (f.id, f.reused_from) == (4, 2)
    got = list(f.packets)
    assert got[0].anomalies == {"reused_ports": 2, "time_wait_reuse": (2, 1.5)}
    assert [p.flow for p in got] == [4, 4] and [p.frame for p in got] == [1, 2]
    assert len(f.packets.chunks) == (1 if spill else 0)


@pytest.mark.parametrize("capture", SAMPLES + [CORPUS / n for n in CORPUS_PICKS], ids=lambda p: p.name)
def test_packet_json_is_the_encoded_packet_dicts(capture):
    """The per-packet JSON written directly equals the generic encoder's output of the dicts."""
    if not capture.exists():
        pytest.skip(f"{capture} not here")
    az = Analyzer()
    n = 0
    for flow in az.run(CaptureReader(str(capture))):
        assert packet_json(flow) == [_dumps(d) for d in packet_dicts(flow)]
        n += len(flow.packets)
    assert n == az.stats.tcp_packets


def _copies(src: Path, dst: Path, n: int) -> Path:
    """`n` copies of an Ethernet/IPv4 pcap one after the other, each later in time and with the
    third octet of every IPv4 address raised by its copy number: new connections each time."""
    data = src.read_bytes()
    out = [data[:24]]
    recs = []
    off = 24
    while off < len(data):
        sec, usec, caplen, wire = struct.unpack_from("<IIII", data, off)
        recs.append((sec, usec, caplen, wire, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    span = recs[-1][0] - recs[0][0] + 60
    for c in range(n):
        for sec, usec, caplen, wire, frame in recs:
            if frame[12:14] == b"\x08\x00":
                b = bytearray(frame)
                b[14 + 14] = (b[14 + 14] + c) & 0xFF
                b[14 + 18] = (b[14 + 18] + c) & 0xFF
                frame = bytes(b)
            out.append(struct.pack("<IIII", sec + c * span, usec, caplen, wire) + frame)
    dst.write_bytes(b"".join(out))
    return dst


def test_jobs_interrupted_exits_130_with_what_was_read(busy, tmp_path):
    """Ctrl-C to the parent: it tells the workers to stop; what was analysed is still written."""
    import signal
    import time
    big = _copies(busy, tmp_path / "big.pcap", 40)
    p = subprocess.Popen([sys.executable, "-m", "tcptrace_py", "--format", "jsonl", "--jobs", "2", str(big)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # see test_ci_checks
    first = p.stdout.readline()          # the first connection is out: the run is under way
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out = first + p.stdout.read()        # (communicate() would skip what readline() buffered)
    err = p.stderr.read()
    assert p.wait(timeout=120) == 130, err.decode()
    lines = [json.loads(x) for x in out.decode().splitlines()]
    flows = [x for x in lines if x["type"] == "flow"]
    cap = [x for x in lines if x["type"] == "capture"]
    assert cap and cap[0]["interrupted"] is True
    assert 0 < len(flows) < 40 * 421 and cap[0]["flows"] == len(flows)
    assert b"Traceback" not in err


class _Boom:
    out = None

    def fragment(self, flow):
        raise RuntimeError("renderer failed")

    def put(self, frag):
        pass


def test_a_failing_worker_is_reported_not_hung(busy):
    from tcptrace_py.policy import Policy, Selection
    with pytest.raises(parallel.WorkerError, match="RuntimeError: renderer failed"):
        parallel.run((str(busy),), 2, dict(keep_packets=True, grace=10.0, idle=3600.0), _Boom(),
                     Selection.build(), Policy())


class _Dies(_Boom):
    def fragment(self, flow):
        import multiprocessing
        if multiprocessing.current_process().name.endswith("worker 0"):
            os._exit(3)      # the first worker vanishes without a word; the other goes on


def test_a_worker_that_dies_is_reported_not_waited_on(busy, tmp_path):
    """Worker 0 dies mid-capture; worker 1 cannot finish without it (its connections' ids need
    worker 0's progress). The dead worker's pipe ends at once, because no other worker holds it
    open, and the parent says so instead of waiting forever with worker 1."""
    from tcptrace_py.policy import Policy, Selection
    big = _copies(busy, tmp_path / "big.pcap", 10)
    with pytest.raises(parallel.WorkerError, match="worker 0 ended early"):
        parallel.run((str(big),), 2, dict(keep_packets=True, grace=10.0, idle=3600.0), _Dies(),
                     Selection.build(), Policy())


@pytest.mark.parametrize("args", [("--format", "jsonl"), ("--format", "json"),
                                  ("--format", "text", "--limit", "5"),
                                  ("--summary", "--format", "text", "--fail-on", "rst", "--head", "300")],
                         ids=lambda a: " ".join(a))
@pytest.mark.parametrize("after", [0, 40])
def test_a_failing_worker_hands_over_to_one_process(busy, args, after, monkeypatch, tmp_path):
    """Worker 1 fails after rendering `after` connections: the parent says so in one line, then one
    process finishes the analysis, skipping what was written — the output, JUnit report and exit
    code are those of one process."""
    from click.testing import CliRunner
    import multiprocessing
    from tcptrace_py.cli import main
    real = parallel.Job.render
    seen = [0]

    def render(self, flow, past_limit):
        if multiprocessing.current_process().name.endswith("worker 1"):
            seen[0] += 1
            if seen[0] > after:
                raise RuntimeError("renderer failed")
        return real(self, flow, past_limit)

    ref = CliRunner().invoke(main, [*args, "--junit", str(tmp_path / "one.xml"), str(busy)])
    monkeypatch.setattr(parallel.Job, "render", render)
    got = CliRunner().invoke(main, [*args, "--jobs", "2", "--junit", str(tmp_path / "two.xml"), str(busy)])
    assert got.exit_code == ref.exit_code, got.stderr
    assert got.stdout_bytes == ref.stdout_bytes
    lines = got.stderr.splitlines()
    assert lines[0].startswith("tcpflow-explain: warning: --jobs: worker 1 failed at frame ")
    assert "RuntimeError: renderer failed; the analysis was finished in one process" in lines[0]
    assert lines[1:] == ref.stderr.splitlines()
    import re
    stamp = re.compile(rb' timestamp="[^"]*"')       # the wall clock at writing
    assert stamp.sub(b"", (tmp_path / "two.xml").read_bytes()) == stamp.sub(b"", (tmp_path / "one.xml").read_bytes())

"""--engine dask gives the bytes and exit code of one process: on a LocalCluster of two workers,
and on a real `dask scheduler` with two `dask worker` processes started (and stopped) here on
127.0.0.1; a capture set and single captures; and the one-line errors around it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from test_captureset import split_pcap      # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
FORMATS = [("--format", "jsonl"), ("--summary", "--format", "json"), ("--format", "json"),
           ("--format", "text", "--all"), ("--summary", "--format", "text")]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def run(*args):
    p = subprocess.run([sys.executable, "-m", "tcptrace_py", *map(str, args)], cwd=ROOT, env=ENV,
                       capture_output=True, timeout=300)
    return p.returncode, p.stdout, p.stderr.decode()


def captures(tmp: Path) -> list[list[Path]]:
    out = [split_pcap(ROOT / "sample_pcaps" / "retransmission.pcap", tmp / "set", 9),
           [ROOT / "sample_pcaps" / "multi.pcapng"]]
    for pick in ("zeek/http-qinq-0.pcap", "dpkt/nb6-http.pcap"):
        if (CORPUS / pick).exists():
            out.append(split_pcap(CORPUS / pick, tmp / pick.replace("/", "-"), 50))
    return out


def same_as_one_process(tmp: Path, *engine) -> None:
    for capture in captures(tmp):
        for args in FORMATS:
            ref = run(*args, *capture)
            got = run(*args, "--engine", "dask", *engine, *capture)
            assert got[2] == ref[2] == "", got[2]          # no warning: the cluster did the work
            assert got[0] == ref[0], args
            assert got[1] == ref[1], f"{args} on {capture[0].name}: --engine dask differs"


def test_local_cluster_of_two_workers(tmp_path):
    same_as_one_process(tmp_path, "--jobs", "2")


@pytest.fixture
def scheduler(tmp_path):
    """A real Dask scheduler and two single-threaded workers on 127.0.0.1, stopped by pid."""
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        end = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < end, "the scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                           "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                                          env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client
        with Client(address, timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()


def test_scheduler_and_two_workers(tmp_path, scheduler):
    assert scheduler.startswith("tcp://127.0.0.1:")
    same_as_one_process(tmp_path, "--scheduler", scheduler)


def test_engine_errors_are_one_line(tmp_path):
    sample = ROOT / "sample_pcaps" / "retransmission.pcap"
    code, out, err = run("--scheduler", "tcp://127.0.0.1:1", sample)
    assert code == 2 and out == b"" and err.strip() == "tcpflow-explain: --scheduler is for --engine dask"
    code, out, err = run("--engine", "dask", "-")
    assert code == 2 and "not standard input" in err and len(err.splitlines()) == 1
    # without dask.distributed installed: how to install it, in one line
    p = subprocess.run([sys.executable, "-c", "import sys; sys.modules['distributed'] = None; "
                        "sys.argv[0] = 'tcpflow-explain'; from tcptrace_py.cli import run; run()",
                        "--engine", "dask", str(sample)], cwd=ROOT, env=ENV, capture_output=True, timeout=60)
    assert p.returncode == 2 and p.stdout == b""
    assert p.stderr.decode().strip() == \
        'tcpflow-explain: the Dask engine needs dask.distributed: pip install "tcpflow-explain[dask]"'


def test_views_one_process_draws_are_said(tmp_path):
    """The rich, ladder, Mermaid and SVG views are drawn by one process: a warning says so and
    the output is the one-process output."""
    sample = ROOT / "sample_pcaps" / "retransmission.pcap"
    code, out, err = run("--engine", "dask", "--format", "mermaid", sample)
    assert code == 0 and out == run("--format", "mermaid", sample)[1]
    assert "--engine dask writes json, jsonl, text and --summary" in err


def test_files_are_named_as_given(tmp_path, scheduler):
    """The tasks open the files by their absolute paths (a worker's working directory is not
    the client's); the output names them as the user did."""
    sample = tmp_path / "x.pcap"
    sample.write_bytes((ROOT / "sample_pcaps" / "retransmission.pcap").read_bytes())
    ref = run("--format", "jsonl", sample)
    p = subprocess.run([sys.executable, "-m", "tcptrace_py", "--format", "jsonl", "--engine", "dask",
                        "--scheduler", scheduler, "x.pcap"], cwd=tmp_path, env=ENV, capture_output=True,
                       timeout=300)
    assert p.returncode == 0 and p.stderr == b""
    assert p.stdout == ref[1].replace(str(sample).encode(), b"x.pcap")

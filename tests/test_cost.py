"""Bounded cost on hostile input: a crafted capture of about 1 MB costs at most 256 MB of memory and
10 s in every output mode.

The captures (``tests/fuzz/crafted.py``) are the shapes that cost the most per input byte: one
connection of 14,000 segments with random sequence numbers, 13,500 SYNs on one 4-tuple each with
a new ISN, a pcapng of 10,000 interface descriptions, and records of the largest captured length
the reader accepts. Each runs through the command line (the installed package, from a temporary
directory) with its standard output on /dev/null, in each output mode; the command must end with
exit 0, 3 or 4 and within the bound. The bound scales with the file: max(1, size in MB) × 256 MB
of peak memory and × 10 s of wall time.

Peak memory is measured by a small wrapper process that forks the command and reads its
``ru_maxrss`` from ``wait4`` (the largest of the command and the children it reaped; the
wrapper's own ~10 MB is the floor), while this process samples the ``VmHWM`` (high-water resident
size) of every process of the command's tree from /proc every 10 ms: the peak reported is the
larger of ``ru_maxrss`` and the sum of the processes' high-water marks, which for ``--jobs 2`` is
the parent's and both workers' peaks added up (pages they share counted in each). This is a safety
bound, not a benchmark: ``benchmarks/bench.py --hostile`` measures the large versions.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MB = 1_000_000
MEM_PER_MB = 256 * 2**20        # bytes of peak memory allowed per MB of input
TIME_PER_MB = 10.0              # seconds allowed per MB of input
OK_EXITS = {0, 3, 4}


def _crafted():
    """tests/fuzz/crafted.py, imported by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("crafted", HERE / "fuzz" / "crafted.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


crafted = _crafted()

CAPTURES = {
    "one_connection_random_seq": lambda p: crafted.build_one_connection_random_seq(p / "random-seq.pcap"),
    "syn_same_tuple_new_isn": lambda p: crafted.build_syn_same_tuple_new_isn(p / "syn-same-tuple.pcap"),
    "pcapng_many_interfaces": lambda p: crafted.build_pcapng_many_interfaces(p / "many-ifaces.pcapng"),
    "huge_records": lambda p: crafted.build_huge_records(p / "huge-records.pcap"),
}

MODES = {
    "text": ["--format", "text"],
    "json": ["--format", "json"],
    "jsonl": ["--format", "jsonl"],
    "summary-json": ["--summary", "--format", "json"],
    "summary-text": ["--summary", "--format", "text"],
    "ladder-text": ["--ladder", "--format", "text"],
    "mermaid": ["--format", "mermaid"],
    "svg": ["--format", "svg"],
    "explain": ["--format", "text", "--explain"],
    "zh": ["--format", "text", "--lang", "zh"],
    "jobs2-text": ["--format", "text", "--jobs", "2"],
}

# Forks the command with stdout on the file named in argv[1], waits for it, and prints one JSON
# line: exit code, wall time, and the command's ru_maxrss (KiB, as Linux reports it).
WRAPPER = r"""
import json, os, sys, time
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(out, 1)
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
sys.stderr.write(json.dumps({"exit": os.waitstatus_to_exitcode(status), "wall_s": wall,
                             "maxrss_kib": ru.ru_maxrss}) + "\n")
"""


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    st = f.read()
            except OSError:
                continue
            kids.setdefault(int(st[st.rfind(b")") + 2:].split()[1]), []).append(int(name))
    return kids


def _status_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of pid in KiB, or (0, 0) once it is gone."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return hwm, rss


class TreeWatch(threading.Thread):
    """Samples the high-water RSS of every descendant of `root` (not root itself: the wrapper);
    kills the process group when the current total passes `kill_at` bytes."""

    def __init__(self, root: int, kill_at: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.root, self.kill_at, self.interval = root, kill_at, interval
        self.hwm: dict[int, int] = {}           # pid -> highest VmHWM seen (KiB)
        self.killed = False
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            kids = _children()
            todo, now = list(kids.get(self.root, ())), 0
            while todo:
                p = todo.pop()
                todo.extend(kids.get(p, ()))
                hwm, rss = _status_kib(p)
                if hwm:
                    self.hwm[p] = max(self.hwm.get(p, 0), hwm)
                now += rss
            if now * 1024 > self.kill_at and not self.killed:
                self.killed = True
                try:
                    os.killpg(self.root, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.stop.wait(self.interval)


def measure(argv: list[str], cwd: Path, time_limit: float, mem_limit: int) -> dict:
    """Run argv (stdout to /dev/null) in its own process group; wall time, peak memory of the
    whole tree (bytes), exit code. Killed at 3 × time_limit or 4 × mem_limit of current RSS."""
    p = subprocess.Popen([sys.executable, "-c", WRAPPER, os.devnull, *argv], cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    watch = TreeWatch(p.pid, 4 * mem_limit)
    watch.start()
    timed_out = False
    t0 = time.perf_counter()
    try:
        _, err = p.communicate(timeout=3 * time_limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
    wall_outer = time.perf_counter() - t0
    watch.stop.set()
    watch.join()
    try:
        os.killpg(p.pid, signal.SIGKILL)       # a worker left behind is ours to stop
    except (ProcessLookupError, PermissionError):
        pass
    lines = err.decode("utf-8", "replace").splitlines()
    rec = {}
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                rec = json.loads(line)
                break
            except ValueError:
                pass
    tree = sum(watch.hwm.values()) * 1024
    peak = max(rec.get("maxrss_kib", 0) * 1024, tree)
    return {"exit": rec.get("exit"), "wall_s": rec.get("wall_s", wall_outer), "peak_bytes": peak,
            "tree_bytes": tree, "processes": len(watch.hwm), "timed_out": timed_out, "killed": watch.killed,
            "stderr": "\n".join(ln for ln in lines if not ln.startswith("{"))[-600:]}


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("crafted")
    return {name: Path(build(d)) for name, build in CAPTURES.items()}


@pytest.fixture(scope="module")
def rundir(tmp_path_factory) -> Path:
    """An empty working directory: `python -m tcptrace_py` then imports the installed package
    (compiled or not), not the checkout's sources."""
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="module")
def core(rundir) -> str:
    """Which core the command runs (compiled or pure Python), for the messages."""
    r = subprocess.run([sys.executable, "-m", "tcptrace_py", "--version"], cwd=rundir, capture_output=True,
                       text=True, timeout=60)
    return r.stdout.strip().rpartition("(")[2].rstrip(")") or "unknown core"


def test_crafted_captures_are_about_one_megabyte(captures):
    for name, path in captures.items():
        size = path.stat().st_size
        assert 0.5 * MB <= size <= 1.5 * MB, f"{name}: {size:,} bytes"


def test_huge_records_are_the_largest_the_reader_accepts(captures):
    from tcptrace_py.core.capture import MAX_RECORD, CaptureReader
    assert crafted.MAX_RECORD == MAX_RECORD
    reader = CaptureReader(str(captures["huge_records"]))
    caplens = [frame[5] for frame in reader]
    assert not reader.warnings
    assert caplens.count(MAX_RECORD) == 4 and max(caplens) == MAX_RECORD


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("capture", list(CAPTURES))
def test_bounded_cost(captures, rundir, core, capture, mode):
    path = captures[capture]
    size_mb = path.stat().st_size / MB
    scale = max(1.0, size_mb)
    time_limit, mem_limit = scale * TIME_PER_MB, int(scale * MEM_PER_MB)
    m = measure([sys.executable, "-m", "tcptrace_py", *MODES[mode], str(path)], rundir, time_limit, mem_limit)
    what = (f"{capture} ({size_mb:.2f} MB) {mode} [{' '.join(MODES[mode])}], {core}: exit {m['exit']}, "
            f"{m['wall_s']:.2f} s (bound {time_limit:.1f} s), peak {m['peak_bytes'] / 2**20:,.0f} MB "
            f"(bound {mem_limit / 2**20:,.0f} MB, {m['processes']} process(es))")
    print(what)
    assert not m["timed_out"], f"{what}: killed after {3 * time_limit:.0f} s"
    assert not m["killed"], f"{what}: killed above {4 * mem_limit / 2**20:,.0f} MB resident"
    assert m["exit"] in OK_EXITS, f"{what}\n{m['stderr']}"
    assert m["wall_s"] <= time_limit, f"{what}: over the time bound by {m['wall_s'] / time_limit:.2f} ×"
    assert m["peak_bytes"] <= mem_limit, f"{what}: over the memory bound by {m['peak_bytes'] / mem_limit:.2f} ×"

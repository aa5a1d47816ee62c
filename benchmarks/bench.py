#!/usr/bin/env python3
"""Benchmark tcpflow-explain against tshark, tcptrace and tcpdump on the same captures.

    python benchmarks/bench.py [--runs N] [--make] [--scale] [--hostile] [CAPTURE ...]

With no CAPTURE, the two standard captures benchmarks/data/bench-mixed.pcap and
benchmarks/data/bench-bulk.pcap are used (--make builds whichever is missing with
make_bench_pcaps.sh; that needs root and takes a few minutes).

Every command runs with its standard output and standard error on /dev/null (stderr
is kept in a temporary file only to show it when a command fails). For each command
and capture the table gives:

* median wall time over --runs runs (runs are interleaved: run 1 of every command,
  then run 2, ... so that slow drift of the machine hits all commands alike);
* packets per second (capture frames / median wall time);
* peak RSS: ru_maxrss of that one child, read with os.wait4() on its pid, so it
  is exact per command (RUSAGE_CHILDREN is a running maximum over all children
  ever reaped and cannot be "diffed"). For a command that forks workers it is the
  largest single process, so the sum over the process tree is also sampled from
  /proc every 20 ms ("tree RSS");
* CPU time (user + system, including reaped worker processes);
* for each mode of our tool, its time as a multiple of tshark's full TCP analysis
  and of tcptrace.

The table is printed as markdown and written with every raw number to
benchmarks/results/bench-<date>.json. --scale additionally builds 100k/1M/5M/10M
packet versions of the mixed capture (a prefix, the capture itself, and copies
with shifted addresses and timestamps appended) and measures time and memory
against size. --hostile builds crafted captures of the shapes that cost us the most
(tests/fuzz/crafted.py: one connection of 1M packets, a SYN scan of 1M ports, a 300k-port
scan among normal connections; --hostile-size for other sizes) and measures every output
mode on them. Only the standard library is used.
"""
from __future__ import annotations

import argparse
import atexit
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
DATA = BENCH / "data"
RESULTS = BENCH / "results"
MAKERS = [ROOT.parent / "shared" / "tools" / "make_bench_pcaps.sh"]
STANDARD = {"bench-mixed.pcap": "mixed", "bench-bulk.pcap": "bulk"}
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- the commands ---------------------------------------------------------------------

class Cmd:
    def __init__(self, key, label, argv, group, ours=False, requires=None, default=True):
        self.key = key            # short id, used by --only
        self.label = label        # what the table shows
        self.argv = argv          # list; "{F}" is replaced by the capture path
        self.group = group
        self.ours = ours
        self.requires = requires  # option our CLI must list in --help
        self.default = default    # run without --only (False: only when named, or by --hostile)


def snapshot_code(ref: str | None, compile_core: bool = True) -> dict:
    """A private copy of the package, so that edits made while the benchmark runs
    cannot mix versions: the working tree as it is now, or the tree of git `ref`."""
    tmp = Path(tempfile.mkdtemp(prefix="tfx-bench-code-"))
    atexit.register(shutil.rmtree, tmp, True)
    info = {"path": str(tmp), "ref": ref}
    git = ["git", "-C", str(ROOT)]
    if ref:
        commit = subprocess.run(git + ["rev-parse", "--verify", ref + "^{commit}"], capture_output=True,
                                text=True, check=True).stdout.strip()
        arch = subprocess.run(git + ["archive", "--format=tar", commit, "tcptrace_py"], capture_output=True,
                              check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=arch, check=True)
        info["commit"] = commit
    else:
        shutil.copytree(ROOT / "tcptrace_py", tmp / "tcptrace_py",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.c", "*.html"))
        r = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True)
        info["commit"] = r.stdout.strip() or None
        d = subprocess.run(git + ["status", "--porcelain", "--", "tcptrace_py"], capture_output=True, text=True)
        info["dirty"] = bool(d.stdout.strip())
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tmp)], check=False)
    if compile_core:
        build_core(tmp, info)
    return info


def build_python(tmp: Path) -> str:
    """A Python with Cython for compiling the snapshot: this one if it has it, else a throwaway
    environment of the same interpreter with the project's build requirements (what the build
    isolation of `pip install .` fetches), so a fresh checkout measures the compiled core too."""
    if subprocess.run([sys.executable, "-c", "import Cython"], capture_output=True).returncode == 0:
        return sys.executable
    env = tmp / ".build-env"
    print("  (this Python has no Cython: fetching the build requirements into a throwaway environment)",
          file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, capture_output=True)
    py = str(env / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", "setuptools>=77", "Cython>=3.0"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
    return py


def build_core(tmp: Path, info: dict) -> None:
    """Compile the snapshot's core in place, as `pip install .` does (setup.py at that code)."""
    files = ("setup.py", "pyproject.toml", "README.md")
    if info.get("commit") and info.get("ref"):
        for name in files:
            r = subprocess.run(["git", "-C", str(ROOT), "show", f"{info['commit']}:{name}"], capture_output=True)
            if r.returncode == 0:
                (tmp / name).write_bytes(r.stdout)
    else:
        for name in files:
            shutil.copy(ROOT / name, tmp / name)
    if (tmp / "setup.py").exists():
        print("building the compiled core of the snapshot ...", file=sys.stderr, flush=True)
        r = subprocess.run([build_python(tmp), "setup.py", "-q", "build_ext", "--inplace", "-j", "2"], cwd=tmp,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr[-2000:], file=sys.stderr)
    chk = subprocess.run([sys.executable, "-c", "import tcptrace_py as t; print(t.core() if callable(t.core) else t.core.kind())"], cwd=tmp,
                         capture_output=True, text=True)
    info["core"] = chk.stdout.strip() if chk.returncode == 0 else "pure Python"


def ours_prefix(args) -> tuple[list[str], dict, dict]:
    """How our tool is started: `python -m tcptrace_py` on a snapshot of this checkout's code
    (or of --ref), unless --ours names another command."""
    env = dict(os.environ)
    if args.ours:
        return args.ours.split(), env, {"command": args.ours}
    info = snapshot_code(args.ref, compile_core=not args.pure)   # --pure: nothing to compile
    # PathFinder comes before an editable install's finder, so PYTHONPATH wins
    env["PYTHONPATH"] = info["path"] + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    chk = subprocess.run([sys.executable, "-c", "import tcptrace_py; print(tcptrace_py.__file__)"],
                         capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if not chk.stdout.startswith(info["path"]):
        raise SystemExit(f"snapshot not picked up: tcptrace_py comes from {chk.stdout.strip() or chk.stderr}")
    if args.pure:
        env["TCPFLOW_EXPLAIN_PURE"] = "1"
        info["core"] = "pure Python"
    elif info.get("core") != "compiled":
        print("warning: the snapshot's core could not be compiled: measuring the interpreted modules "
              "(the report says so)", file=sys.stderr)
    return [sys.executable, "-m", "tcptrace_py"], env, info


def all_commands(prefix: list[str]) -> list[Cmd]:
    T = "tcpflow-explain"
    return [
        Cmd("tshark-full", "tshark full TCP analysis",
            ["tshark", "-r", "{F}", "-o", "tcp.analyze_sequence_numbers:TRUE", "-T", "fields",
             "-e", "tcp.stream", "-e", "tcp.analysis.flags"], "tshark"),
        Cmd("tshark-conv", "tshark -z conv,tcp", ["tshark", "-q", "-z", "conv,tcp", "-r", "{F}"], "tshark"),
        Cmd("tcptrace", "tcptrace -n -l", ["tcptrace", "-n", "-l", "{F}"], "tcptrace"),
        Cmd("tcpdump", "tcpdump -nn -r", ["tcpdump", "-nn", "-r", "{F}"], "tcpdump"),
        Cmd("ours-json", f"{T} --format json", prefix + ["--format", "json", "{F}"], "ours", True),
        Cmd("ours-jsonl", f"{T} --format jsonl", prefix + ["--format", "jsonl", "{F}"], "ours", True),
        Cmd("ours-text-all", f"{T} --format text --all --max-packets 0",
            prefix + ["--format", "text", "--all", "--max-packets", "0", "{F}"], "ours", True),
        Cmd("ours-summary", f"{T} --summary --format json",
            prefix + ["--summary", "--format", "json", "{F}"], "ours", True, requires="--summary"),
        Cmd("ours-summary-jobs2", f"{T} --summary --format json --jobs 2",
            prefix + ["--summary", "--format", "json", "--jobs", "2", "{F}"], "ours", True,
            requires=("--summary", "--jobs")),
        Cmd("ours-json-jobs2", f"{T} --format json --jobs 2",
            prefix + ["--format", "json", "--jobs", "2", "{F}"], "ours", True, requires="--jobs"),
        Cmd("ours-jsonl-jobs2", f"{T} --format jsonl --jobs 2",
            prefix + ["--format", "jsonl", "--jobs", "2", "{F}"], "ours", True, requires="--jobs"),
        Cmd("ours-text-all-jobs2", f"{T} --format text --all --max-packets 0 --jobs 2",
            prefix + ["--format", "text", "--all", "--max-packets", "0", "--jobs", "2", "{F}"], "ours", True,
            requires="--jobs"),
        # the default views, measured by --hostile (or when named with --only)
        Cmd("ours-text", f"{T} --format text", prefix + ["--format", "text", "{F}"], "ours", True, default=False),
        Cmd("ours-text-jobs2", f"{T} --format text --jobs 2", prefix + ["--format", "text", "--jobs", "2", "{F}"],
            "ours", True, requires="--jobs", default=False),
        Cmd("ours-summary-text", f"{T} --summary --format text", prefix + ["--summary", "--format", "text", "{F}"],
            "ours", True, requires="--summary", default=False),
    ]


SCALE_DEFAULT = ["ours-summary", "ours-summary-jobs2", "ours-jsonl-jobs2", "tcptrace", "tshark-full"]
HOSTILE_DEFAULT = ["ours-text", "ours-text-all", "ours-json", "ours-jsonl", "ours-summary-text", "ours-summary",
                   "ours-text-jobs2", "ours-jsonl-jobs2", "ours-summary-jobs2"]


def cli_help(prefix, env, cwd=None) -> str:
    try:
        r = subprocess.run(prefix + ["--help"], capture_output=True, text=True, env=env, timeout=60, cwd=cwd)
        return r.stdout + r.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(cannot run: {exc})"


def available(cmd: Cmd, help_text: str) -> str | None:
    """None if the command can run here, else why not."""
    if cmd.ours:
        req = cmd.requires
        req = (req,) if isinstance(req, str) else (req or ())
        missing = [r for r in req if not re.search(r"(^|[\s,])" + re.escape(r) + r"\b", help_text)]
        return f"CLI has no {', '.join(missing)}" if missing else None
    if shutil.which(cmd.argv[0]) is None:
        return f"{cmd.argv[0]} not installed (apt-get install -y {cmd.argv[0]})"
    return None


# --- measuring one run ------------------------------------------------------------------

def _tree_rss(root: int, skip_root: bool = False) -> int:
    """Resident bytes of `root`'s descendants (and of root itself unless skip_root), from /proc."""
    kids: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(b")") + 2:].split()
        pid = int(name)
        kids.setdefault(int(rest[1]), []).append(pid)       # field 4: ppid
        rss[pid] = int(rest[21]) * PAGE                       # field 24: rss in pages
    total = -rss.get(root, 0) if skip_root else 0
    todo = [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(kids.get(p, ()))
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.02, skip_root: bool = False):
        super().__init__(daemon=True)
        self.pid, self.interval, self.skip_root = pid, interval, skip_root
        self.peak = 0
        self.multi = False
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                r = _tree_rss(self.pid, self.skip_root)
            except Exception:   # noqa: BLE001 - sampling is best effort
                r = 0
            self.peak = max(self.peak, r)
            self.stop.wait(self.interval)


GNU_TIME = "/usr/bin/time"


def _cpu_idle_fraction(window: float = 1.0) -> float:
    """Share of all CPUs idle over `window` seconds, from /proc/stat."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v[:8])          # idle + iowait, total (without guest)
    i0, t0 = snap()
    time.sleep(window)
    i1, t1 = snap()
    return (i1 - i0) / max(1, t1 - t0)


def wait_idle(limit: float, want: float = 0.75) -> float:
    """Wait up to `limit` s for the machine to be mostly idle; returns the idle share found."""
    end = time.monotonic() + limit
    idle = _cpu_idle_fraction()
    while idle < want and time.monotonic() < end:
        idle = _cpu_idle_fraction()
    return idle


_RUNNING: set[int] = set()   # process groups of commands being measured (killed if we are stopped)


def _stop(signum, _frame):
    for pg in list(_RUNNING):
        try:
            os.killpg(pg, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    raise SystemExit(128 + signum)


def measure(argv: list[str], env: dict, timeout: float, cwd: str | None = None) -> dict:
    """Run argv once; wall time, CPU time and peak RSS of that command alone.

    Peak RSS comes from GNU time (%M, ru_maxrss from wait4 on the command it
    forked) when /usr/bin/time exists, else from our own os.wait4(). GNU time is
    preferred because CPython starts children with vfork(): the kernel then
    carries the *parent's* peak RSS into the child's ru_maxrss at exec, so
    wait4() from this (Python) process would report at least this process's
    peak for every command. GNU time forks from a ~2 MB process, so its floor
    is ~2 MB.
    """
    use_time = os.access(GNU_TIME, os.X_OK)
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ([GNU_TIME, "-f", "%M %U %S %x", "-o", tf.name] if use_time else []) + argv
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             env=env, start_new_session=True, cwd=cwd)
        _RUNNING.add(p.pid)
        sampler = _Sampler(p.pid, skip_root=use_time)
        sampler.start()
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(p.pid, signal.SIGKILL)   # the group we started (start_new_session)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        p.returncode = os.waitstatus_to_exitcode(status)
        # leave nothing behind: a worker that outlived its parent is ours to stop
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _RUNNING.discard(p.pid)
        load1 = os.getloadavg()[0]
        err.seek(0)
        tail = err.read()[-2000:].decode("utf-8", "replace")
        maxrss_kb, user, sys_ = ru.ru_maxrss, ru.ru_utime, ru.ru_stime
        code = p.returncode
        if use_time:
            lines = [ln for ln in tf.read().splitlines() if ln.strip()]
            try:
                kb, u, s_, x = lines[-1].split()
                maxrss_kb, user, sys_, code = int(kb), float(u), float(s_), int(x)
            except (IndexError, ValueError):
                code = p.returncode if p.returncode else -1
            if lines and lines[0].startswith("Command terminated by signal"):
                code = -int(lines[0].split()[-1])
    return {
        "wall_s": wall,
        "cpu_s": user + sys_,
        "user_s": user,
        "sys_s": sys_,
        "max_rss_mb": maxrss_kb / 1024.0,          # Linux: KiB
        "rss_source": "GNU time %M" if use_time else "os.wait4 ru_maxrss (floor: this process's peak)",
        "tree_rss_mb": sampler.peak / 2**20,
        "exit": code,
        "timed_out": timed_out.is_set(),
        "loadavg_1min": [load0, load1],
        "stderr_tail": tail if code != 0 else "",
    }


# --- captures -----------------------------------------------------------------------------

PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}


def count_frames(path: Path) -> int:
    """Frames in a pcap (raw record walk) or pcapng (packet blocks), read in chunks."""
    with open(path, "rb") as f:
        head = f.read(24)
        if head[:4] in PCAP_MAGIC:
            un = struct.Struct(PCAP_MAGIC[head[:4]] + "I").unpack_from
            n = 0
            buf = b""
            while True:
                chunk = f.read(1 << 22)
                if not chunk:
                    return n
                buf += chunk
                pos, end = 0, len(buf)
                while pos + 16 <= end:
                    nxt = pos + 16 + un(buf, pos + 8)[0]
                    if nxt > end:
                        break
                    n += 1
                    pos = nxt
                buf = buf[pos:]
        if head[:4] == b"\x0a\x0d\x0d\x0a":
            e = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
            st = struct.Struct(e + "II").unpack_from
            f.seek(0)
            n = 0
            while True:
                h = f.read(8)
                if len(h) < 8:
                    return n
                bt, bl = st(h)
                if bl < 12:
                    return n
                n += bt in (2, 3, 6)
                f.seek(bl - 8, 1)
    raise SystemExit(f"{path}: not a pcap/pcapng capture")


def warm(path: Path) -> None:
    """Read the file once so every command finds it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def maker() -> Path | None:
    for m in MAKERS:
        if m.is_file():
            return m
    return None


def make_captures(which: list[str]) -> None:
    m = maker()
    if m is None:
        raise SystemExit("make_bench_pcaps.sh not found (looked in: %s)" % ", ".join(map(str, MAKERS)))
    what = "all" if set(which) >= {"mixed", "bulk"} else which[0]
    DATA.mkdir(parents=True, exist_ok=True)
    argv = ["bash", str(m), what]
    if os.geteuid() != 0:
        argv = ["sudo", "--preserve-env=OUT"] + argv
    print(f"# making {what} capture(s) with {m} into {DATA} (several minutes)", file=sys.stderr)
    subprocess.run(argv, env=dict(os.environ, OUT=str(DATA)), check=True)


# --- --scale: bigger captures by raw record rewrite --------------------------------------

def _ones_add(a: int, b: int) -> int:
    s = a + b
    s = (s & 0xFFFF) + (s >> 16)
    return (s & 0xFFFF) + (s >> 16)


def build_scaled(src: Path, dst: Path, npkts: int) -> int:
    """Write a capture of `npkts` frames made from `src` (a pcap of Ethernet frames).

    Fewer frames than `src`: its first `npkts` records. More: `src`, then copies of
    it, each shifted in time past the end of the previous one, with the third octet
    of both IPv4 addresses raised by the copy number (10.98.0.1 -> 10.98.k.1), so
    each copy's connections are new 4-tuples; the IPv4 header and TCP checksums are
    corrected incrementally (RFC 1624), so they stay valid. Records are patched in
    place in a bytearray: no packet objects are built. Returns the frames written.
    """
    data = src.read_bytes()
    e = PCAP_MAGIC.get(data[:4])
    if e is None:
        raise SystemExit(f"{src}: --scale needs a pcap file (not pcapng)")
    linktype = struct.unpack_from(e + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype != 1:
        raise SystemExit(f"{src}: --scale needs an Ethernet capture (link type {linktype})")
    u32 = struct.Struct(e + "I")
    ends, ips = [], []       # record end offsets; IPv4 offset (or -1) per record
    pos, end = 24, len(data)
    while pos + 16 <= end:
        cap = u32.unpack_from(data, pos + 8)[0]
        nxt = pos + 16 + cap
        if nxt > end:
            break
        f = pos + 16
        ip = -1
        if cap >= 34 and data[f + 12] == 8 and data[f + 13] == 0 and data[f + 14] >> 4 == 4:
            ip = f + 14
        ips.append(ip)
        ends.append(nxt)
        pos = nxt
    n = len(ends)
    if n == 0:
        raise SystemExit(f"{src}: no frames")
    with open(dst, "wb") as out:
        out.write(data[:24])
        if npkts <= n:
            out.write(data[24:ends[npkts - 1]])
            return npkts
        out.write(data[24:ends[-1]])
        written = n
        starts = [24] + ends[:-1]
        first_sec = u32.unpack_from(data, 24)[0]
        last_sec = u32.unpack_from(data, starts[-1])[0]
        span = max(1, last_sec - first_sec + 2)          # whole seconds: fractions stay as they are
        k = 0
        while written < npkts:
            k += 1
            if k > 255:
                raise SystemExit("--scale: at most 256 copies")
            take = min(n, npkts - written)
            buf = bytearray(data[:ends[take - 1]])
            shift = k * span
            cache: dict[tuple, int] = {}    # (old word 14, old word 18) -> one's-complement delta
            pack, unpack = u32.pack_into, u32.unpack_from
            for i in range(take):
                r = starts[i]
                pack(buf, r, unpack(data, r)[0] + shift)
                ip = ips[i]
                if ip < 0:
                    continue
                ihl = (data[ip] & 15) * 4
                a, b = data[ip + 14], data[ip + 18]
                key = (a, data[ip + 15], b, data[ip + 19])
                delta = cache.get(key)
                na, nb = (a + k) & 0xFF, (b + k) & 0xFF
                if delta is None:
                    old1, old2 = (a << 8) | key[1], (b << 8) | key[3]
                    new1, new2 = (na << 8) | key[1], (nb << 8) | key[3]
                    delta = _ones_add(_ones_add(~old1 & 0xFFFF, ~old2 & 0xFFFF), _ones_add(new1, new2))
                    cache[key] = delta
                buf[ip + 14] = na
                buf[ip + 18] = nb
                c = (data[ip + 10] << 8) | data[ip + 11]
                c = ~_ones_add(~c & 0xFFFF, delta) & 0xFFFF
                buf[ip + 10], buf[ip + 11] = c >> 8, c & 0xFF
                t = ip + ihl + 16       # TCP checksum (its pseudo-header holds both addresses)
                if data[ip + 9] == 6 and t + 2 <= ends[i]:
                    c = (data[t] << 8) | data[t + 1]
                    c = ~_ones_add(~c & 0xFFFF, delta) & 0xFFFF
                    buf[t], buf[t + 1] = c >> 8, c & 0xFF
            out.write(memoryview(buf)[24:])
            written += take
    return written


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def parse_size(s: str) -> int:
    s = s.strip().lower()
    mult = {"k": 1000, "m": 1_000_000}.get(s[-1:], 1)
    return int(float(s[:-1] if mult > 1 else s) * mult)


# --- --hostile: crafted captures of the shapes that cost the most ------------------------------

CRAFTED = ROOT / "tests" / "fuzz" / "crafted.py"
HOSTILE_CASES = ("long_connection", "syn_scan", "scan_mixed")


def _crafted():
    """tests/fuzz/crafted.py (the builders of hostile captures), imported by path."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("tfx_crafted", CRAFTED)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def hostile_params(case: str, n: int) -> dict:
    """The builder's size arguments for a capture of about n packets."""
    if case == "long_connection":
        return {"packets": n}                                   # n packets on one connection
    if case == "syn_scan":
        return {"syns": n}                                      # n SYNs (+ ~4 % answers and RSTs)
    if case == "scan_mixed":
        return {"ports": round(n * 0.3), "connections": round(n * 0.04)}   # ~0.3 n scan + ~0.7 n normal
    raise ValueError(case)


def build_hostile(case: str, n: int) -> Path:
    """benchmarks/data/hostile-<case>-<n>.pcap, built by crafted.py unless it is there already from
    the same builder source and arguments (a .json beside it says which)."""
    import hashlib
    params = hostile_params(case, n)
    path = DATA / f"hostile-{case.replace('_', '-')}-{size_label(n)}.pcap"
    stamp = path.with_name(path.name + ".json")
    want = {"builder": f"build_{case}", "args": params,
            "crafted_sha256": hashlib.sha256(CRAFTED.read_bytes()).hexdigest()}
    try:
        if path.exists() and json.loads(stamp.read_text()) == want:
            return path
    except (OSError, ValueError):
        pass
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    getattr(_crafted(), want["builder"])(path, **params)
    stamp.write_text(json.dumps(want) + "\n")
    print(f"# built {path.name}: {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return path


def hostile_table(rows: list[dict]) -> str:
    """Commands down, captures across: median wall s / peak MB of all processes (exit if not 0)."""
    keys = []
    for row in rows:
        for k in row["results"]:
            if k not in keys:
                keys.append(k)
    head = "| command | " + " | ".join(
        f"{r['case']} ({r['frames']:,} frames, {r['bytes'] / 1e6:.0f} MB)" for r in rows) + " |"
    lines = [head, "|---|" + "---:|" * len(rows)]
    for k in keys:
        label = next(r["results"][k]["label"] for r in rows if k in r["results"])
        cells = []
        for row in rows:
            r = row["results"].get(k)
            if r is None:
                cells.append("–")
                continue
            bad = "" if r["exit_codes"] == [0] else f" (exit {','.join(map(str, r['exit_codes']))})"
            if any(m.get("timed_out") for m in r["runs"]):
                bad += " TIMEOUT"
            mb = max(r["peak_rss_mb"], r["tree_rss_mb"])
            cells.append(f"{r['median_wall_s']:.1f} s / {mb:,.0f} MB{bad}")
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    lines += ["", "Per MB of input (the bound of tests/test_cost.py: 256 MB and 10 s per MB):", "",
              "| command | " + " | ".join(r["case"] for r in rows) + " |", "|---|" + "---:|" * len(rows)]
    for k in keys:
        label = next(r["results"][k]["label"] for r in rows if k in r["results"])
        cells = []
        for row in rows:
            r = row["results"].get(k)
            mb_in = row["bytes"] / 1e6
            if r is None or not mb_in:
                cells.append("–")
                continue
            mb = max(r["peak_rss_mb"], r["tree_rss_mb"])
            cells.append(f"{mb / mb_in:,.1f} MB / {r['median_wall_s'] / mb_in:.2f} s")
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- machine ---------------------------------------------------------------------------------

def _first_line(argv) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "n/a"
    for line in (r.stdout + r.stderr).splitlines():
        if line.strip() and "dangerous" not in line:
            return line.strip()
    return "n/a"


def machine(prefix, env, cwd=None) -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    ver = subprocess.run(prefix + ["--version"], capture_output=True, text=True, env=env, cwd=cwd).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_gib": mem,
        "kernel": platform.release(),
        "python": platform.python_version() + " (" + platform.python_implementation() + ")",
        "tools": {
            "tcpflow-explain": ver or "n/a",
            "tshark": _first_line(["tshark", "--version"]),
            "tcpdump": _first_line(["tcpdump", "--version"]),
            "tcptrace": _first_line(["tcptrace", "-v"]),
        },
    }


# --- the run -----------------------------------------------------------------------------------

def bench_capture(path: Path, cmds: list[Cmd], env_ours: dict, runs: int, timeout: float, frames: int,
                  cwd: str | None = None, idle_wait: float = 0) -> dict:
    warm(path)
    raw: dict[str, list[dict]] = {c.key: [] for c in cmds}
    for r in range(runs):
        for c in cmds:
            argv = [str(path) if a == "{F}" else a for a in c.argv]
            # cwd: `python -m` puts the working directory first on sys.path, ahead of the snapshot
            idle = wait_idle(idle_wait) if idle_wait > 0 else None
            m = measure(argv, env_ours if c.ours else dict(os.environ), timeout, cwd)
            m["idle_before"] = idle
            raw[c.key].append(m)
            flag = "" if m["exit"] == 0 else f"  exit {m['exit']}" + (" TIMEOUT" if m["timed_out"] else "")
            print(f"  [{path.name} run {r + 1}/{runs}] {c.key:<20} {m['wall_s']:8.2f} s  "
                  f"{m['max_rss_mb']:8.1f} MB{flag}", file=sys.stderr, flush=True)
    out = {}
    for c in cmds:
        ms = raw[c.key]
        walls = [m["wall_s"] for m in ms]
        med = statistics.median(walls)
        out[c.key] = {
            "label": c.label,
            "argv": c.argv,
            "ours": c.ours,
            "median_wall_s": med,
            "min_wall_s": min(walls),
            "max_wall_s": max(walls),
            "pkts_per_s": frames / med if med > 0 else None,
            "peak_rss_mb": max(m["max_rss_mb"] for m in ms),
            "tree_rss_mb": max(m["tree_rss_mb"] for m in ms),
            "median_cpu_s": statistics.median(m["cpu_s"] for m in ms),
            "exit_codes": sorted({m["exit"] for m in ms}),
            "max_loadavg_1min": max(max(m["loadavg_1min"]) for m in ms),
            "runs": ms,
        }
    for key, res in out.items():
        if not res["ours"]:
            continue
        for ref in ("tshark-full", "tcptrace", "tcpdump"):
            if ref in out:
                res[f"x_{ref}"] = res["median_wall_s"] / out[ref]["median_wall_s"]
                res[f"x_{ref}_cpu"] = res["median_cpu_s"] / max(out[ref]["median_cpu_s"], 1e-3)
        if "tshark-full" in out:
            # memory of the whole process tree (every worker, for --jobs) against tshark's
            res["rss_x_tshark-full"] = max(res["tree_rss_mb"], res["peak_rss_mb"]) / out["tshark-full"]["peak_rss_mb"]
    return out


def _fmt(x, spec):
    return "–" if x is None else format(x, spec)


def _pair(r, k):
    if r.get(k) is None:
        return "–"
    return f"{r[k]:.2f} / {r[k + '_cpu']:.2f}"


def table(frames: int, res: dict, skipped: dict) -> str:
    lines = [
        "| command | median wall s | packets/s | peak RSS MB | tree RSS MB | CPU s "
        "| × tshark full (wall / CPU) | memory × tshark full | × tcptrace (wall / CPU) | × tcpdump (wall) | exit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, r in res.items():
        lines.append("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], _fmt(r["median_wall_s"], ".2f"), _fmt(r["pkts_per_s"], ",.0f"),
            _fmt(r["peak_rss_mb"], ",.0f"), _fmt(r["tree_rss_mb"], ",.0f"), _fmt(r["median_cpu_s"], ".2f"),
            _pair(r, "x_tshark-full"), _fmt(r.get("rss_x_tshark-full"), ".2f"), _pair(r, "x_tcptrace"),
            _fmt(r.get("x_tcpdump"), ".2f"), ",".join(map(str, r["exit_codes"]))))
    for key, (label, why) in skipped.items():
        lines.append(f"| `{label}` | – | – | – | – | – | – | – | – | – | not run: {why} |")
    return "\n".join(lines)


def scale_table(rows: list[dict]) -> str:
    keys = []
    for row in rows:
        for k in row["results"]:
            if k not in keys:
                keys.append(k)
    head = "| packets | " + " | ".join(f"{k} s / MB" for k in keys) + " |"
    lines = [head, "|---:|" + "---:|" * len(keys)]
    for row in rows:
        cells = []
        for k in keys:
            r = row["results"].get(k)
            if r is None:
                cells.append("–")
            else:
                bad = "" if r["exit_codes"] == [0] else f" (exit {','.join(map(str, r['exit_codes']))})"
                mb = max(r["peak_rss_mb"], r["tree_rss_mb"])    # every process, for --jobs
                cells.append(f"{r['median_wall_s']:.1f} s / {mb:,.0f} MB{bad}")
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("captures", nargs="*", metavar="CAPTURE",
                    help="captures to benchmark (default: benchmarks/data/bench-{mixed,bulk}.pcap)")
    ap.add_argument("--runs", type=int, default=3, help="runs per command and capture; the median is reported (3)")
    ap.add_argument("--make", action="store_true",
                    help="build missing standard captures with make_bench_pcaps.sh (root; a few minutes)")
    ap.add_argument("--only", help="comma-separated command ids to run (default: all that this machine has): "
                    + ", ".join(c.key for c in all_commands(["x"])))
    ap.add_argument("--skip", help="comma-separated command ids to leave out")
    ap.add_argument("--scale", action="store_true",
                    help="also measure time and memory against capture size (see --scale-sizes)")
    ap.add_argument("--scale-only", action="store_true", help="only the --scale part")
    ap.add_argument("--scale-sizes", default="100k,1M,5M", help="capture sizes for --scale (100k,1M,5M; 10M also works)")
    ap.add_argument("--scale-commands", default=",".join(SCALE_DEFAULT),
                    help="command ids for --scale (%(default)s)")
    ap.add_argument("--scale-runs", type=int, default=1, help="runs per command and size for --scale (1)")
    ap.add_argument("--hostile", action="store_true",
                    help="build the crafted hostile captures (one 1M-packet connection, a 1M-SYN scan, a "
                    "300k-port scan among normal connections) and measure every output mode on them; "
                    "without CAPTURE arguments, instead of the standard captures")
    ap.add_argument("--hostile-size", default="1M",
                    help="packets per hostile capture (1M; e.g. 100k for a quick run)")
    ap.add_argument("--hostile-cases", default=",".join(HOSTILE_CASES), help="hostile captures (%(default)s)")
    ap.add_argument("--hostile-commands", default=",".join(HOSTILE_DEFAULT),
                    help="command ids for --hostile (%(default)s)")
    ap.add_argument("--hostile-runs", type=int, default=1, help="runs per command and capture for --hostile (1)")
    ap.add_argument("--wait-idle", type=float, default=30, metavar="S",
                    help="before each run, wait up to S seconds for the CPUs to be >=75%% idle (30; 0: don't)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before one run is killed (3600)")
    ap.add_argument("--ours", help='how to start our tool (default: "python -m tcptrace_py" on a snapshot '
                    "of this checkout's tcptrace_py/, taken when the benchmark starts)")
    ap.add_argument("--pure", action="store_true",
                    help="run our tool on its pure-Python modules (TCPFLOW_EXPLAIN_PURE=1), not the compiled core")
    ap.add_argument("--ref", help="benchmark the code of this git ref (e.g. HEAD) instead of the working tree")
    ap.add_argument("--out", help="JSON result file (default: benchmarks/results/bench-<date>.json)")
    args = ap.parse_args(argv)

    prefix, env_ours, code = ours_prefix(args)
    help_text = cli_help(prefix, env_ours, code.get("path"))
    cmds_all = all_commands(prefix)
    only = set(args.only.split(",")) if args.only else None
    skip = set(args.skip.split(",")) if args.skip else set()
    known = {c.key for c in cmds_all}
    for k in (only or set()) | skip | set(args.scale_commands.split(",")) | set(args.hostile_commands.split(",")):
        if k and k not in known:
            ap.error(f"unknown command id {k!r} (known: {', '.join(sorted(known))})")
    cases = [c for c in args.hostile_cases.split(",") if c]
    for c in cases:
        if c not in HOSTILE_CASES:
            ap.error(f"unknown hostile case {c!r} (known: {', '.join(HOSTILE_CASES)})")
    hostile_only = args.hostile and not args.captures

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    captures = [Path(c).resolve() for c in args.captures] or ([] if hostile_only else [DATA / n for n in STANDARD])
    missing = [c for c in captures if not c.exists()]
    if missing:
        std = [STANDARD[c.name] for c in missing if c.name in STANDARD and c.resolve().parent == DATA.resolve()]
        if args.make and len(std) == len(missing):
            make_captures(std)
        else:
            raise SystemExit("missing capture(s): %s%s" % (
                ", ".join(map(str, missing)),
                "" if args.make else "  (python benchmarks/bench.py --make builds the standard ones)"))

    runnable, skipped = [], {}
    for c in cmds_all:
        if (only and c.key not in only) or c.key in skip or (not only and not c.default):
            continue
        why = available(c, help_text)
        if why:
            skipped[c.key] = (c.label, why)
        else:
            runnable.append(c)

    report = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(prefix, env_ours, code.get("path")),
        "runs": args.runs,
        "ours_command": prefix,
        "ours_code": code,
        "captures": [],
        "scale": None,
        "hostile": None,
    }
    m = report["machine"]
    print(f"\n**Machine:** {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['mem_gib']} GiB, "
          f"Linux {m['kernel']}, Python {m['python']}")
    print("**Tools:** " + "; ".join(f"{k}: {v}" for k, v in m["tools"].items()))
    if "path" in code:
        what = f"git {code['ref']} ({code['commit'][:12]})" if code.get("ref") else \
            f"working tree at start (HEAD {str(code.get('commit'))[:12]}{', modified' if code.get('dirty') else ''})"
        print(f"**Code measured:** tcptrace_py/ from {what}, {code.get('core', 'pure Python')} core")

    if not args.scale_only:
        for cap in captures:
            frames = count_frames(cap)
            print(f"# {cap.name}: {frames:,} frames, {cap.stat().st_size / 2**20:.1f} MiB", file=sys.stderr)
            res = bench_capture(cap, runnable, env_ours, args.runs, args.timeout, frames, code.get("path"),
                              args.wait_idle)
            report["captures"].append({"path": str(cap), "name": cap.name, "frames": frames,
                                       "bytes": cap.stat().st_size, "results": res, "not_run": skipped})
            print(f"\n### {cap.name} — {frames:,} frames, {cap.stat().st_size / 2**20:.1f} MiB, "
                  f"median of {args.runs} run(s)\n")
            print(table(frames, res, skipped))
            load = max(r["max_loadavg_1min"] for r in res.values()) if res else 0
            note = " (busy machine: other work competed for the CPU; CPU s is the steadier number)" \
                if load > (os.cpu_count() or 1) else ""
            print(f"\nHighest 1-min load average seen during these runs: {load:.2f}{note}")
            sys.stdout.flush()

    if args.hostile:
        n = parse_size(args.hostile_size)
        by_key = {c.key: c for c in cmds_all}
        hcmds = [by_key[k] for k in args.hostile_commands.split(",") if k and available(by_key[k], help_text) is None]
        hrows = []
        for case in cases:
            path = build_hostile(case, n)
            frames = count_frames(path)
            print(f"# hostile {case}: {path.name}, {frames:,} frames, {path.stat().st_size / 1e6:.1f} MB",
                  file=sys.stderr)
            res = bench_capture(path, hcmds, env_ours, args.hostile_runs, args.timeout, frames, code.get("path"),
                                args.wait_idle)
            hrows.append({"case": case, "params": hostile_params(case, n), "frames": frames, "path": str(path),
                          "bytes": path.stat().st_size, "results": res})
        report["hostile"] = {"size": n, "runs": args.hostile_runs, "builder": str(CRAFTED), "rows": hrows}
        print(f"\n### Hostile captures ({size_label(n)} packets a capture; median wall s / peak RSS MB of all "
              f"processes, {args.hostile_runs} run(s))\n")
        print(hostile_table(hrows))
        load = max((r["max_loadavg_1min"] for row in hrows for r in row["results"].values()), default=0)
        print(f"\nHighest 1-min load average seen during these runs: {load:.2f}")
        sys.stdout.flush()

    if args.scale or args.scale_only:
        src = next((c for c in captures if c.name == "bench-mixed.pcap"),
                   captures[0] if captures else DATA / "bench-mixed.pcap")
        if not src.exists():
            raise SystemExit(f"--scale: missing {src}  (python benchmarks/bench.py --make builds it)")
        sizes = [parse_size(s) for s in args.scale_sizes.split(",") if s.strip()]
        scmds = [c for c in cmds_all if c.key in args.scale_commands.split(",") and available(c, help_text) is None]
        rows = []
        base_n = count_frames(src)
        for n in sizes:
            if n == base_n:
                path = src
            else:
                path = DATA / f"{src.stem}-{size_label(n)}.pcap"
                if not path.exists() or count_frames(path) != n:
                    t0 = time.perf_counter()
                    got = build_scaled(src, path, n)
                    print(f"# built {path.name}: {got:,} frames in {time.perf_counter() - t0:.1f} s",
                          file=sys.stderr)
            frames = count_frames(path)
            print(f"# scale {size_label(n)}: {path.name}", file=sys.stderr)
            res = bench_capture(path, scmds, env_ours, args.scale_runs, args.timeout, frames, code.get("path"),
                              args.wait_idle)
            rows.append({"label": size_label(frames), "frames": frames, "path": str(path),
                         "bytes": path.stat().st_size, "results": res})
        report["scale"] = {"source": str(src), "runs": args.scale_runs, "rows": rows}
        print(f"\n### Scaling ({src.name} prefix / copies; median wall s / peak RSS MB of all processes, "
              f"{args.scale_runs} run(s))\n")
        print(scale_table(rows))

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / ("bench-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\n(results: {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

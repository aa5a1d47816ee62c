"""The campaign: every input through the CLI's modes, each outcome judged, findings minimized and saved.

Modes run in long-lived worker processes, calling `tcptrace_py.cli.run()` in-process with patched
sys.argv/stdin/stdout/stderr (a few milliseconds a run); `--jobs 2` runs in-process too (its
workers are forked from the fuzz worker). A real subprocess runs the stdin mode (a pipe) and,
every few inputs, one of the other modes in a fresh process, whose peak memory is measured (wait4's
ru_maxrss). See the oracle in `judge`, `compare` and `cross_check`.
"""
from __future__ import annotations

import gc
import hashlib
import io
import json
import multiprocessing as mp
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz import mutators
from tests.wellformed import assert_well_formed, mode_of

TIMEOUT = 10.0                    # seconds a run may take
MEMORY_LIMIT_KB = 256 * 1024      # peak RSS allowed for an input of at most 1 MB
CAPTURE = "@CAPTURE@"
JUNIT = "@JUNIT@"
PROG = "tcpflow-explain"
WARN = "tcpflow-explain: warning: "
POLICY_LINE = "tcpflow-explain: policy: "
INTERNAL_RE = re.compile(r"internal error: ([\w.]+): (.*?)(?: at ([\w.]+:\d+))? \(please report")


# ------------------------------------------------------------------------------------ modes


@dataclass(frozen=True)
class Mode:
    name: str                 # the mode's family (statistics and --modes)
    args: tuple
    how: str = "inproc"       # inproc | stdin-ref (in-process, "-") | stdin (a pipe, subprocess) | fresh (subprocess)
    ref: str | None = None    # the key of the run whose stdout and exit code this one must equal
    key: str = ""             # unique within one input's plan

    @property
    def policy(self) -> bool:
        return any(a in ("--fail-on", "--require", "--policy", "--max-retransmission-rate", "--max-handshake-rtt")
                   for a in self.args)


BASE = {
    "text": ("--format", "text"),
    "json": ("--format", "json"),
    "jsonl": ("--format", "jsonl"),
    "summary": ("--summary", "--format", "text"),
    "summary-json": ("--summary", "--format", "json"),
    "ladder": ("--ladder", "--format", "text"),
    "mermaid": ("--format", "mermaid"),
    "svg": ("--format", "svg"),
    "explain": ("--explain", "--format", "text"),
    "zh": ("--lang", "zh", "--format", "text"),
    "all": ("--format", "text", "--all", "--max-packets", "0"),
}
POLICY = ("--fail-on", "error", "--require", "handshake,graceful-close", "--junit", JUNIT)
POLICY_FORMATS = ((), ("--format", "json"), ("--format", "jsonl"), ("--summary", "--format", "text"))
VARIANTS = (
    ("--ladder", "--format", "text", "--ascii", "--unfold"),
    ("--format", "text", "--no-notes", "--limit", "1", "--max-packets", "3"),
    ("--format", "jsonl", "--head", "1"),
    ("--format", "json", "--flow", "2", "--flow", "1"),
    ("--format", "jsonl", "--grace", "0", "--idle-timeout", "0.5"),
    ("--summary", "--format", "json", "--with-anomalies"),
    ("--format", "mermaid", "--explain", "--lang", "zh"),
    ("--format", "svg", "--explain", "--no-notes", "--flow", "1"),
    ("--ladder", "--format", "text", "--lang", "zh", "--explain", "--max-packets", "5"),
    ("--format", "json", "--host", "10.0.0.0/8,fd00::/8", "--port", "80,443,8080", "--conn-state", "SF"),
    ("--summary", "--format", "text", "--anomaly", "rst", "--grace", "0"),
    ("--format", "text", "--ascii", "--explain", "--idle-timeout", "1"),
)
STDIN_FORMATS = (("--format", "text"), ("--format", "jsonl"), ("--format", "json"), ("--summary", "--format", "json"),
                 ("--ladder", "--format", "text"))
FAMILIES = tuple(BASE) + ("policy", "variants", "jobs2-text", "jobs2-jsonl", "jobs2-policy", "stdin", "fresh")


def plan_for(index: int, families=None, sub_every: int = 3) -> list:
    """The runs for input number `index`: every in-process mode (the policy and option variants
    rotating), and on every `sub_every`-th input one subprocess run (stdin, or a fresh process
    of one of the other modes, rotating)."""
    want = set(families or FAMILIES)
    plan = {}

    def add(m: Mode) -> None:
        plan[m.key] = m

    for name, args in BASE.items():
        add(Mode(name, args, key=name))
    pol = POLICY + POLICY_FORMATS[index % len(POLICY_FORMATS)]
    add(Mode("policy", pol, key="policy"))
    add(Mode("variants", VARIANTS[index % len(VARIANTS)], key="variants"))
    add(Mode("jobs2-text", ("--jobs", "2", "--format", "text"), ref="text", key="jobs2-text"))
    add(Mode("jobs2-jsonl", ("--jobs", "2", "--format", "jsonl"), ref="jsonl", key="jobs2-jsonl"))
    add(Mode("jobs2-policy", ("--jobs", "2") + pol, ref="policy", key="jobs2-policy"))
    if sub_every and index % sub_every == 0:
        turn = index // sub_every
        if turn % 2 == 0 and "stdin" in want:
            args = STDIN_FORMATS[(turn // 2) % len(STDIN_FORMATS)]
            add(Mode("stdin", args, "stdin-ref", key="stdin-ref"))
            add(Mode("stdin", args, "stdin", ref="stdin-ref", key="stdin"))
        elif "fresh" in want:
            others = [k for k in plan if k not in ("stdin", "stdin-ref") and plan[k].name in want] or list(plan)
            pick = plan[others[(turn // 2) % len(others)]]
            add(Mode("fresh", pick.args, "fresh", ref=pick.key, key="fresh"))
    keep = {k for k, m in plan.items() if m.name in want}
    for k in list(keep):            # what a kept run is compared with runs too
        if plan[k].ref:
            keep.add(plan[k].ref)
    return [m for k, m in plan.items() if k in keep]


# ------------------------------------------------------------------------------------ running


@dataclass
class Outcome:
    key: str
    name: str
    argv: list
    how: str
    code: object = None
    out: bytes = b""
    err: str = ""
    secs: float = 0.0
    peak_kb: int = 0
    junit: bytes | None = None
    timeout: bool = False
    policy: bool = False


class Hang(BaseException):
    """Raised by the alarm in an in-process run that takes too long (not an Exception, so the
    CLI's own handler for internal errors does not take it)."""


class _Buf(io.BytesIO):
    def close(self) -> None:      # the text wrapper closes it when collected; keep the bytes
        pass


def _alarm(_sig, _frame):
    raise Hang()


def _peak_kb() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def cli_command() -> list:
    """The command line's entry point in a new process: the same `cli.run()` as the console
    script, from the tcptrace_py this process imports (PYTHONPATH can point at another checkout)."""
    return [sys.executable, "-m", "tcptrace_py"]


class Runner:
    """Runs modes over one input at a time, in a directory of its own."""

    def __init__(self, workdir: Path, timeout: float = TIMEOUT):
        from tcptrace_py import cli
        self.cli = cli
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.capture = self.dir / "capture"
        self.junit = self.dir / "report.xml"
        self.timeout = timeout
        self.data = None
        self.cmd = cli_command()
        self.env = {k: v for k, v in os.environ.items() if k not in ("TCPFLOW_EXPLAIN_DEBUG", "PYTHONIOENCODING")}
        self.env["PYTHONIOENCODING"] = "utf-8"

    def load(self, data: bytes) -> None:
        self.data = data
        self.capture.write_bytes(data)

    def argv(self, mode: Mode) -> list:
        args = [str(self.junit) if a == JUNIT else a for a in mode.args]
        return args + ["-" if mode.how in ("stdin", "stdin-ref") else str(self.capture)]

    def run(self, mode: Mode) -> Outcome:
        argv = self.argv(mode)
        o = Outcome(mode.key, mode.name, argv, mode.how, policy=mode.policy)
        try:
            self.junit.unlink()
        except FileNotFoundError:
            pass
        if mode.how in ("stdin", "fresh"):
            self._subprocess(o, self.data if mode.how == "stdin" else None)
        else:
            self._inproc(o, self.data if mode.how == "stdin-ref" else b"")
        if JUNIT in mode.args and self.junit.exists():
            o.junit = self.junit.read_bytes()
        return o

    def _inproc(self, o: Outcome, stdin: bytes) -> None:
        saved = sys.stdout, sys.stderr, sys.stdin, sys.argv
        ob, eb = _Buf(), _Buf()
        out = io.TextIOWrapper(ob, encoding="utf-8", newline="\n")
        err = io.TextIOWrapper(eb, encoding="utf-8", errors="backslashreplace", newline="\n")
        sys.stdout, sys.stderr = out, err
        sys.stdin = io.TextIOWrapper(_Buf(stdin), encoding="utf-8")
        sys.argv = [PROG] + o.argv
        old = signal.signal(signal.SIGALRM, _alarm)
        _reset_peak()
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            self.cli.run()
            o.code = 0
        except SystemExit as exc:
            c = exc.code
            if c is None:
                o.code = 0
            elif isinstance(c, int):
                o.code = c
            else:
                err.write(f"{c}\n")
                o.code = 1
        except Hang:
            o.timeout = True
        except BaseException as exc:   # noqa: BLE001 - what a real process would die of
            import traceback
            err.write("".join(traceback.format_exception(exc)))
            o.code = 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            o.secs = time.perf_counter() - t0
            signal.signal(signal.SIGALRM, old)
            for s in (out, err):
                try:
                    s.flush()
                except Exception:  # noqa: BLE001
                    pass
            sys.stdout, sys.stderr, sys.stdin, sys.argv = saved
            gc.enable()          # cli.main disables the cyclic collector for the run
            o.peak_kb = _peak_kb()
        o.out = ob.getvalue()
        o.err = eb.getvalue().decode("utf-8", "replace")

    def _subprocess(self, o: Outcome, stdin: bytes | None) -> None:
        t0 = time.perf_counter()
        p = subprocess.Popen(self.cmd + o.argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, cwd=str(self.dir))
        got = {}

        def read(name, f):
            got[name] = f.read()
            f.close()

        def write():
            try:
                p.stdin.write(stdin)
            except OSError:
                pass
            try:
                p.stdin.close()
            except OSError:
                pass

        threads = [threading.Thread(target=read, args=("out", p.stdout)),
                   threading.Thread(target=read, args=("err", p.stderr))]
        if stdin is not None:
            threads.append(threading.Thread(target=write))
        for t in threads:
            t.start()
        killed = threading.Event()

        def kill():
            killed.set()
            try:
                p.kill()
            except OSError:
                pass

        timer = threading.Timer(self.timeout, kill)
        timer.start()
        _pid, status, ru = os.wait4(p.pid, 0)
        timer.cancel()
        timer.join()
        p.returncode = os.waitstatus_to_exitcode(status)
        for t in threads:
            t.join()
        o.secs = time.perf_counter() - t0
        o.code = p.returncode
        o.timeout = killed.is_set()
        o.out = got.get("out", b"")
        o.err = got.get("err", b"").decode("utf-8", "replace")
        o.peak_kb = ru.ru_maxrss


# ------------------------------------------------------------------------------------ oracle


@dataclass
class Finding:
    sig: str
    detail: str
    keys: tuple                 # the plan keys needed to reproduce it
    modes: dict = field(default_factory=dict)   # key -> Mode
    outcomes: list = field(default_factory=list)


def _norm(msg: str) -> str:
    msg = msg.strip().splitlines()[0] if msg.strip() else "(empty)"
    msg = re.split(r" \(|: '|: \"|\): |: b'", msg)[0]
    return re.sub(r"\d+", "N", msg)[:100]


def _crash_sig(o: Outcome) -> str | None:
    """The signature of a crash, a hang or a wrong exit code; None when the run ended normally."""
    if o.timeout:
        return f"hang: over {TIMEOUT:.0f} s"
    if "Traceback (most recent call last)" in o.err:
        where = re.findall(r'File "([^"]+)", line (\d+)', o.err)
        last = [ln for ln in o.err.strip().splitlines() if ln and not ln.startswith(" ")]
        exc = last[-1].split(":")[0] if last else "?"
        loc = f"{os.path.basename(where[-1][0])}:{where[-1][1]}" if where else "?"
        return f"traceback: {exc} at {loc}"
    if o.code == 5:
        m = INTERNAL_RE.search(o.err)
        if m:
            etype, msg, loc = m.group(1), m.group(2), m.group(3) or "?"
            if etype == "WorkerError":      # name the worker's own exception too, not only the parent's raise
                inner = re.match(r"([A-Za-z_][\w.]*): ", msg)
                etype += f"({inner.group(1)})" if inner else "(worker ended early)" if "ended early" in msg else ""
            return f"exit 5: {etype} at {loc}"
        return "exit 5: " + _norm(o.err)
    allowed = {0, 3, 4} | ({1} if o.policy else set())
    if o.code not in allowed:
        return f"exit {o.code}: " + _norm(o.err.replace("tcpflow-explain: ", ""))
    return None


def judge(o: Outcome) -> list:
    """[(signature, detail)] of what is wrong with one run on its own."""
    sig = _crash_sig(o)
    if sig:
        return [(sig, o.err.strip()[-2000:])]
    found = []
    lines = o.err.splitlines()
    errors = [ln for ln in lines if not (ln.startswith(WARN) or ln.startswith(POLICY_LINE))]
    if len(errors) > 1:
        found.append(("stderr: more than one error line", "\n".join(errors[:5])))
    if any(not ln.startswith("tcpflow-explain: ") for ln in lines):
        found.append(("stderr: a line without the tcpflow-explain: prefix", o.err[:500]))
    if o.code == 3 and not errors:
        found.append(("stderr: exit 3 without an error message", o.err[:500]))
    if o.code == 4 and not any(ln.startswith(WARN) for ln in lines):
        found.append(("stderr: exit 4 without a warning", o.err[:500]))
    if o.policy:
        said = any(ln.startswith(POLICY_LINE) for ln in lines)
        if o.code == 1 and not said:
            found.append(("policy: exit 1 without a violation line", o.err[:500]))
        if said and o.code != 1:
            found.append((f"policy: violations printed but exit {o.code}", o.err[:500]))
    fmt = mode_of(o.argv)
    if not (o.code == 3 and not o.out):
        try:
            assert_well_formed(fmt, o.out, complete=o.code != 3)
        except AssertionError as exc:
            found.append(("malformed " + _norm(str(exc)), f"{exc}"[:1500]))
    if "--junit" in o.argv:
        if o.junit is not None:
            try:
                assert_well_formed("junit", o.junit)
            except AssertionError as exc:
                found.append(("malformed junit: " + _norm(str(exc)), str(exc)[:1500]))
        elif o.code in (0, 1, 4):
            found.append(("junit: report not written", o.err[:500]))
    return found


def _healthy(o: Outcome | None) -> bool:
    return o is not None and _crash_sig(o) is None


def compare(o: Outcome, ref: Outcome) -> list:
    """A run that must give what another gives: --jobs 2, a pipe, a fresh process."""
    if not (_healthy(o) and _healthy(ref)):
        return []
    what = {"stdin": "stdin pipe", "fresh": "fresh process"}.get(o.how, o.key)
    found = []
    if o.code != ref.code:
        found.append((f"differ: {what} vs {ref.key}: exit code", f"{o.code} vs {ref.code}"))
    if o.out != ref.out:
        a, b = o.out, ref.out
        n = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
        found.append((f"differ: {what} vs {ref.key}: stdout",
                       f"{len(a)} vs {len(b)} bytes, first difference at byte {n}: {a[max(0, n - 60):n + 60]!r} vs "
                       f"{b[max(0, n - 60):n + 60]!r}"))
    ja, jb = _junit_norm(o.junit), _junit_norm(ref.junit)
    if ja != jb:
        found.append((f"differ: {what} vs {ref.key}: junit report", f"{ja!r:.600} vs {jb!r:.600}"))
    return found


def _junit_norm(x: bytes | None):
    """A JUnit report without what differs from run to run (the wall-clock timestamp, the host)."""
    if x is None:
        return None
    return re.sub(rb'\b(timestamp|hostname)="[^"]*"', rb'\1=""', x)


def _json_doc(o):
    try:
        return json.loads(o.out)
    except ValueError:
        return None


def _jsonl_doc(o):
    try:
        recs = [json.loads(ln) for ln in o.out.splitlines()]
    except ValueError:
        return None
    flows, packets, other = [], {}, {}
    for r in recs:
        if not isinstance(r, dict):
            return None
        t = r.pop("type", None)
        if t == "flow":
            flows.append(r)
        elif t == "packet":
            packets.setdefault(r.pop("flow", None), []).append(r)
        else:
            other[t] = r
    return flows, packets, other


def _json_invariants(doc: dict) -> list:
    """What the JSON document says of itself: counts that must add up."""
    found = []
    flows, tot, cap = doc.get("flows", []), doc.get("totals", {}), doc.get("capture", {})
    if not (tot.get("flows") == len(flows) == cap.get("flows")):
        found.append(("json: flow counts disagree", f"totals {tot.get('flows')}, flows {len(flows)}, "
                                                    f"capture {cap.get('flows')}"))
    n = sum(len(f.get("packets", [])) for f in flows)
    if tot.get("packets") != n:
        found.append(("json: totals.packets is not the packets listed", f"{tot.get('packets')} vs {n}"))
    for f in flows:
        pk = f.get("packets", [])
        if f.get("orig_pkts", 0) + f.get("resp_pkts", 0) != len(pk):
            found.append(("json: a flow's packet counts are not its packets", f"flow {f.get('id')}"))
            break
        frames = [p.get("frame") for p in pk]
        if pk and (frames != sorted(frames) or f.get("first_frame") != frames[0] or f.get("last_frame") != frames[-1]):
            found.append(("json: a flow's frames are out of order or not its first/last", f"flow {f.get('id')}"))
            break
    return found


def cross_check(outs: dict) -> list:
    """[(signature, detail, keys)]: what the modes of one input must agree on."""
    found = []
    codes = {}
    for k, o in outs.items():
        if o.how == "fresh" or o.policy or not _healthy(o) or o.code not in (0, 3, 4):
            continue
        codes.setdefault(o.code, k)
    if len(codes) > 1:
        (c1, k1), (c2, k2) = sorted(codes.items())[:2]
        found.append(("differ: exit code across modes", f"{k1}: {c1}, {k2}: {c2}", (k1, k2)))
    j, jl, sj = outs.get("json"), outs.get("jsonl"), outs.get("summary-json")
    ok = [o for o in (j, jl, sj) if o is not None and _healthy(o) and o.code in (0, 4)]
    if len(ok) < 2 or j not in ok:
        return found
    jd = _json_doc(j)
    if jd is None or not isinstance(jd, dict):
        return found
    found += [(s, d, ("json",)) for s, d in _json_invariants(jd)]
    t = outs.get("all")
    if t is not None and _healthy(t) and t.code in (0, 4):
        n = len(re.findall(rb"^Connection \d+:", t.out, re.M))
        if n != len(jd.get("flows", [])):
            found.append(("differ: text --all vs json: connections", f"{n} vs {len(jd['flows'])}", ("all", "json")))
    if jl in ok:
        ld = _jsonl_doc(jl)
        if ld is not None:
            flows, packets, other = ld
            jf = [{k: v for k, v in f.items() if k != "packets"} for f in jd.get("flows", [])]
            if jf != flows:
                found.append(("differ: json vs jsonl: flows", f"{len(jf)} vs {len(flows)} flows", ("json", "jsonl")))
            elif [f.get("packets") for f in jd.get("flows", [])] != [packets.get(f.get("id"), []) for f in jf]:
                found.append(("differ: json vs jsonl: packets", "", ("json", "jsonl")))
            for part in ("capture", "totals"):
                if jd.get(part) != other.get(part):
                    found.append((f"differ: json vs jsonl: {part}", f"{jd.get(part)} vs {other.get(part)}"[:800],
                                  ("json", "jsonl")))
    if sj in ok:
        sd = _json_doc(sj)
        if isinstance(sd, dict):
            strip = lambda f: {k: v for k, v in f.items() if k not in ("packets", "anomalies")}  # noqa: E731
            if [strip(f) for f in jd.get("flows", [])] != [strip(f) for f in sd.get("flows", [])]:
                found.append(("differ: json vs summary json: flows", "", ("json", "summary-json")))
            for part in ("capture", "totals"):
                if jd.get(part) != sd.get(part):
                    found.append((f"differ: json vs summary json: {part}", f"{jd.get(part)} vs {sd.get(part)}"[:800],
                                  ("json", "summary-json")))
    return found


def evaluate(runner: Runner, data: bytes, plan: list, stop_at: str | None = None):
    """Run the plan over `data`: (outcomes by key, [Finding]). With `stop_at`, only whether that
    signature came back matters (minimization)."""
    runner.load(data)
    outs = {}
    by_key = {m.key: m for m in plan}
    findings = []
    order = sorted(plan, key=lambda m: m.ref is not None)       # references first
    for m in order:
        o = outs[m.key] = runner.run(m)
        for sig, detail in judge(o):
            findings.append(Finding(sig, detail, (m.key,), {m.key: m}, [o]))
        if m.ref and m.ref in outs:
            for sig, detail in compare(o, outs[m.ref]):
                findings.append(Finding(sig, detail, (m.key, m.ref), {m.key: m, m.ref: by_key[m.ref]},
                                        [o, outs[m.ref]]))
        if stop_at and any(f.sig == stop_at for f in findings):
            return outs, findings
    for sig, detail, keys in cross_check(outs):
        findings.append(Finding(sig, detail, keys, {k: by_key[k] for k in keys}, [outs[k] for k in keys]))
    return outs, findings


def confirm(runner: Runner, f: Finding) -> Finding | None:
    """A hang or a memory peak seen in-process is a finding only when a fresh process shows it too."""
    if not (f.sig.startswith("hang") or f.sig.startswith("memory")):
        return f
    m = f.modes[f.keys[0]]
    if m.how in ("stdin", "fresh"):
        return f
    o = runner.run(Mode(m.name, m.args, "fresh", key=m.key))
    if f.sig.startswith("hang") and o.timeout:
        return f
    if f.sig.startswith("memory") and o.peak_kb > MEMORY_LIMIT_KB:
        f.detail = f"peak {o.peak_kb // 1024} MB in a fresh process"
        return f
    return None


# ------------------------------------------------------------------------------------ minimizing


def _ddmin(items: list, test, budget) -> list:
    """Remove chunks of `items` while `test` holds (complements only, coarse to fine)."""
    n = 2
    while len(items) >= 2 and budget():
        chunk = -(-len(items) // n)
        reduced = False
        for start in range(0, len(items), chunk):
            if not budget():
                break
            cand = items[:start] + items[start + chunk:]
            if test(cand):
                items = cand
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk <= 1:
                break
            n = min(len(items), n * 2)
    return items


def minimize(data: bytes, test, max_tests: int = 2000, max_secs: float = 90.0) -> bytes:
    """The smallest input found for which `test(bytes)` still holds: records or blocks first
    (the file header kept), then a cut from the end, then bytes."""
    t_end = time.monotonic() + max_secs
    count = [0]
    cache = {}

    def budget():
        return count[0] < max_tests and time.monotonic() < t_end

    def t(b: bytes) -> bool:
        if b in cache:
            return cache[b]
        count[0] += 1
        cache[b] = r = bool(test(b))
        return r

    inner = mutators.gunzip_tolerant(data)
    if inner is not None and inner and t(inner):
        data = inner
    units = mutators.split_units(data)
    if units is not None:
        head, body, tail = units
        if tail and t(head + b"".join(body)):
            tail = b""
        body = _ddmin(body, lambda c: t(head + b"".join(c) + tail), budget)
        data = head + b"".join(body) + tail
    lo, hi = 0, len(data)              # the shortest prefix that still shows it
    while lo < hi and budget():
        mid = (lo + hi) // 2
        if t(data[:mid]):
            hi = mid
        else:
            lo = mid + 1
    if hi < len(data) and t(data[:hi]):
        data = data[:hi]
    chunks = [data[i:i + 16] for i in range(0, len(data), 16)]
    chunks = _ddmin(chunks, lambda c: t(b"".join(c)), budget)
    data = b"".join(chunks)
    if len(data) <= 512:
        data = bytes(_ddmin(list(data), lambda c: t(bytes(c)), budget))
    return data


def command_line(m: Mode, name: str) -> str:
    args = ["report.xml" if a == JUNIT else a for a in m.args]
    if m.how in ("stdin", "stdin-ref"):
        return shlex.join([PROG] + args + ["-"]) + " < " + shlex.quote(name)
    return shlex.join([PROG] + args + [name])


def save(out: Path, f: Finding, data: bytes, original: bytes, index: int, seed: int, ops: list,
         outcomes: list) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", f.sig).strip("-")[:70]
    h = hashlib.sha1(f.sig.encode()).hexdigest()[:8]
    d = out / f"{slug}-{h}"
    d.mkdir(parents=True, exist_ok=True)
    name = "repro" + mutators.sniff_ext(data)
    (d / name).write_bytes(data)
    rec = {
        "signature": f.sig,
        "detail": f.detail,
        "input": name,
        "commands": [command_line(f.modes[k], name) for k in f.keys],
        "outcomes": [{"mode": o.key, "how": o.how, "exit": o.code, "timeout": o.timeout,
                      "stderr": o.err[-3000:], "stdout_head": o.out[:1500].decode("utf-8", "replace"),
                      "seconds": round(o.secs, 3), "peak_mb": round(o.peak_kb / 1024, 1)} for o in outcomes],
        "minimized_bytes": len(data),
        "original_bytes": len(original),
        "campaign": {"seed": seed, "input": index, "mutations": ops},
    }
    (d / "finding.json").write_text(json.dumps(rec, indent=2, ensure_ascii=False) + "\n")
    return d / name


# ------------------------------------------------------------------------------------ the campaign


@dataclass
class Config:
    seed: int = 0
    inputs: int | None = None       # a count (deterministic) ...
    deadline: float | None = None   # ... or a wall-clock end
    jobs: int = 2
    out: str = ""
    families: tuple | None = None
    sub_every: int = 3
    minimize: bool = True
    min_tests: int = 1500
    min_secs: float = 60.0          # per finding
    min_total: float | None = None  # per worker: past this, findings are saved as found


@dataclass
class Stats:
    inputs: int = 0
    bytes: int = 0
    runs: Counter = field(default_factory=Counter)
    secs: Counter = field(default_factory=Counter)
    slowest: tuple = (0.0, "", -1, 0)    # seconds, mode key, input, size
    peak: tuple = (0, "", -1, "")         # kB, mode key, input, how (fresh/stdin measured alone)
    peak_inproc: tuple = (0, "", -1, "")
    findings: Counter = field(default_factory=Counter)
    exits: Counter = field(default_factory=Counter)  # exit code of the text run -> inputs
    modes_of: dict = field(default_factory=dict)     # signature -> Counter of mode keys
    first: dict = field(default_factory=dict)         # signature -> (input, commands)
    saved: dict = field(default_factory=dict)         # signature -> path
    minimize_secs: float = 0.0

    def merge(self, o: "Stats") -> None:
        self.inputs += o.inputs
        self.bytes += o.bytes
        self.runs.update(o.runs)
        self.secs.update(o.secs)
        self.slowest = max(self.slowest, o.slowest)
        self.peak = max(self.peak, o.peak)
        self.peak_inproc = max(self.peak_inproc, o.peak_inproc)
        self.findings.update(o.findings)
        self.exits.update(o.exits)
        for s, c in o.modes_of.items():
            self.modes_of.setdefault(s, Counter()).update(c)
        for s, v in o.first.items():
            if s not in self.first or v[0] < self.first[s][0]:
                self.first[s] = v
        self.saved.update(o.saved)
        self.minimize_secs += o.minimize_secs


def _claim(out: Path, sig: str) -> bool:
    d = out / ".claims"
    d.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(d / hashlib.sha1(sig.encode()).hexdigest()[:16], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def fuzz_one(runner: Runner, cfg: Config, index: int, seeds: list, st: Stats, claimed: set) -> None:
    data, ops = mutators.input_for(cfg.seed, index, seeds)
    plan = plan_for(index, cfg.families, cfg.sub_every)
    outs, findings = evaluate(runner, data, plan)
    st.inputs += 1
    st.bytes += len(data)
    first = outs.get("text") or next(iter(outs.values()))
    st.exits["timeout" if first.timeout else first.code] += 1
    for o in outs.values():
        st.runs[o.key] += 1
        st.secs[o.key] += o.secs
        st.slowest = max(st.slowest, (o.secs, o.key, index, len(data)))
        if o.how in ("stdin", "fresh"):
            st.peak = max(st.peak, (o.peak_kb, o.key, index, o.how))
        else:
            st.peak_inproc = max(st.peak_inproc, (o.peak_kb, o.key, index, o.how))
        if len(data) <= mutators.MAX_INPUT and o.peak_kb > MEMORY_LIMIT_KB and not o.timeout:
            m = next(m for m in plan if m.key == o.key)
            findings.append(Finding(f"memory: peak over {MEMORY_LIMIT_KB // 1024} MB", f"{o.peak_kb // 1024} MB",
                                    (o.key,), {o.key: m}, [o]))
    seen = set()
    for f in findings:
        if f.sig in seen:
            st.modes_of.setdefault(f.sig, Counter()).update(f.keys[:1])
            continue
        f = confirm(runner, f) if f.sig.startswith(("hang", "memory")) else f
        if f is None:
            continue
        seen.add(f.sig)
        st.findings[f.sig] += 1
        st.modes_of.setdefault(f.sig, Counter()).update(f.keys[:1])
        cmds = [command_line(f.modes[k], "INPUT") for k in f.keys]
        if f.sig not in st.first or index < st.first[f.sig][0]:
            st.first[f.sig] = (index, cmds)
        if f.sig in claimed or not cfg.out:
            continue
        claimed.add(f.sig)
        if not _claim(Path(cfg.out), f.sig):
            continue
        t0 = time.monotonic()
        small = data
        if cfg.minimize and (cfg.min_total is None or st_total_min(st) < cfg.min_total):
            sub = [f.modes[k] for k in f.keys]
            for m in list(sub):         # the reference of a compared run comes along
                if m.ref and m.ref not in f.modes:
                    sub.append(next(x for x in plan if x.key == m.ref))
            slow = any(m.how in ("stdin", "fresh") or "--jobs" in m.args for m in sub)

            def still(b: bytes, sub=sub, sig=f.sig) -> bool:
                return any(g.sig == sig for g in evaluate(runner, b, sub, stop_at=sig)[1])

            small = minimize(data, still, max_tests=cfg.min_tests // (4 if slow else 1),
                             max_secs=cfg.min_secs)
            _o, again = evaluate(runner, small, sub, stop_at=f.sig)
            hit = next((g for g in again if g.sig == f.sig), None)
            if hit is None:
                small, hit = data, f
            f = hit
        st.saved[f.sig] = str(save(Path(cfg.out), f, small, data, index, cfg.seed, ops, f.outcomes))
        st.minimize_secs += time.monotonic() - t0
        _MIN_SPENT[0] += time.monotonic() - t0
        runner.load(data)


_MIN_SPENT = [0.0]     # this worker's minimizing time (Stats are sent and reset every few seconds)


def st_total_min(st: Stats) -> float:
    return _MIN_SPENT[0]


def _worker(k: int, cfg: Config, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tmp = Path(tempfile.mkdtemp(prefix=f"tcpflow-fuzz-w{k}-"))
    try:
        runner = Runner(tmp)
        seeds = mutators.load_seeds()
        claimed = set()
        st = Stats()
        last = time.monotonic()
        index = k
        while True:
            if cfg.inputs is not None and index >= cfg.inputs:
                break
            if cfg.deadline is not None and time.time() >= cfg.deadline:
                break
            if conn.poll() and conn.recv() == "stop":
                break
            fuzz_one(runner, cfg, index, seeds, st, claimed)
            index += cfg.jobs
            if time.monotonic() - last > 2.0:
                conn.send(("stats", k, st))
                st = Stats()
                last = time.monotonic()
        conn.send(("done", k, st))
    except BaseException as exc:  # noqa: BLE001 - a fuzzer bug: say so, do not hang the campaign
        import traceback
        conn.send(("crash", k, "".join(traceback.format_exception(exc))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        conn.close()


def campaign(seed: int = 0, inputs: int | None = None, minutes: float | None = None, jobs: int = 2,
             out: str | Path | None = None, families=None, sub_every: int = 3, minimize_findings: bool = True,
             progress: float | None = 30.0, log=print, min_secs: float = 60.0,
             min_total: float | None = None) -> Stats:
    """Run a campaign of `inputs` inputs (deterministic) or `minutes` of wall time; findings are
    minimized and saved under `out`. Returns the merged Stats."""
    if inputs is None and minutes is None:
        raise ValueError("give inputs or minutes")
    out = str(out) if out else ""
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
    cfg = Config(seed, inputs, time.time() + minutes * 60 if minutes is not None else None, max(1, jobs), out,
                 tuple(families) if families else None, sub_every, minimize_findings, min_secs=min_secs,
                 min_total=min_total)
    ctx = mp.get_context("fork")
    procs, conns = [], {}
    sys.stdout.flush()
    sys.stderr.flush()
    for k in range(cfg.jobs):
        a, b = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(k, cfg, b), name=f"fuzz worker {k}")   # not daemonic: it forks --jobs
        p.start()
        b.close()
        procs.append(p)
        conns[a] = k
    total = Stats()
    t0 = time.monotonic()
    last = t0
    crashes = []
    live = dict(conns)
    try:
        while live:
            for c in mp.connection.wait(list(live), timeout=1.0):
                try:
                    kind, k, payload = c.recv()
                except EOFError:
                    crashes.append(f"worker {live.pop(c)} ended without a report")
                    continue
                if kind == "crash":
                    crashes.append(payload)
                    live.pop(c)
                else:
                    total.merge(payload)
                    if kind == "done":
                        live.pop(c)
            now = time.monotonic()
            if progress and now - last >= progress:
                last = now
                log(progress_line(total, now - t0))
    except KeyboardInterrupt:
        for c in live:
            try:
                c.send("stop")
            except OSError:
                pass
        for c in list(live):
            try:
                while True:
                    kind, k, payload = c.recv()
                    if kind != "stats":
                        if kind == "done":
                            total.merge(payload)
                        break
                    total.merge(payload)
            except (EOFError, OSError):
                pass
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()
    total.wall = time.monotonic() - t0
    total.crashes = crashes
    if crashes:
        raise RuntimeError("fuzz worker failed:\n" + "\n".join(crashes))
    return total


def progress_line(st: Stats, secs: float) -> str:
    rate = st.inputs / secs * 60 if secs else 0
    return (f"[{int(secs) // 60:3d}:{int(secs) % 60:02d}] {st.inputs} inputs ({rate:,.0f}/min), "
            f"{sum(st.runs.values())} runs, {sum(st.findings.values())} findings in {len(st.findings)} signatures, "
            f"slowest {st.slowest[0]:.2f} s ({st.slowest[1]}), peak {st.peak[0] // 1024} MB")


def report(st: Stats) -> str:
    wall = getattr(st, "wall", 0.0) or 1e-9
    lines = [f"inputs run: {st.inputs} in {wall:.0f} s ({st.inputs / wall * 60:,.0f}/min), "
             f"{st.bytes / max(1, st.inputs) / 1024:.1f} kB on average; minimizing took {st.minimize_secs:.0f} s", "",
             "exit codes of the text run: " + ", ".join(f"{c}: {n}" for c, n in sorted(st.exits.items(), key=str)),
             "", f"{'mode':<14} {'runs':>8} {'mean ms':>9}"]
    for k in sorted(st.runs, key=lambda k: (list(FAMILIES).index(k) if k in FAMILIES else 99, k)):
        lines.append(f"{k:<14} {st.runs[k]:>8} {st.secs[k] / st.runs[k] * 1000:>9.1f}")
    s = st.slowest
    lines += ["", f"slowest run: {s[0]:.2f} s ({s[1]}, input {s[2]}, {s[3]} bytes)",
              f"largest peak memory: {st.peak[0] / 1024:.0f} MB in a fresh process ({st.peak[1]}, input {st.peak[2]}); "
              f"{st.peak_inproc[0] / 1024:.0f} MB in a fuzz worker, in-process ({st.peak_inproc[1]}, "
              f"input {st.peak_inproc[2]})", ""]
    if not st.findings:
        lines.append("findings: none")
        return "\n".join(lines)
    lines.append(f"{'inputs':>7}  signature  [modes]  -> reproducer")
    for sig, n in st.findings.most_common():
        modes = ",".join(k for k, _ in st.modes_of.get(sig, Counter()).most_common(4))
        lines.append(f"{n:>7}  {sig}  [{modes}]")
        lines.append(f"{'':>9}-> {st.saved.get(sig) or st.first.get(sig, (0, ['?']))[1][0]}")
    return "\n".join(lines)

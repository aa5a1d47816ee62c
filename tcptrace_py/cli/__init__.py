"""The command line: open the capture, pick a renderer, map outcomes to exit codes.

No analysis lives here. Exit codes (README, "Exit codes") are the `Exit` enum.
"""
from __future__ import annotations

import enum
import errno
import gc
import os
import sys

import click

from .. import __version__
from ..core import kind as core_kind
from ..core.pipeline import Analyzer
from ..policy import Policy, PolicyError, Selection
from ..core.records import CaptureError
from ..render.sink import prepare


class Exit(enum.IntEnum):
    OK = 0
    POLICY = 1          # a --fail-on / policy rule was violated
    USAGE = 2           # bad command line
    UNREADABLE = 3      # the capture cannot be read at all
    PARTIAL = 4         # the capture was read only in part (cut off or corrupt); what was read is reported
    INTERNAL = 5        # a bug in tcpflow-explain (reported in one line; TCPFLOW_EXPLAIN_DEBUG=1 shows more)
    INTERRUPTED = 130   # Ctrl-C: what was analysed so far is reported


FORMATS = ("auto", "rich", "text", "json", "jsonl", "mermaid", "svg")
MAX_OPEN = 20_000    # open connections (about 4 KB each): about 150 MB of memory at the bound


# control characters (a newline in a file name) written as \xNN, so a message stays one line
_ONE_LINE = {c: f"\\x{c:02x}" for c in [*range(32), 127]}


def _err(msg: str) -> None:
    """One line on stderr (written with the fallback `_streams` gave stderr: it never fails)."""
    err = sys.stderr
    if err is not None:
        err.write(f"tcpflow-explain: {msg.translate(_ONE_LINE)}\n")
        err.flush()


def _streams(fmt: str) -> bool:
    """Set up stdout for format `fmt`, and stderr: any character they cannot encode is written
    with a fallback (render.sink.prepare), never an error. Returns whether stdout can write the
    typographic characters of the output; when not, the text formats are written as with --ascii."""
    if sys.stdout is None:                      # started with stdout closed: nothing to show
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    prepare(sys.stderr)
    return prepare(sys.stdout, fmt)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("captures", metavar="CAPTURE...", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="auto: rich on a terminal, text when piped.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Timelines shown in full (text and rich output); 0 for no limit.")
@click.option("--all", "show_all", is_flag=True, help="Show every connection (same as --limit 0).")
@click.option("--max-packets", type=click.IntRange(min=0), default=60, show_default=True,
              help="Packets shown per timeline before the middle is folded; 0 shows all.")
@click.option("--summary", is_flag=True, help="One row per connection instead of timelines.")
@click.option("--flow", "flow_ids", type=click.IntRange(min=1), multiple=True,
              help="Only this connection id (repeatable).")
@click.option("--host", "hosts", multiple=True, metavar="ADDR[/NET]",
              help="Only connections with an endpoint in this address or network (repeatable, comma lists).")
@click.option("--port", "ports", multiple=True, metavar="PORT",
              help="Only connections with an endpoint on this port (repeatable, comma lists).")
@click.option("--conn-state", "conn_states", multiple=True, metavar="CODE",
              help="Only connections with this Zeek conn_state (S0, SF, REJ, RSTO, ...).")
@click.option("--anomaly", "anomaly_kinds", multiple=True, metavar="KIND",
              help="Only connections with this anomaly (e.g. rst, retransmission).")
@click.option("--with-anomalies", is_flag=True, help="Only connections with at least one anomaly.")
@click.option("--head", type=click.IntRange(min=1), default=None,
              help="Only the first N selected connections (every format).")
@click.option("--fail-on", "fail_on", multiple=True, metavar="KIND[,KIND…]|SEVERITY",
              help="Exit 1 when a selected connection has one of these anomalies, or one of at least this "
                   "severity (info, warning, error).")
@click.option("--max-retransmission-rate", metavar="RATE",
              help="Exit 1 when a connection retransmits more than RATE of its data segments (1% or 0.01).")
@click.option("--max-handshake-rtt", metavar="DURATION",
              help="Exit 1 when a handshake takes longer (200ms, 1.5s).")
@click.option("--require", "require", multiple=True, metavar="RULE[,RULE…]",
              help="Exit 1 unless every connection meets these: handshake, graceful-close, closed, no-anomalies.")
@click.option("--policy", "policy_file", type=click.Path(), metavar="FILE",
              help="Read the rules above from a TOML file (options given on the command line add to it).")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write a JUnit XML report: one test case per connection, failures with rule and frame.")
@click.option("--no-notes", is_flag=True, help="Timeline without the explanation lines.")
@click.option("--ladder", is_flag=True, help="Draw each connection as a ladder diagram (client and server columns).")
@click.option("--ascii", "ascii_only", is_flag=True, help="Ladder and text output in ASCII only.")
@click.option("--unfold", is_flag=True, help="Ladder: draw every data segment instead of folding long data phases.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="Language of the explanations.")
@click.option("--explain", is_flag=True,
              help="Teach: after each note, why (what each side has confirmed, why the numbers, why 2×MSL, what to check).")
@click.option("--grace", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds (capture time) a closed connection is kept for late packets before it is reported.")
@click.option("--idle-timeout", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="Seconds (capture time) without packets after which an open connection is reported.")
@click.option("--max-open", type=click.IntRange(min=0), default=MAX_OPEN, show_default=True,
              help="At most this many connections open at once (0: no bound); past it, those quiet longest "
                   "(a scan's unanswered SYNs first) are reported early, marked evicted.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes, each analysing a share of the connections (0: one per CPU). "
                   "The output is the same as with one. Formats json, jsonl, text and --summary; a pipe "
                   "(\"-\") is read by one process.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: this machine (with --jobs); dask: a Dask cluster, a local one unless --scheduler "
                   "(--jobs: its tasks, default one per worker thread). The output is the same.")
@click.option("--scheduler", metavar="ADDRESS",
              help="With --engine dask: the scheduler of a running Dask cluster (tcp://HOST:8786).")
@click.option("--each-file", is_flag=True,
              help="Analyse each file on its own (one capture per host: the same connection seen twice is "
                   "not merged). Without it, several files are one capture set, merged by time.")
@click.version_option(__version__, "-V", "--version", prog_name="tcpflow-explain",
                      message="%(prog)s %(version)s (" + core_kind() + " core)")
def main(captures, fmt, limit, show_all, max_packets, summary, flow_ids, hosts, ports, conn_states,
         anomaly_kinds, with_anomalies, head, fail_on, max_retransmission_rate, max_handshake_rtt, require,
         policy_file, junit_file, no_notes, ladder, ascii_only, unfold, lang, explain, grace, idle_timeout,
         max_open, jobs, engine, scheduler, each_file):
    """Explain every TCP connection in CAPTURE (pcap or pcapng, gzip or not; "-" reads standard input).

    Several files, or a directory (every capture file under it), are one capture set: merged by
    time, as one capture (a rotated capture), unless --each-file."""
    if fmt == "auto":
        fmt = "rich" if sys.stdout is not None and sys.stdout.isatty() else "text"
    typographic = _streams(fmt)
    out = sys.stdout
    if show_all or limit == 0:
        limit = None
    try:
        policy = Policy.from_toml(policy_file) if policy_file else Policy()
        policy = Policy.build(fail_on, max_retransmission_rate, max_handshake_rtt, require, base=policy)
        select = Selection.build(flow_ids, hosts, ports, conn_states, anomaly_kinds, with_anomalies, head)
    except PolicyError as exc:
        _err(str(exc))
        sys.exit(Exit.USAGE)
    if "-" in captures and len(captures) > 1:
        _err('"-" (standard input) cannot be read together with other files')
        sys.exit(Exit.USAGE)
    view = dict(limit=limit, max_packets=max_packets or None, notes=not no_notes,
                ascii=ascii_only or not typographic, unfold=unfold, lang=lang, explain=explain)
    if summary and fmt in ("rich", "text"):
        fmt = "summary-" + fmt
    elif ladder and fmt in ("rich", "text"):
        fmt = "ladder-" + fmt
    junit = None
    if junit_file:
        from ..render.junit import JunitReport
        # named after the capture (a directory: after it; several files: a capture set)
        junit = JunitReport(captures[0] if len(captures) == 1 else f"capture set of {len(captures)} files")
    # summary mode keeps no packets (faster, leaner) unless a rule's message needs them
    keep = not summary or fmt in ("mermaid", "svg") or policy.active or junit is not None
    az_args = dict(keep_packets=keep, grace=grace, idle=idle_timeout or None, max_open=max_open)
    live = captures == ("-",)
    cpus = os.cpu_count() or 1
    if scheduler and engine != "dask":
        _err("--scheduler is for --engine dask")
        sys.exit(Exit.USAGE)
    if engine == "dask":
        dask = _dask_settings(jobs, live, fmt)
        jobs = 1
    else:
        dask = None
    jobs = jobs or cpus
    if jobs > 1 and (live or fmt not in PARALLEL_FORMATS):
        jobs = 1
    if jobs > cpus:
        _err(f"warning: --jobs {jobs} is more than the {cpus} CPU{'s' if cpus != 1 else ''}; using {cpus}")
        jobs = cpus
    if jobs > 1:
        from ..engine import parallel
        if not parallel.available():
            jobs = 1
    run = Run(fmt, out, view, summary, az_args, live, jobs, select, policy, junit)
    if dask is not None:
        dask["scheduler"] = scheduler
    run.dask = dask
    if not each_file:
        code = run.one(captures)
    else:
        code = _each_file(run, captures, fmt, out, junit)
    if junit is not None:
        try:
            junit.write(junit_file)
        except OSError as exc:
            _err(f"{junit_file}: cannot write the JUnit report ({exc.strerror or exc})")
    sys.exit(code)


def _each_file(run, captures, fmt, out, junit) -> int:
    """--each-file: every file analysed on its own, one after the other, the outputs one after
    the other (JSON: an array of the documents); the exit code is the worst of them (policy
    over a partial read over an unreadable file; all unreadable: 3; Ctrl-C stops)."""
    from ..core.captureset import expand
    paths, notes = expand(captures)
    for w in notes:
        _err("warning: " + w.message)
    codes = [Exit.PARTIAL if w.kind == "unreadable_file" else Exit.OK for w in notes]
    run.each = True
    if fmt == "json":
        out.write("[\n")
        run.sep = ",\n"
    for path in paths:
        if junit is not None:
            junit.capture = path        # each file's connections are named after it
        code = run.one((path,))
        codes.append(code)
        if code == Exit.INTERRUPTED:
            break
    if fmt == "json":
        out.write("]\n")
    out.flush()
    if junit is not None:
        junit.capture = f"{len(paths)} files"
    if Exit.INTERRUPTED in codes:
        return Exit.INTERRUPTED
    if Exit.POLICY in codes:
        return Exit.POLICY
    if Exit.INTERNAL in codes:
        return Exit.INTERNAL
    if codes and all(c == Exit.UNREADABLE for c in codes):
        return Exit.UNREADABLE
    if Exit.PARTIAL in codes or Exit.UNREADABLE in codes:
        return Exit.PARTIAL
    return Exit.OK


def _dask_settings(jobs, live, fmt) -> dict | None:
    """--engine dask: its settings (tasks: --jobs when given, else one per worker thread), or
    None where one process must run instead (said in a warning); exit 2 without Dask or with
    standard input."""
    from ..engine.cluster import missing
    if live:
        _err("--engine dask reads capture files, not standard input")
        sys.exit(Exit.USAGE)
    msg = missing()
    if msg is not None:
        _err(msg)
        sys.exit(Exit.USAGE)
    if fmt not in PARALLEL_FORMATS:
        _err(f"warning: --engine dask writes json, jsonl, text and --summary; {fmt} is drawn by one process")
        return None
    given = click.get_current_context().get_parameter_source("jobs") != click.core.ParameterSource.DEFAULT
    return {"tasks": jobs if given else 0}


class Run:
    """One analysis with the command line's settings: `one(captures)` opens the capture (one
    file, or a capture set), renders it and returns its exit code."""

    def __init__(self, fmt, out, view, summary, az_args, live, jobs, select, policy, junit):
        self.fmt, self.out, self.view, self.summary = fmt, out, view, summary
        self.az_args, self.live, self.jobs = az_args, live, jobs
        self.select, self.policy, self.junit = select, policy, junit
        self.sep: str | None = None        # written between two outputs (--each-file JSON: ",")
        self.docs = 0                      # outputs begun
        self.each = False                  # --each-file
        self.dask: dict | None = None      # --engine dask: {"tasks", "scheduler"}

    def one(self, captures) -> int:
        from ..core.captureset import open_capture
        fmt, out, select, policy, junit, live = self.fmt, self.out, self.select, self.policy, self.junit, self.live
        az_args, jobs = self.az_args, self.jobs
        try:
            reader = open_capture(captures)
        except CaptureError as exc:
            _err(str(exc))
            return Exit.UNREADABLE
        select.matched = 0               # --head counts in each capture (--each-file)
        if self.sep is not None and self.docs:
            out.write(self.sep)
        renderer = _renderer(fmt, out, self.view, with_packets=not self.summary)
        self.docs += 1
        for w in reader.warnings:          # a capture set's files that cannot be read, known now
            _err("warning: " + w.message)
        said = len(reader.warnings)
        # --each-file: a file's warnings and policy lines name it (a set's name their files already)
        name = f"{reader.path}: " if self.each else ""
        engine = None
        if self.dask is not None:
            import functools
            engine = dict(self.dask, make_renderer=functools.partial(     # make_renderer(out)
                _renderer, fmt, view=self.view, with_packets=not self.summary))
        return _analyse_and_render(reader, captures, renderer, az_args, live, jobs, out, select, policy,
                                   junit, said, name, engine)


def _analyse_and_render(reader, captures, renderer, az_args, live, jobs, out, select, policy, junit,
                        said, name="", dask=None) -> int:
    bar = _progress(reader) if sys.stderr.isatty() and not live else None
    # The analysis makes millions of small objects and no reference cycles to speak of: the
    # cyclic garbage collector would only rescan them (a quarter of the time on big captures).
    gc.disable()
    try:
        if jobs > 1 or dask is not None:
            from ..engine import parallel
            try:
                if dask is None:
                    stats, violations = parallel.run(tuple(captures), jobs, az_args, renderer, select, policy,
                                                     junit, progress=bar.update if bar else None)
                else:
                    from ..engine import cluster
                    paths, names = reader.sources()
                    stats, violations = cluster.run(
                        [os.path.abspath(p) for p in paths], names, dask["tasks"], az_args, renderer,
                        dask["make_renderer"], select, policy, junit, progress=bar.update if bar else None,
                        scheduler=dask["scheduler"])
                code = Exit.INTERRUPTED if stats.interrupted else Exit.OK
            except parallel.WorkerError as exc:
                # one process takes over from the parent's reader (not read yet), skipping the
                # connections already written: the same output and exit code as one process
                _err(f"warning: {'--jobs' if dask is None else '--engine dask'}: {exc}; "
                     "the analysis was finished in one process")
                stats, violations, code = _analyse(reader, az_args, live, out, renderer, select, policy,
                                                   junit, bar, skip=exc.written)
                violations[:0] = exc.violations
        else:
            stats, violations, code = _analyse(reader, az_args, live, out, renderer, select, policy, junit, bar)
        if bar is not None:
            bar.stop()
            bar = None
        if hasattr(renderer, "policy"):
            renderer.policy(violations if policy.active else None)
        renderer.close(stats)
        out.flush()
    except CaptureError as exc:
        _err(str(exc))
        return Exit.UNREADABLE
    except BrokenPipeError:
        _quiet_broken_pipe()
        sys.exit(Exit.OK)
    finally:
        if bar is not None:
            bar.stop()
    for i, w in enumerate(stats.warnings):
        if i >= said:                   # those of a capture set's first pass are said already
            _err("warning: " + name + w.message)
        if code == Exit.OK and w.kind in PARTIAL_KINDS:
            code = Exit.PARTIAL
    if policy.active:
        for v in violations:
            _err("policy: " + name + v.line())
        if violations:
            n = len({v.flow for v in violations})
            _err(f"policy: {name}{len(violations)} violation{'s' if len(violations) != 1 else ''} "
                 f"in {n} connection{'s' if n != 1 else ''}")
            if code in (Exit.OK, Exit.PARTIAL):
                code = Exit.POLICY
    return code


# warnings that mean the capture was read only in part (exit code 4)
PARTIAL_KINDS = ("truncated", "bad_record", "bad_block", "corrupt", "read_error", "unreadable_file")


def _analyse(reader, az_args, live, out, renderer, select, policy, junit, bar, skip=0):
    """One process: the analysis, each finished connection selected, rendered and checked
    (after the first `skip` selected ones, which --jobs workers had written already)."""
    az = Analyzer(ordered=not live, **az_args)
    violations = []
    code = Exit.OK
    if skip:
        select.matched = 0
    passed = [0]

    def emit(flow):
        if not select(flow):
            return
        if passed[0] < skip:
            passed[0] += 1
            return
        renderer.flow(flow)
        found = policy.check(flow) if policy.active else []
        violations.extend(found)
        if junit is not None:
            junit.flow(flow, found)

    try:
        for flow in az.run(reader, progress=bar.update if bar else None):
            emit(flow)
            if live:
                out.flush()   # a pipe from a running capture: show each connection as it ends
    except KeyboardInterrupt:
        az.stats.interrupted = True
        for flow in az.flush():
            emit(flow)
        code = Exit.INTERRUPTED
    return az.stats, violations, code


# renderers that can take their connections from --jobs workers (fragment/put)
PARALLEL_FORMATS = ("json", "jsonl", "text", "summary-text")


def _renderer(fmt, out, view, with_packets=True):
    """The renderer for a format. Each has .flow(flow) and .close(stats), and writes to `out`."""
    if fmt == "json":
        from ..render.jsonout import JsonWriter
        return JsonWriter(out, with_packets=with_packets)
    if fmt == "jsonl":
        from ..render.jsonout import JsonlWriter
        return JsonlWriter(out, with_packets=with_packets)
    if fmt in ("summary-rich", "summary-text"):
        from ..render.summary import SummaryRenderer
        return SummaryRenderer(out, rich=fmt == "summary-rich", ascii=view["ascii"])
    if fmt in ("ladder-rich", "ladder-text"):
        from ..render.ladder import LadderRenderer
        return LadderRenderer(out, rich=fmt == "ladder-rich", **view)
    if fmt == "mermaid":
        from ..render.mermaid import MermaidRenderer
        return MermaidRenderer(out, **view)
    if fmt == "svg":
        from ..render.svg import SvgRenderer
        return SvgRenderer(out, **view)
    if fmt == "rich":
        from ..render.term import RichRenderer
        return RichRenderer(**view)
    from ..render.text import TextRenderer
    return TextRenderer(out, **view)


class _Progress:
    """A rich progress bar on stderr: bytes read of the file's size, packets/s, connections seen."""

    def __init__(self, reader):
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        self.p = Progress(TextColumn("[bold]reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                          TextColumn("{task.fields[pps]} packets/s, {task.fields[flows]} connections"),
                          TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.task = self.p.add_task("read", total=reader.size, pps="-", flows=0)
        self.started = False
        self.t0 = None

    def update(self, frames, offset, flows):
        import time
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
            self.p.start()
            self.started = True
            return
        pps = f"{frames / (now - self.t0):,.0f}" if now > self.t0 else "-"
        self.p.update(self.task, completed=offset, pps=pps, flows=flows)

    def stop(self):
        if self.started:
            self.p.stop()
            self.started = False


def _progress(reader):
    return _Progress(reader)


def _quiet_broken_pipe() -> None:
    """The reader went away (`| head`): stop quietly, without a traceback at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def run() -> None:
    """Console-script entry point: never a traceback, unless TCPFLOW_EXPLAIN_DEBUG is set."""
    try:
        main(standalone_mode=True)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _quiet_broken_pipe()
            sys.exit(Exit.OK)
        _internal(exc)
    except Exception as exc:  # a bug of ours: one line, a distinct exit code
        _internal(exc)


def _internal(exc: BaseException) -> None:
    if os.environ.get("TCPFLOW_EXPLAIN_DEBUG"):
        raise exc
    where = exc.__traceback__
    while where is not None and where.tb_next is not None:
        where = where.tb_next
    loc = f" at {os.path.basename(where.tb_frame.f_code.co_filename)}:{where.tb_lineno}" if where else ""
    _err(f"internal error: {type(exc).__name__}: {exc}{loc} (please report it; set "
         f"TCPFLOW_EXPLAIN_DEBUG=1 for the details)")
    sys.exit(Exit.INTERNAL)

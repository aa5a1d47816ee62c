"""parallel: ``--jobs N`` — the same analysis and the same output bytes, from N processes.

Theory of operation
-------------------
Every worker reads the whole capture but tracks only the connections of its
flow-hash partitions (`flows.partition`, ``Analyzer(shard=(k, n))``: a partition
is dealt to the worker with the least work so far when its first segment comes,
the same choice in every worker, see `decode.Decoder`); any other
TCP segment only moves the capture clock, so every worker expires flows at the
moments one process would. What a connection's analysis depends on — its own
packets, the history of its 4-tuple (same partition, so same worker) and the
clock — is all in its worker, so each flow comes out exactly as it would from
one process, but for two things only the whole capture knows:

* its **id**: its rank among all flows by first frame (a worker calls it by its
  first frame number meanwhile), and
* its **place in the output**: flows are written in id order, except that when
  more than ``reorder_limit`` finished flows wait behind one still open, the
  lowest is written anyway (`Analyzer._out`).

The parent gets both from the workers' event streams. Each worker reports, in
frame order, the flows it created and the flows that finished at each expiry
tick or 4-tuple reuse, and how far it has read. `Merge` takes the events in
frame order across workers (an event is taken only once every worker is known
to be past it), numbers the flows, tells each worker its flows' ids, and
replays `Analyzer._out` on the merged events, which yields the output order. A
worker renders a finished flow as soon as it knows its id (`renumber`, then the
renderer's `fragment`); the parent writes the fragments in that order through
the renderer's `put`, applying ``--head`` and ``--limit`` (which count across
all flows) as one process would. Policy violations and JUnit cases are made in
the workers and collected in order.

Each worker sends its events and pieces on a pipe of its own, from its own thread,
the pieces already encoded as the parent's output encodes text; the parent sends
ids (and "stop" on Ctrl-C, "limit" once --limit is reached) through a queue per
worker, whose feeder thread means the parent never blocks on a worker. A worker
that has run ahead keeps at most MAX_WAITING_FLOWS finished flows (or
MAX_WAITING_PACKETS of their packets) waiting for ids, then waits for the others.
Whenever the parent hears nothing for half a second it sends each worker again
the ids of its flows not yet written, so a lost message cannot leave one waiting.

Workers are forked: the renderer, selection and policy objects come along as
they are. Where fork is not available (the CLI checks `available`), or the input
is a pipe, or the output is one only a single process can draw (rich, ladder,
Mermaid, SVG), one process runs.
"""
from __future__ import annotations

import heapq
import multiprocessing as mp
import os
import queue
import signal
import sys
import traceback
from array import array
from bisect import bisect_left
from collections import deque
from multiprocessing.connection import wait

from ..core.captureset import open_capture
from ..core.pipeline import CREATED, FINAL, Analyzer, Stats
from ..core.records import CaptureError
from ..core.scans import ScanWatch
from ..render.sink import ByteSink
from ..render.spool import discard, spool

SYNC_FRAMES = 4096     # a worker reports its events (and reads its ids) every this many frames
# A worker that has run ahead of the others keeps its finished flows until their ids come; past
# these many flows, or packets kept in them, it waits for the others (bounded memory)
MAX_WAITING_FLOWS = 8192
MAX_WAITING_PACKETS = 100_000
# a connection with more packets than this is rendered to a file, not to memory (render.spool)
SPOOL_PACKETS = 20_000


def available() -> bool:
    return "fork" in mp.get_all_start_methods()


class WorkerError(Exception):
    """A worker failed: a bug of ours (the message names the worker, the frame it had read to
    and its exception). `written` is how many selected connections the parent had written by
    then (and `violations` their policy findings): the one-process analysis that takes over
    (cli) skips that many, so the output is the one a single process gives."""

    def __init__(self, message: str, written: int = 0, violations: list | None = None):
        super().__init__(message)
        self.written = written
        self.violations = violations or []


# --- the worker's side -------------------------------------------------------------------------

class _Ids:
    """A worker's first frame -> final id, for its own flows, in two growing arrays kept sorted
    (16 bytes a flow; the parent numbers a worker's flows in frame order, so appending keeps
    them sorted, and an id sent again is recognised)."""

    def __init__(self) -> None:
        self.prov = array("q")
        self.final = array("q")

    def add(self, pairs) -> None:
        for p, f in pairs:
            if not self.prov or p > self.prov[-1]:
                self.prov.append(p)
                self.final.append(f)
            elif self.get(p) is None:
                i = bisect_left(self.prov, p)
                self.prov.insert(i, p)
                self.final.insert(i, f)

    def get(self, prov: int) -> int | None:
        i = bisect_left(self.prov, prov)
        if i < len(self.prov) and self.prov[i] == prov:
            return self.final[i]
        return None


def renumber(flow, final) -> None:
    """Give a flow, and every id it mentions, the ids of the whole capture (`final(first_frame)`)."""
    fid = final(flow.id)
    flow.id = fid
    if isinstance(flow.reused_from, int):
        flow.reused_from = final(flow.reused_from)

    def packet(p) -> None:
        p.flow = fid
        an = p.anomalies
        if an:
            if "reused_ports" in an:
                an["reused_ports"] = final(an["reused_ports"])
            tw = an.get("time_wait_reuse")
            if tw is not None:
                an["time_wait_reuse"] = (final(tw[0]), tw[1])
    flow.packets.update(packet)


class Job:
    """What a worker does with each finished flow (made in the parent, inherited on fork).

    With `encoding` set, a fragment's text is sent already encoded as the parent's output
    would encode it, so the parent writes the bytes as they come."""

    def __init__(self, renderer, select, policy, junit, encoding=None, errors="strict", spool: bool = True):
        self.renderer = renderer
        self.select = select
        self.policy = policy
        self.junit = junit
        self.encoding = encoding
        self.errors = errors
        self.spool = spool        # a long connection's piece may go to a file (the parent's machine)

    def render(self, flow, past_limit: bool) -> tuple:
        """(matched, fragment, violations, JUnit case) of a renumbered flow."""
        if not self.select.match(flow):
            return False, None, None, None
        if past_limit:
            frag = None
        elif self.spool and len(flow.packets) > SPOOL_PACKETS and hasattr(self.renderer, "write_flow"):
            frag = self._spooled(flow)          # already encoded, in its file
        elif self.encoding is not None and hasattr(self.renderer, "encoded"):
            frag = self.renderer.encoded(flow, self.encoding, self.errors)
        else:
            frag = self.renderer.fragment(flow)
            if self.encoding is not None:
                if isinstance(frag, tuple):
                    frag = (frag[0].encode(self.encoding, self.errors),) + frag[1:]
                else:
                    frag = frag.encode(self.encoding, self.errors)
        found = self.policy.check(flow) if self.policy.active else []
        case = self.junit.case(flow, found) if self.junit is not None else None
        return True, frag, found, case


    def _spooled(self, flow):
        """A long connection's piece, written to a file (render.spool) instead of held in memory
        until its turn; with the totals it adds, for the JSON formats."""
        extra = []
        piece = spool(lambda write: extra.append(self.renderer.write_flow(flow, write)),
                      self.encoding or "utf-8", self.errors)
        return piece if extra[0] is None else (piece, extra[0])


def _worker(k: int, n: int, paths: tuple, az_args: dict, job: Job, inbox, outbox,
            own_process: bool = True, opener=None) -> None:
    """Worker k of n. `outbox` is its own pipe to the parent, written from this thread; `inbox`
    has get(timeout=) and get_nowait() (raising queue.Empty). `own_process`: a forked process
    of ours (not a task in a Dask worker's thread, engine/cluster.py); `opener(paths)` opens
    the capture (default `open_capture`)."""
    if own_process:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent tells us to stop
        sys.stdout = open(os.devnull, "w")                # never write the parent's output
    parent = os.getppid()
    reader = None
    try:
        reader = (opener or open_capture)(paths)
        az = Analyzer(shard=(k, n), **az_args)
        events = az.events
        ids = _Ids()
        waiting: dict[int, object] = {}
        # a flow waiting for its id is rendered later: its frames stay in a capture set's map
        az.keep_from = lambda: min(waiting, default=1 << 62)
        held = [0]                        # packets kept in the waiting flows
        flags = {"limit": False, "stop": False}

        def inbound(block: bool = False) -> None:
            while True:
                try:
                    msg = inbox.get(timeout=5) if block else inbox.get_nowait()
                except queue.Empty:
                    if block and os.getppid() != parent:
                        raise SystemExit(1) from None      # the parent is gone: nobody to wait for
                    if block:
                        continue
                    return
                block = False
                if msg[0] == "ids":
                    ids.add(msg[1])
                elif msg[0] == "limit":
                    flags["limit"] = True
                elif msg[0] == "stop":
                    flags["stop"] = True

        def send(flow) -> None:
            renumber(flow, ids.get)
            outbox.send(("out", k, flow.id) + job.render(flow, flags["limit"]))

        def send_ready() -> None:
            for prov in [p for p in waiting if ids.get(p) is not None]:
                flow = waiting.pop(prov)
                held[0] -= flow.packets.in_memory()
                send(flow)

        def wait_for(flow) -> None:
            waiting[flow.id] = flow
            held[0] += flow.packets.in_memory()

        def sync(frame: int, offset: int, _flows: int) -> None:
            outbox.send(("ev", k, events[:], frame - 1, offset))
            events.clear()
            inbound()
            if waiting:
                send_ready()
            while (len(waiting) > MAX_WAITING_FLOWS or held[0] > MAX_WAITING_PACKETS) and not flags["stop"]:
                inbound(block=True)       # ahead of another worker: let it catch up
                send_ready()
            if flags["stop"]:
                raise KeyboardInterrupt

        interrupted = False
        try:
            for flow in az.run(reader, progress=sync, every=SYNC_FRAMES):
                if ids.get(flow.id) is not None:
                    send(flow)
                else:
                    wait_for(flow)
        except KeyboardInterrupt:
            interrupted = True
            for flow in az.flush():
                wait_for(flow)
        outbox.send(("ev", k, events[:], FINAL, reader.offset))
        events.clear()
        while waiting:
            inbound(block=True)
            send_ready()
        az.stats.interrupted = interrupted
        outbox.send(("done", k, az.stats))
    except CaptureError as exc:
        outbox.send(("error", k, "capture", str(exc), exc.code))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which reports it once
        at = f" at frame {reader.frames_read}" if reader is not None else ""
        outbox.send(("error", k, "internal", f"worker {k} failed{at}: {type(exc).__name__}: {exc}",
                     traceback.format_exc()))
    finally:
        outbox.close()


# --- the parent's side -------------------------------------------------------------------------

class Merge:
    """The workers' event streams, merged in frame order: flow ids and the output order."""

    def __init__(self, n: int, reorder_limit: int = 256):
        self.q = [deque() for _ in range(n)]
        self.seen = [-1] * n          # worker k has sent every event of frames <= seen[k]
        self.next_id = 1
        self.final_of: dict[int, int] = {}   # first frame -> id, until the flow is out
        self.owner: dict[int, tuple[int, int]] = {}   # id -> (worker, first frame), until written
        self.open: set[int] = set()
        self._open_heap: list[int] = []
        self.held: list[int] = []
        self.order: deque[int] = deque()     # ids in the order they are written
        self.flows = 0
        self.finished = False
        self.reorder_limit = reorder_limit

    def feed(self, k: int, events: list, upto: int) -> None:
        self.q[k].extend(events)
        self.seen[k] = upto

    def step(self) -> dict[int, list]:
        """Take every event whose turn has come; return the new ids per worker."""
        assign: dict[int, list] = {}
        q, seen = self.q, self.seen
        n = len(q)
        while True:
            best = None
            for k in range(n):
                if q[k]:
                    e = q[k][0]
                    if best is None or (e[0], e[1]) < best:
                        best = (e[0], e[1])
            if best is None:
                return assign
            frame, kind = best
            if any(not q[k] and seen[k] < frame for k in range(n)):
                return assign           # a worker may still send an earlier event
            if kind == CREATED:
                for k in range(n):
                    if q[k] and q[k][0][0] == frame and q[k][0][1] == CREATED:
                        q[k].popleft()
                        fid = self.next_id
                        self.next_id += 1
                        self.final_of[frame] = fid
                        self.owner[fid] = (k, frame)
                        self.open.add(fid)
                        heapq.heappush(self._open_heap, fid)
                        assign.setdefault(k, []).append((frame, fid))
                        break
                continue
            provs: list[int] = []
            for k in range(n):
                if q[k] and q[k][0][0] == frame and q[k][0][1] == kind:
                    provs.extend(q[k].popleft()[2])
            self._out(provs, final=kind == FINAL)

    def _min_open(self) -> int | None:
        h = self._open_heap
        while h and h[0] not in self.open:
            heapq.heappop(h)
        return h[0] if h else None

    def _out(self, provs: list[int], final: bool) -> None:
        """`Analyzer._out`, on ids."""
        held = self.held
        for p in provs:
            fid = self.final_of.pop(p)
            self.open.discard(fid)
            heapq.heappush(held, fid)
        self.flows += len(provs)
        if final:
            while held:
                self.order.append(heapq.heappop(held))
            self.finished = True
            return
        m = self._min_open()
        while held and (m is None or held[0] < m or len(held) > self.reorder_limit):
            self.order.append(heapq.heappop(held))


def run(paths: tuple, jobs: int, az_args: dict, renderer, select, policy, junit=None, progress=None):
    """Analyse the capture (one file or a capture set: the command line's `paths`) with `jobs`
    forked workers, writing through `renderer.put` in the one-process order. Returns
    (stats, violations). Raises CaptureError or WorkerError."""
    out = getattr(renderer, "out", None)
    # the parent's output while workers run: text as usual, the fragments the workers encoded
    # straight to the byte buffer, in the same order
    sink = ByteSink.of(out)
    job = Job(renderer, select, policy, junit, *((sink.encoding, sink.errors) if sink is not None else ()))
    sys.stdout.flush()
    sys.stderr.flush()
    return drive(_Processes(paths, jobs, az_args, job), jobs, renderer, select, junit, progress, sink)


class _Processes:
    """The transport of `drive` for forked workers: each worker's own pipe to the parent (its
    end of a pipe that closes shows as ("eof", k)), and a queue from the parent to each."""

    def __init__(self, paths: tuple, jobs: int, az_args: dict, job: Job):
        ctx = mp.get_context("fork")
        self.inboxes = [ctx.Queue() for _ in range(jobs)]                # parent -> worker k
        self.procs = []
        self.readers = {}                      # worker k's pipe to the parent -> k
        for k in range(jobs):
            # each pipe made just before its worker, and its sending end closed here at once, so
            # no other process holds it: a worker that dies shows as the end of its pipe
            recv_end, send_end = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, args=(k, jobs, paths, az_args, job, self.inboxes[k], send_end),
                            name=f"tcpflow-explain worker {k}", daemon=True)
            p.start()
            send_end.close()
            self.procs.append(p)
            self.readers[recv_end] = k

    def send(self, k: int, msg: tuple) -> None:
        self.inboxes[k].put(msg)

    def recv(self, timeout: float) -> list:
        msgs = []
        for r in wait(list(self.readers), timeout=timeout):
            try:
                msgs.append(r.recv())
            except EOFError:
                k = self.readers.pop(r)
                msgs.append(("eof", k))
        return msgs

    def ended(self, k: int) -> str:
        """How worker k ended, for the message when it ended early."""
        self.procs[k].join(timeout=1)
        return f"exit code {self.procs[k].exitcode}"

    def close(self, finished: bool) -> None:
        for p in self.procs:
            if finished:
                p.join(timeout=10)    # it has sent everything and is exiting
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for q in self.inboxes:
            q.cancel_join_thread()    # never wait on ids a worker that is gone will not read


def drive(transport, jobs: int, renderer, select, junit, progress, sink):
    """The parent's side of a run on `jobs` workers, whatever carries the messages (forked
    processes here, a Dask cluster in engine/cluster.py): merge the workers' events into ids
    and the output order, send each worker its ids, write the fragments in order. The
    transport has send(k, msg), recv(timeout) -> [msg] (("eof", k) when worker k's channel
    ends), ended(k) -> how it ended, and close(finished). Returns (stats, violations)."""
    out = getattr(renderer, "out", None)
    limit = getattr(renderer, "limit", None) if hasattr(renderer, "take") else None
    stop = {"asked": False, "sent": False}

    def on_sigint(_sig, _frame):
        stop["asked"] = True

    old_handler = signal.signal(signal.SIGINT, on_sigint)
    if sink is not None:
        renderer.out = sink
    merge = Merge(jobs)
    outputs: dict[int, tuple] = {}
    done: list[Stats | None] = [None] * jobs
    violations: list = []
    state = {"limit_sent": False, "written": 0}

    def take(msg) -> None:
        kind, k = msg[0], msg[1]
        if kind == "ev":
            merge.feed(k, msg[2], msg[3])
            if progress is not None and k == 0 and msg[3] != FINAL:
                progress(msg[3], msg[4], merge.next_id - 1)
            for w, pairs in merge.step().items():
                transport.send(w, ("ids", pairs))
        elif kind == "out":
            outputs[msg[2]] = msg[3:]
        elif kind == "done":
            done[k] = msg[2]
        elif kind == "eof":
            if done[k] is None:
                past = merge.seen[k]
                at = ("" if past <= 0 else " after reading the whole capture" if past >= FINAL
                      else f" after frame {past}")
                raise WorkerError(f"worker {k} ended early{at} ({transport.ended(k)})") from None
        elif kind == "error":
            if msg[2] == "capture":
                raise CaptureError(msg[3], msg[4])
            if os.environ.get("TCPFLOW_EXPLAIN_DEBUG"):
                sys.stderr.write(msg[4])
            raise WorkerError(msg[3])

    def write_ready() -> None:
        order = merge.order
        while order and order[0] in outputs:
            fid = order.popleft()
            merge.owner.pop(fid, None)
            matched, frag, found, case = outputs.pop(fid)
            if not select.admit(matched):
                continue
            state["written"] += 1
            renderer.put(frag)
            violations.extend(found)
            if junit is not None:
                junit.add(case)
            if limit is not None and not state["limit_sent"] and renderer.shown >= limit:
                state["limit_sent"] = True
                for k in range(jobs):
                    transport.send(k, ("limit",))

    finished = False
    try:
        while not (merge.finished and not merge.order and all(d is not None for d in done)):
            if stop["asked"] and not stop["sent"]:
                stop["sent"] = True
                for k in range(jobs):
                    transport.send(k, ("stop",))
            got = transport.recv(0.5)
            if not got:
                # nothing for a while: send each worker again the ids of its connections not
                # written yet (a worker waits for them; it ignores an id it already has), so a
                # lost message can never leave it waiting
                again: dict[int, list] = {}
                for fid, (w, prov) in merge.owner.items():
                    if fid not in outputs:
                        again.setdefault(w, []).append((prov, fid))
                for w, pairs in again.items():
                    transport.send(w, ("ids", sorted(pairs)))
            for msg in got:
                take(msg)
            write_ready()
        finished = True
    except WorkerError as exc:
        raise WorkerError(str(exc), state["written"], violations) from None
    finally:
        signal.signal(signal.SIGINT, old_handler)
        if sink is not None:
            renderer.out = out
        for piece in outputs.values():          # never written (an error, Ctrl-C): remove the files
            frag = piece[1]
            discard(frag[0] if isinstance(frag, tuple) else frag)
        transport.close(finished)
    return _stats(done, merge.flows), violations


def _stats(parts: list[Stats], flows: int) -> Stats:
    """One capture's Stats from its workers': what every worker saw alike comes from the one
    that read furthest; TCP packets are the sum of each worker's own."""
    st = max(parts, key=lambda s: s.frames)
    st.tcp_packets = sum(s.tcp_packets for s in parts)
    scans = ScanWatch()          # each worker counted the probes of its own connections
    for s in parts:
        scans.merge(s.scans)
    st.scans = scans
    st.flows = flows
    st.interrupted = any(s.interrupted for s in parts)
    return st


__all__ = ["Job", "Merge", "WorkerError", "available", "drive", "renumber", "run"]

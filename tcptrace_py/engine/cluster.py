"""cluster: ``--engine dask`` — the workers of ``--jobs``, as tasks on a Dask cluster.

Theory of operation
-------------------
The analysis is the one of `parallel.py` (read its docstring first): worker k of n reads the
whole capture (one file or a capture set) and tracks only the connections of its flow-hash
partitions; every other TCP segment only moves its capture clock, so it expires connections
at the moments one process would; a connection is never analysed from part of its packets,
because all of them, and the history of its 4-tuple, are in one worker. The parent merges
the workers' event streams into connection ids and the output order (`parallel.drive`) and
writes each connection's piece, rendered by its worker, in that order: the output is byte
for byte the one of a single process.

What changes is the carrier. Each worker is one long-running Dask task, pinned to one worker
thread of the cluster (so all n run at once: n is the number of threads the cluster has, or
`--jobs`), and messages go through `distributed.Queue`s: one from all tasks to the parent
(each put carries a batch: a task's pieces wait for its next event report, every
`parallel.SYNC_FRAMES` frames), one from the parent to each task. A task renders with a
renderer made in it by the factory the command line gives (renderers hold the parent's output
stream, which does not travel); long connections are not spooled to files (the file would be
on the task's machine).

With no scheduler address a LocalCluster is started (one single-threaded worker process per
CPU, or `--jobs`), which takes one to two seconds; with ``--scheduler tcp://HOST:8786`` the
tasks run on that cluster. Its workers must have tcpflow-explain installed (the same version:
the tasks call this module) and read the capture files at the same absolute paths (a shared
file system); files are named in the output as they were given.
"""
from __future__ import annotations

import logging
import os
import queue as _queue
import time
import uuid
import warnings
from collections import deque

from .parallel import Job, _worker, drive
from ..render.sink import ByteSink

INSTALL = 'the Dask engine needs dask.distributed: pip install "tcpflow-explain[dask]"'
OUT_BATCH = 256        # pieces a task sends in one put at most


def missing() -> str | None:
    """None when Dask can be used, else the one-line message saying how to install it."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return INSTALL
    return None


class _Reader:
    """Messages from a `distributed.Queue`, one at a time. A Dask queue's `get` with a timeout
    logs an error on the scheduler each time it times out, so the queue is polled instead:
    `get(batch=True)` takes whatever is there without waiting, and between two empty polls the
    reader sleeps a little longer each time (1 ms up to 20 ms)."""

    def __init__(self, q):
        self.q = q
        self.ready: deque = deque()

    def get(self, timeout: float | None):
        """The next message; None when none came within `timeout` seconds (0: do not wait)."""
        if self.ready:
            return self.ready.popleft()
        end = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while True:
            got = self.q.get(batch=True)
            if got:
                self.ready.extend(got)
                return self.ready.popleft()
            if end is not None and time.monotonic() >= end:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


# --- a task's side -------------------------------------------------------------------------------

class _Outbox:
    """A task's messages to the parent, put in batches: an event report (and the end) goes at
    once with the pieces before it; pieces alone wait for it, or for OUT_BATCH of them."""

    def __init__(self, q):
        self.q = q
        self.buf: list = []

    def send(self, msg) -> None:
        self.buf.append(msg)
        if msg[0] != "out" or len(self.buf) >= OUT_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.q.put(self.buf)
            self.buf = []

    def close(self) -> None:
        self.flush()


class _Inbox:
    """The parent's messages to one task, as `parallel._worker` reads them (queue.Empty when
    there is none); before it waits, the task's own pieces go out (the parent may need them)."""

    def __init__(self, q, outbox: _Outbox):
        self.r = _Reader(q)
        self.outbox = outbox

    def get(self, timeout=None):
        self.outbox.flush()
        msg = self.r.get(timeout)
        if msg is None:
            raise _queue.Empty
        return msg

    def get_nowait(self):
        msg = self.r.get(0)
        if msg is None:
            raise _queue.Empty
        return msg


class _Discard:
    """The output of a task's renderer: it only makes pieces (what a renderer writes when it is
    made, such as the JSON document's opening, is the parent's to write)."""

    def write(self, _s) -> None:
        pass

    def flush(self) -> None:
        pass


def task(k: int, n: int, paths: list, names: list, az_args: dict, make_renderer, select, policy, junit,
         encoding, errors, inbox_name: str, outbox_name: str) -> int:
    """Worker k of n, as a Dask task (see the module docstring)."""
    from distributed import Queue
    from ..core.captureset import open_capture

    outbox = _Outbox(Queue(outbox_name))
    inbox = _Inbox(Queue(inbox_name), outbox)
    job = Job(make_renderer(_Discard()), select, policy, junit, encoding, errors, spool=False)
    _worker(k, n, tuple(paths), az_args, job, inbox, outbox, own_process=False,
            opener=lambda _paths: open_capture(paths, names=names))
    return k


# --- the parent's side -----------------------------------------------------------------------------

class _Cluster:
    """The transport of `parallel.drive` over a Dask cluster."""

    def __init__(self, client, jobs: int, paths: list, names: list, az_args: dict, make_renderer, select,
                 policy, junit, encoding, errors):
        from distributed import Queue
        tag = uuid.uuid4().hex[:12]
        self.client = client
        self.inq = [Queue(f"tcpflow-explain-{tag}-in-{k}", client=client) for k in range(jobs)]
        self.outq = Queue(f"tcpflow-explain-{tag}-out", client=client)
        self.out = _Reader(self.outq)
        slots = [addr for addr, w in sorted(client.scheduler_info()["workers"].items())
                 for _ in range(w.get("nthreads", 1))]
        self.futures = [
            client.submit(task, k, jobs, paths, names, az_args, make_renderer, select, policy, junit,
                          encoding, errors, self.inq[k].name, self.outq.name,
                          key=f"tcpflow-explain-{tag}-worker-{k}", pure=False,
                          workers=[slots[k % len(slots)]], allow_other_workers=False)
            for k in range(jobs)]
        self.reported: set[int] = set()

    def send(self, k: int, msg: tuple) -> None:
        self.inq[k].put(msg)

    def recv(self, timeout: float) -> list:
        batch = self.out.get(timeout)
        if batch is None:
            # nothing came: a task that has ended without its last message has failed
            return [("eof", k) for k, f in enumerate(self.futures)
                    if f.status in ("error", "cancelled", "lost") and k not in self.reported
                    and not self.reported.add(k)]
        msgs = list(batch)
        while self.out.ready:
            msgs.extend(self.out.ready.popleft())
        return msgs

    def ended(self, k: int) -> str:
        f = self.futures[k]
        if f.status == "error":
            exc = f.exception()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return f"Dask task failed: {type(exc).__name__}: {first}"
        return f"Dask task {f.status}"

    def close(self, finished: bool) -> None:
        if not finished:
            self.client.cancel(self.futures, force=True)


def run(paths: list, names: list, jobs: int, az_args: dict, renderer, make_renderer, select, policy, junit=None,
        progress=None, scheduler: str | None = None):
    """Analyse the capture on Dask; as `parallel.run` (returns (stats, violations)). `jobs`:
    tasks (0: one per thread of the cluster); `scheduler`: the address of a running cluster,
    else a LocalCluster of one worker process per task."""
    from distributed import Client, LocalCluster
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout=30)
    else:
        n = jobs or (os.cpu_count() or 1)
        with warnings.catch_warnings():      # e.g. "port 8787 is in use": the dashboard is not wanted
            warnings.simplefilter("ignore")
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.CRITICAL)
        client = Client(cluster)
    try:
        if not jobs:
            jobs = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()) or 1
        out = getattr(renderer, "out", None)
        sink = ByteSink.of(out)
        enc = (sink.encoding, sink.errors) if sink is not None else (None, "strict")
        transport = _Cluster(client, jobs, paths, names, az_args, make_renderer, select, policy, junit, *enc)
        return drive(transport, jobs, renderer, select, junit, progress, sink)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = ["INSTALL", "missing", "run", "task"]

"""python -m tests.fuzz: a fuzz campaign over the whole CLI (see tests/fuzz/__init__.py)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.fuzz import runner


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="wall-clock budget (default 10)")
    budget.add_argument("--inputs", type=int, help="a count of inputs instead: the same run every time")
    ap.add_argument("--jobs", type=int, default=2, help="fuzz worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000,
                    help="campaign seed (default: from the clock)")
    ap.add_argument("--out", default=None, help="where findings are saved (default /tmp/tcpflow-fuzz-found-SEED)")
    ap.add_argument("--modes", nargs="+", metavar="MODE", choices=runner.FAMILIES,
                    help="only these modes (default all): " + " ".join(runner.FAMILIES))
    ap.add_argument("--sub-every", type=int, default=3,
                    help="one subprocess run (stdin pipe or fresh process) every N inputs (default 3; 0: none)")
    ap.add_argument("--no-minimize", action="store_true", help="save findings as found")
    ap.add_argument("--progress", type=float, default=30.0, help="seconds between progress lines (default 30)")
    a = ap.parse_args(argv)
    if a.inputs is None and a.minutes is None:
        a.minutes = 10.0
    out = Path(a.out or f"/tmp/tcpflow-fuzz-found-{a.seed}")
    print(f"seed {a.seed}, {'%d inputs' % a.inputs if a.inputs is not None else '%g minutes' % a.minutes}, "
          f"{a.jobs} workers, findings in {out}", flush=True)
    st = runner.campaign(seed=a.seed, inputs=a.inputs, minutes=a.minutes, jobs=a.jobs, out=out, families=a.modes,
                         sub_every=a.sub_every, minimize_findings=not a.no_minimize, progress=a.progress,
                         log=lambda s: print(s, flush=True))
    text = runner.report(st)
    print()
    print(text)
    (out / "report.txt").write_text(text + "\n")
    (out / "summary.json").write_text(json.dumps({
        "seed": a.seed, "inputs": st.inputs, "seconds": round(st.wall, 1), "runs": dict(st.runs),
        "findings": {s: {"inputs": n, "modes": dict(st.modes_of.get(s, {})), "reproducer": st.saved.get(s),
                         "first": st.first.get(s)} for s, n in st.findings.items()},
        "slowest": st.slowest, "peak_kb": st.peak, "peak_kb_inproc": st.peak_inproc}, indent=2) + "\n")
    return 1 if st.findings else 0


if __name__ == "__main__":
    sys.exit(main())

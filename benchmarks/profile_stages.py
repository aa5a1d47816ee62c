#!/usr/bin/env python3
"""Where tcpflow-explain spends its time, per stage and per function.

    python benchmarks/profile_stages.py [--packets 200000] [--cprofile] [--pyinstrument] [CAPTURE]

Runs the pipeline in-process on CAPTURE (default: a 200k-frame prefix of
benchmarks/data/bench-mixed.pcap, made on first use) cut at growing depths, each
stage including the ones before it, best of --repeat runs:

    read      CaptureReader alone (records out of the file)
    decode    + Decoder.decode (one Packet per TCP segment)
    lookup    + FlowTable.lookup (flow key, flow creation) - no tracking
    analyze   the whole Analyzer: lookup + tracker + tshark-style analysis +
              expiry + per-flow verdict, packets kept (as the CLI does)
    json      + JsonWriter to /dev/null              (= --format json)
    text      + TextRenderer --all --max-packets 0   (= --format text --all --max-packets 0)
    summary   Analyzer(keep_packets=False) + JsonWriter(with_packets=False)
              (what a packet-less summary mode would cost with today's code)

and prints µs per packet for each stage and for the difference to the stage
before it. `analyze` and `json` are also run with the garbage collector frozen
(gc.disable) to show what the cyclic GC costs with a million live Packets.
--cprofile / --pyinstrument profile the `json` stage and list the hotspots.
Results go to benchmarks/results/profile-<date>.{json,md} (plus .prof / .txt).
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (benchmarks/bench.py: capture helpers)

CaptureReader = Decoder = FlowTable = Analyzer = JsonWriter = TextRenderer = None


def load_code(ref: str | None) -> dict:
    """Import tcptrace_py from a snapshot (working tree now, or git `ref`), like bench.py."""
    global CaptureReader, Decoder, FlowTable, Analyzer, JsonWriter, TextRenderer
    info = bench.snapshot_code(ref)
    sys.path.insert(0, info["path"])
    import tcptrace_py
    if not tcptrace_py.__file__.startswith(info["path"]):
        raise SystemExit(f"snapshot not picked up: {tcptrace_py.__file__}")
    from tcptrace_py.core.capture import CaptureReader
    from tcptrace_py.core.decode import Decoder
    from tcptrace_py.core.flows import FlowTable
    from tcptrace_py.core.pipeline import Analyzer
    from tcptrace_py.render.jsonout import JsonWriter
    from tcptrace_py.render.text import TextRenderer
    return info


def st_read(path):
    n = 0
    for _ in CaptureReader(path):
        n += 1
    return n


def st_decode(path):
    dec = Decoder().decode
    n = 0
    for rec in CaptureReader(path):
        if dec(*rec) is not None:
            n += 1
    return n


def st_lookup(path):
    dec = Decoder().decode
    look = FlowTable().lookup
    n = 0
    for rec in CaptureReader(path):
        p = dec(*rec)
        if p is not None:
            look(p)
            n += 1
    return n


def st_analyze(path, keep=True):
    az = Analyzer(keep_packets=keep)
    n = 0
    for _ in az.run(CaptureReader(path)):
        n += 1
    return n


def _render(path, renderer, keep=True):
    az = Analyzer(keep_packets=keep)
    for flow in az.run(CaptureReader(path)):
        renderer.flow(flow)
    renderer.close(az.stats)
    return az.stats.flows


def st_json(path):
    with open(os.devnull, "w") as out:
        return _render(path, JsonWriter(out))


def st_text(path):
    with open(os.devnull, "w") as out:
        return _render(path, TextRenderer(out, limit=None, max_packets=None, notes=True))


def st_summary(path):
    with open(os.devnull, "w") as out:
        return _render(path, JsonWriter(out, with_packets=False), keep=False)


STAGES = [("read", st_read), ("decode", st_decode), ("lookup", st_lookup), ("analyze", st_analyze),
          ("json", st_json), ("text", st_text), ("summary", st_summary)]
BASE = {"decode": "read", "lookup": "decode", "analyze": "decode", "json": "analyze",
        "text": "analyze", "summary": "decode"}


def timed(fn, path, repeat, nogc=False):
    best = None
    for _ in range(repeat):
        gc.collect()
        if nogc:
            gc.disable()
        t0 = time.perf_counter()
        try:
            fn(path)
        finally:
            dt = time.perf_counter() - t0
            gc.enable()
        best = dt if best is None else min(best, dt)
    return best


def startup(code_path, repeat=5):
    """Wall time of `python -m tcptrace_py --version` (interpreter + imports + click)."""
    env = dict(os.environ, PYTHONPATH=code_path)
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tcptrace_py", "--version"], env=env, cwd=code_path,
                       stdout=subprocess.DEVNULL, check=True)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def hotspots(prof: cProfile.Profile, npk: int, total: float, top: int) -> tuple[list[dict], str]:
    st = pstats.Stats(prof)
    rows = []
    for (fn, line, name), (cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append({"function": f"{Path(fn).name}:{line}({name})" if line else name,
                     "calls": nc, "tottime_s": tt, "cumtime_s": ct,
                     "tot_pct": 100 * tt / total, "cum_pct": 100 * ct / total,
                     "tot_us_per_pkt": 1e6 * tt / npk, "cum_us_per_pkt": 1e6 * ct / npk})
    by_tot = sorted(rows, key=lambda r: -r["tottime_s"])[:top]
    by_cum = sorted(rows, key=lambda r: -r["cumtime_s"])[:top]
    lines = ["#### by own time (tottime)", "",
             "| function | calls | own % | own µs/pkt | cum % | cum µs/pkt |", "|---|---:|---:|---:|---:|---:|"]
    for r in by_tot:
        lines.append(f"| `{r['function']}` | {r['calls']:,} | {r['tot_pct']:.1f} | {r['tot_us_per_pkt']:.2f} "
                     f"| {r['cum_pct']:.1f} | {r['cum_us_per_pkt']:.2f} |")
    lines += ["", "#### by cumulative time", "",
              "| function | calls | cum % | cum µs/pkt | own % |", "|---|---:|---:|---:|---:|"]
    for r in by_cum:
        lines.append(f"| `{r['function']}` | {r['calls']:,} | {r['cum_pct']:.1f} | {r['cum_us_per_pkt']:.2f} "
                     f"| {r['tot_pct']:.1f} |")
    return by_tot + [r for r in by_cum if r not in by_tot], "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", nargs="?", help="capture (default: a prefix of benchmarks/data/bench-mixed.pcap)")
    ap.add_argument("--packets", type=int, default=200_000, help="prefix length when no capture is given")
    ap.add_argument("--repeat", type=int, default=3, help="runs per stage; the best is kept")
    ap.add_argument("--stages", default=",".join(s for s, _ in STAGES))
    ap.add_argument("--cprofile", action="store_true", help="profile the json stage with cProfile")
    ap.add_argument("--pyinstrument", action="store_true", help="profile the json stage with pyinstrument")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--ref", help="profile the code of this git ref (e.g. HEAD) instead of the working tree")
    args = ap.parse_args(argv)
    code = load_code(args.ref)

    if args.capture:
        path = Path(args.capture)
    else:
        src = bench.DATA / "bench-mixed.pcap"
        if not src.exists():
            raise SystemExit(f"{src} missing: python benchmarks/bench.py --make (or give a CAPTURE)")
        path = bench.DATA / f"bench-mixed-{bench.size_label(args.packets)}.pcap"
        if not path.exists() or bench.count_frames(path) != args.packets:
            bench.build_scaled(src, path, args.packets)
    path = str(path)
    bench.warm(Path(path))
    frames = bench.count_frames(Path(path))
    dec = Decoder()
    npk = sum(1 for rec in CaptureReader(path) if dec.decode(*rec) is not None)
    print(f"# {path}: {frames:,} frames, {npk:,} TCP packets; best of {args.repeat}", file=sys.stderr)

    want = args.stages.split(",")
    res: dict[str, dict] = {}
    for name, fn in STAGES:
        if name not in want:
            continue
        t = timed(fn, path, args.repeat)
        res[name] = {"s": t, "us_per_pkt": 1e6 * t / npk}
        print(f"  {name:<10} {t:7.2f} s  {1e6 * t / npk:7.2f} µs/pkt", file=sys.stderr, flush=True)
        if name in ("analyze", "json"):
            t2 = timed(fn, path, args.repeat, nogc=True)
            res[name + " (gc off)"] = {"s": t2, "us_per_pkt": 1e6 * t2 / npk}
            print(f"  {name + ' gc-off':<10} {t2:7.2f} s  {1e6 * t2 / npk:7.2f} µs/pkt", file=sys.stderr, flush=True)
    res["startup"] = {"s": startup(code["path"]), "us_per_pkt": None}

    lines = [f"### Stage costs — {Path(path).name}, {npk:,} TCP packets (in-process, best of {args.repeat})", "",
             "| stage | s | µs/packet | increment over | Δ µs/packet |", "|---|---:|---:|---|---:|"]
    for name, r in res.items():
        base = BASE.get(name.split(" ")[0]) if " " not in name else name.split(" ")[0]
        inc = ""
        d = None
        if name == "startup":
            lines.append(f"| startup (`python -m tcptrace_py --version`) | {r['s']:.3f} | – | – | – |")
            continue
        if base in res:
            d = r["us_per_pkt"] - res[base]["us_per_pkt"]
            inc = base
        lines.append(f"| {name} | {r['s']:.2f} | {r['us_per_pkt']:.2f} | {inc} | "
                     f"{'' if d is None else format(d, '+.2f')} |")
    md = "\n".join(lines)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"capture": path, "frames": frames, "tcp_packets": npk, "repeat": args.repeat, "code": code,
              "python": sys.version, "stages": res}
    if args.cprofile:
        prof = cProfile.Profile()
        gc.collect()
        t0 = time.perf_counter()
        prof.runcall(st_json, path)
        total = time.perf_counter() - t0
        prof.dump_stats(str(bench.RESULTS / f"profile-{stamp}.prof"))
        rows, hmd = hotspots(prof, npk, total, args.top)
        report["cprofile"] = {"total_s": total, "rows": rows}
        md += (f"\n\n### cProfile of the json stage ({total:.1f} s under the profiler, "
               f"{1e6 * total / npk:.1f} µs/pkt; profiler overhead inflates small calls)\n\n" + hmd)
    if args.pyinstrument:
        try:
            from pyinstrument import Profiler
        except ImportError:
            print("pyinstrument is not installed (pip install pyinstrument)", file=sys.stderr)
        else:
            p = Profiler(interval=0.001)
            p.start()
            st_json(path)
            p.stop()
            txt = p.output_text(unicode=True, color=False, show_all=False)
            (bench.RESULTS / f"profile-{stamp}.pyinstrument.txt").write_text(txt)
            report["pyinstrument"] = str(bench.RESULTS / f"profile-{stamp}.pyinstrument.txt")
            md += "\n\n(pyinstrument call tree: " + report["pyinstrument"] + ")"
    print(md)
    (bench.RESULTS / f"profile-{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    (bench.RESULTS / f"profile-{stamp}.md").write_text(md + "\n")
    print(f"\n(results: {bench.RESULTS}/profile-{stamp}.{{json,md}})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

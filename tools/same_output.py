#!/usr/bin/env python3
"""Prove a change leaves the output byte for byte the same.

    python tools/same_output.py record OUT [--tree DIR] [--quick]
    python tools/same_output.py compare A B

`record` runs every bundled sample and every capture of ../shared/corpus (when present) through
the CLI in one process, in each of the MODES below, and writes stdout, stderr and the exit code of
each run under OUT/<mode>/<capture>. `--tree DIR` analyses with the package in DIR (for example a
`git worktree` of an earlier commit) instead of this checkout; `--quick` runs the samples only.
`compare` lists every run whose output differs and exits 1 if any does.

Typical use, before a refactoring lands:

    git worktree add /tmp/before HEAD
    python tools/same_output.py record /tmp/out-before --tree /tmp/before
    python tools/same_output.py record /tmp/out-after
    python tools/same_output.py compare /tmp/out-before /tmp/out-after

It imports the package's pure-Python modules (TCPFLOW_EXPLAIN_PURE=1); for the compiled core,
install the tree and run with TCPFLOW_EXPLAIN_PURE=0.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, arguments): every renderer and view, both languages, the teaching notes, the folding
MODES = [
    ("text", []),
    ("text-all", ["--all", "--max-packets", "0"]),
    ("text-zh-explain", ["--lang", "zh", "--explain", "--max-packets", "0"]),
    ("text-no-notes", ["--no-notes", "--max-packets", "10"]),
    ("json", ["-f", "json"]),
    ("jsonl", ["-f", "jsonl"]),
    ("summary-text", ["--summary"]),
    ("summary-json", ["--summary", "-f", "json"]),
    ("ladder", ["--ladder", "--ascii"]),
    ("ladder-unfold-zh", ["--ladder", "--unfold", "--lang", "zh"]),
    ("mermaid", ["-f", "mermaid"]),
    ("svg", ["-f", "svg"]),
    ("rich", ["-f", "rich", "--max-packets", "20"]),
    ("summary-rich", ["-f", "rich", "--summary"]),
    ("policy", ["--fail-on", "warning", "--require", "handshake,closed", "-f", "jsonl"]),
]


def captures(quick: bool) -> list[Path]:
    found = sorted(p for p in (ROOT / "sample_pcaps").iterdir() if p.suffix in (".pcap", ".pcapng"))
    shared = Path(os.environ.get("TCPFLOW_EXPLAIN_SHARED", ROOT.parent / "shared"))
    corpus = shared / "corpus"
    manifest = corpus / "MANIFEST.tsv"
    if not quick and manifest.is_file():
        rows = manifest.read_text(encoding="utf-8").splitlines()[1:]
        found += [corpus / row.split("\t", 1)[0] for row in rows if row.strip()]
    return found


def record(out: Path, tree: Path | None, quick: bool) -> int:
    os.environ["TCPFLOW_EXPLAIN_PURE"] = os.environ.get("TCPFLOW_EXPLAIN_PURE", "1")
    os.environ["COLUMNS"] = "120"
    os.environ["TERM"] = "dumb"
    sys.path.insert(0, str((tree or ROOT).resolve()))
    import tcptrace_py
    where = Path(tcptrace_py.__file__).resolve().parent.parent
    if where != (tree or ROOT).resolve():
        sys.exit(f"same_output: tcptrace_py was imported from {where}, not {tree or ROOT}")
    from click.testing import CliRunner

    from tcptrace_py.cli import main
    runner = CliRunner()
    caps = captures(quick)
    shared = Path(os.environ.get("TCPFLOW_EXPLAIN_SHARED", ROOT.parent / "shared"))
    for name, args in MODES:
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        for cap in caps:
            label = str(cap.relative_to(ROOT) if cap.is_relative_to(ROOT) else cap.relative_to(shared))
            result = runner.invoke(main, [str(cap), *args], catch_exceptions=True)
            stdout = result.stdout_bytes.replace(str(cap).encode(), label.encode())
            stderr = (result.stderr_bytes or b"").replace(str(cap).encode(), label.encode())
            body = b"exit %d\n--- stderr\n%s--- stdout\n%s" % (result.exit_code, stderr, stdout)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                body += f"--- exception\n{type(result.exception).__name__}: {result.exception}\n".encode()
            (d / (label.replace("/", "__") + ".out")).write_bytes(body)
    print(f"recorded {len(caps)} captures x {len(MODES)} modes in {out} "
          f"({'compiled' if 'compiled' in tcptrace_py.core.kind() else 'pure'} core from {where})")
    return 0


def compare(a: Path, b: Path) -> int:
    names = sorted({p.relative_to(a) for p in a.rglob("*.out")} | {p.relative_to(b) for p in b.rglob("*.out")})
    differ = []
    for rel in names:
        pa, pb = a / rel, b / rel
        da = hashlib.sha256(pa.read_bytes()).digest() if pa.exists() else None
        db = hashlib.sha256(pb.read_bytes()).digest() if pb.exists() else None
        if da != db:
            differ.append(rel)
    for rel in differ[:50]:
        print(f"differs: {rel}")
    if len(differ) > 50:
        print(f"... and {len(differ) - 50} more")
    print("IDENTICAL" if not differ else f"{len(differ)} of {len(names)} runs differ", f"({len(names)} runs)")
    return 1 if differ else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("out", type=Path)
    r.add_argument("--tree", type=Path)
    r.add_argument("--quick", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "record":
        return record(args.out, args.tree, args.quick)
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())

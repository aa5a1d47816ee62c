"""Regenerate the golden outputs of every sample capture (run on purpose, review the diff).

    python tests/update_golden.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tcptrace_py.cli import main  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
FORMATS = {"txt": ["--format", "text", "--all", "--max-packets", "0"], "json": ["--format", "json"]}


def samples() -> list[Path]:
    return sorted(p for p in (ROOT / "sample_pcaps").iterdir() if p.suffix in (".pcap", ".pcapng"))


def render(sample: Path, fmt: str) -> str:
    os.chdir(ROOT)
    res = CliRunner().invoke(main, FORMATS[fmt] + [str(sample.relative_to(ROOT))])
    if res.exit_code != 0:
        raise SystemExit(f"{sample.name}: exit {res.exit_code}: {res.output}")
    return res.output


if __name__ == "__main__":
    GOLDEN.mkdir(exist_ok=True)
    for s in samples():
        for fmt in FORMATS:
            (GOLDEN / f"{s.name}.{fmt}").write_text(render(s, fmt), encoding="utf-8")
            print("wrote", f"tests/golden/{s.name}.{fmt}")

"""Regenerate the golden ladder, Mermaid and SVG outputs (run on purpose, review the diff).

    python tests/update_golden_ladder.py

Each picked capture gets its terminal ladder (Unicode and --ascii, piped: 100
columns), its Mermaid diagrams and its SVG picture; the seed capture also gets
its ladder with --explain in English and Chinese. They are checked by
tests/test_ladder.py and written to tests/golden/ladder/.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tcptrace_py.cli import main  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "ladder"
SAMPLES = ["seed-8090.pcap", "reset-refused.pcap", "half-close.pcap", "simultaneous-close.pcap",
           "retransmission.pcap"]
VARIANTS = {
    "ladder.txt": ["--ladder", "--format", "text", "--all"],
    "ladder-ascii.txt": ["--ladder", "--format", "text", "--ascii", "--all"],
    "mmd": ["--format", "mermaid", "--all"],
    "svg": ["--format", "svg", "--all"],
}
EXTRA = {  # (sample, suffix): arguments
    ("seed-8090.pcap", "ladder-explain.txt"): ["--ladder", "--format", "text", "--explain"],
    ("seed-8090.pcap", "ladder-explain-zh.txt"): ["--ladder", "--format", "text", "--explain", "--lang", "zh"],
}


def cases() -> list[tuple[str, str, list[str]]]:
    out = [(s, suffix, args) for s in SAMPLES for suffix, args in VARIANTS.items()]
    out += [(s, suffix, args) for (s, suffix), args in EXTRA.items()]
    return out


def render(sample: str, args: list[str]) -> str:
    os.chdir(ROOT)
    res = CliRunner().invoke(main, args + [f"sample_pcaps/{sample}"])
    if res.exit_code != 0:
        raise SystemExit(f"{sample} {args}: exit {res.exit_code}: {res.output}")
    return res.output


if __name__ == "__main__":
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for sample, suffix, args in cases():
        path = GOLDEN / f"{sample}.{suffix}"
        path.write_text(render(sample, args), encoding="utf-8")
        print("wrote", path.relative_to(ROOT))

"""The compiled core gives the same output as the pure-Python modules, byte for byte.

`pip install .` compiles the per-packet modules (setup.py); TCPFLOW_EXPLAIN_PURE=1 makes the
same installation import the .py files instead. A driver runs the installed package, once each
way, over every sample capture and every corpus capture in several output modes, and the two
transcripts must be identical. It runs from a temporary directory, so it imports the installed
package, not the checkout.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
EXTS = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")

MODES = [
    ["--format", "json"],
    ["--format", "jsonl", "--lang", "zh"],
    ["--summary", "--format", "json"],
    ["--format", "text", "--all", "--max-packets", "0"],
    ["--format", "text", "--all", "--lang", "zh", "--explain"],
    ["--format", "text", "--ladder", "--ascii", "--limit", "3"],
]

DRIVER = r"""
import sys, tcptrace_py
from click.testing import CliRunner
from tcptrace_py.cli import main
print(tcptrace_py.core.kind())
modes = [m.split("\x1f") for m in sys.argv[1].split("\x1e")]
runner = CliRunner()
for cap in sys.argv[2:]:
    for mode in modes:
        r = runner.invoke(main, mode + [cap])
        print("=== %s %s exit %s" % (cap, " ".join(mode), r.exit_code))
        sys.stdout.write(r.output)
"""


def _captures() -> list[str]:
    caps = sorted(str(p) for p in (ROOT / "sample_pcaps").iterdir() if p.name.endswith(EXTS))
    if CORPUS.is_dir():
        caps += sorted(str(p) for p in CORPUS.rglob("*") if p.name.endswith(EXTS))
    return caps


def _installed(tmp_path, pure: bool, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TCPFLOW_EXPLAIN_PURE", "PYTHONPATH")}
    if pure:
        env["TCPFLOW_EXPLAIN_PURE"] = "1"
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)


def _installed_core(tmp_path) -> str:
    r = _installed(tmp_path, False, "-c", "import tcptrace_py; print(tcptrace_py.core.kind())")
    if r.returncode != 0:
        pytest.skip("tcpflow-explain is not installed in this Python (pip install .)")
    return r.stdout.strip()


def test_the_installed_core_is_compiled(tmp_path):
    """Where the build could compile (CI sets TCPFLOW_EXPLAIN_EXPECT_COMPILED=1), it did."""
    core = _installed_core(tmp_path)
    if core != "compiled" and not os.environ.get("TCPFLOW_EXPLAIN_EXPECT_COMPILED"):
        pytest.skip("the installed core is pure Python (no C compiler or Cython at install time)")
    assert core == "compiled"


def test_pure_modules_are_imported_when_asked(tmp_path):
    r = _installed(tmp_path, True, "-c",
                   "import tcptrace_py, tcptrace_py.core.tracker as t, tcptrace_py.render.jsonout as j;"
                   "print(tcptrace_py.core.kind(), t.__file__.endswith('.py'), j.__file__.endswith('.py'))")
    if r.returncode != 0:
        pytest.skip("tcpflow-explain is not installed in this Python (pip install .)")
    assert r.stdout.split() == ["pure", "Python", "True", "True"]


def test_compiled_output_equals_pure_output(tmp_path):
    if _installed_core(tmp_path) != "compiled":
        pytest.skip("the installed core is pure Python: nothing to compare")
    caps = _captures()
    modes = "\x1e".join("\x1f".join(m) for m in MODES)
    compiled = _installed(tmp_path, False, "-c", DRIVER, modes, *caps)
    pure = _installed(tmp_path, True, "-c", DRIVER, modes, *caps)
    assert compiled.returncode == 0, compiled.stderr[-2000:]
    assert pure.returncode == 0, pure.stderr[-2000:]
    c_lines, p_lines = compiled.stdout.splitlines(), pure.stdout.splitlines()
    assert c_lines[0] == "compiled" and p_lines[0] == "pure Python"
    assert sum(1 for x in c_lines if x.startswith("=== ")) == len(caps) * len(MODES)
    for i, (a, b) in enumerate(zip(c_lines[1:], p_lines[1:]), 1):
        if a != b:
            head = next(x for x in reversed(c_lines[:i + 1]) if x.startswith("=== "))
            pytest.fail(f"compiled and pure differ in {head[4:]}:\n  compiled: {a[:300]}\n  pure:     {b[:300]}")
    assert len(c_lines) == len(p_lines)

"""Inputs a fuzzing campaign found breaking the tool (tests/data/fuzz/): the exact outcome of each,
in every output mode — its exit code, its stderr lines, well-formed output, and everything before
the damage analysed; with --jobs 2 and on standard input the same as one process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcptrace_py.cli import main
from tcptrace_py.render.jsonout import new_totals, typed_line
from wellformed import assert_well_formed, mode_of

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "tests" / "data" / "fuzz"

MODES = {
    "text": ["--format", "text"],
    "json": ["--format", "json"],
    "jsonl": ["--format", "jsonl"],
    "summary": ["--summary", "--format", "text"],
    "summary-json": ["--summary", "--format", "json"],
    "ladder": ["--ladder", "--format", "text"],
    "mermaid": ["--format", "mermaid"],
    "svg": ["--format", "svg"],
    "explain": ["--explain", "--format", "text"],
    "zh": ["--lang", "zh", "--format", "text"],
    "all": ["--format", "text", "--all", "--max-packets", "0"],
    "policy": ["--format", "text", "--ladder", "--require", "handshake,graceful-close"],
}

W = "tcpflow-explain: warning: "
# file -> (exit code, the stderr lines every mode gives, connections analysed)
OUTCOMES = {
    "pcapng-short-idb.pcapng": (4, [
        W + "pcapng interface description at byte offset 28 is 12 bytes, too short for its fields (20); skipped",
        W + "capture ends early: a block header of frame 1 is cut off at byte offset 43 (analysed the 0 "
            "complete frames before it)"], 0),
    "gzip-bad-crc.pcap.gz": (3, [
        "tcpflow-explain: {path}: gzip-compressed, but compressed data is corrupt (CRC check failed "
        "0x54f51878 != 0x54f51887)"], None),
    "1-gzip-text-truncated.pcap": (3, [
        "tcpflow-explain: {path}: gzip-compressed, but compressed data is corrupt (Compressed file ended "
        "before the end-of-stream marker was reached)"], None),
    "jobs2-cut-pcapng.pcapng": (4, [
        W + "pcapng block at byte offset 1024 says it is 12 bytes long, but its trailing length disagrees; "
            "the rest of the file was not read"], 1),
    "jsonl-empty-totals.pcap.gz": (4, [
        W + "capture ends early: the packet data of frame 1 is cut off at byte offset 50 (analysed the 0 "
            "complete frames before it)"], 0),
    "2-pcapng-short-epb-at-eof.pcap": (4, [
        W + "pcapng enhanced packet block at byte offset 48 is 12 bytes, too short for its fields (32); skipped"], 0),
    "2-pcapng-short-pb-at-eof.pcap": (4, [
        W + "pcapng packet block at byte offset 48 is 12 bytes, too short for its fields (32); skipped"], 0),
}


def cli(*args, input=None):
    r = CliRunner().invoke(main, [str(a) for a in args], input=input)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout_bytes, r.stderr_bytes.decode()


def proc(*args, input=None):
    p = subprocess.run([sys.executable, "-m", "tcptrace_py", *map(str, args)], cwd=ROOT, input=input,
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr.decode()


def test_every_fuzz_file_has_an_outcome():
    captures = {p.name for p in FUZZ.iterdir() if not p.name.endswith(".toml")}
    assert captures == set(OUTCOMES)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_fuzz_file_outcome(name, mode):
    code, lines, flows = OUTCOMES[name]
    path = FUZZ / name
    args = MODES[mode]
    got, out, err = cli(*args, path)
    expected_err = [x.format(path=path) for x in lines]
    if mode == "policy" and code == 4 and flows:
        code = 1                                       # the cut connection has no graceful close
        assert err.splitlines()[:len(lines)] == expected_err
        assert err.splitlines()[-1].startswith("tcpflow-explain: policy: ")
    else:
        assert err.splitlines() == expected_err
    assert got == code, err
    if code == 3:
        assert out == b""
        return
    assert_well_formed(mode_of(args), out)
    if mode == "json":
        doc = json.loads(out)
        assert len(doc["flows"]) == flows == doc["totals"]["flows"]
        assert [w["kind"] for w in doc["capture"]["warnings"]]
    if mode == "jsonl":
        recs = [json.loads(x) for x in out.decode().splitlines()]
        assert sum(r["type"] == "flow" for r in recs) == flows
        assert recs[-1] == {"type": "totals", **recs[-1]} and recs[-1]["flows"] == flows


@pytest.mark.parametrize("args", [["--format", "text"], ["--format", "jsonl"], ["--format", "json"],
                                  ["--summary", "--format", "text"]], ids=lambda a: "-".join(a))
@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_fuzz_file_jobs_and_stdin_as_one_process(name, args):
    path = FUZZ / name
    one = proc(*args, path)
    assert one[0] in (0, 3, 4), one[2]
    assert proc(*args, "--jobs", "2", path) == one
    # standard input: the same, but that the capture is called "-"
    assert proc(*args, "-", input=path.read_bytes()) == (
        one[0], one[1].replace(str(path).encode(), b"-"), one[2].replace(str(path), "-"))


def test_jsonl_record_formatter_has_no_dangling_comma():
    assert typed_line("totals", {}) == '{"type":"totals"}\n'
    assert json.loads(typed_line("totals", new_totals())) == {"type": "totals", **new_totals()}
    assert typed_line("capture", {"a": 1, "b": [1]}) == '{"type":"capture","a":1,"b":[1]}\n'


def test_an_empty_capture_has_the_totals_of_every_key(tmp_path):
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    for fmt in ("json", "jsonl"):
        code, out, err = cli("--format", fmt, empty)
        assert code == 0, err
        assert_well_formed(fmt, out)
        totals = json.loads(out)["totals"] if fmt == "json" else json.loads(out.splitlines()[-1])
        assert {k: totals[k] for k in new_totals()} == new_totals()


def test_mermaid_of_a_capture_without_connections_is_a_diagram(tmp_path):
    """Mermaid rejects a document of comments only; with no connection we write the empty diagram,
    which the grammar check and, where it is installed, Mermaid's own parser accept."""
    import shutil
    empty = FUZZ / "jsonl-empty-totals.pcap.gz"
    for lang in ("en", "zh"):
        code, out, _ = cli("--format", "mermaid", "--lang", lang, empty)
        assert code == 4 and out.startswith(b"sequenceDiagram\n    title ")
        assert_well_formed("mermaid", out)
    parser = ROOT / "tests" / "mermaid"
    if shutil.which("node") and (parser / "node_modules" / "mermaid").is_dir():
        text = cli("--format", "mermaid", empty)[1].decode()
        p = subprocess.run(["node", str(parser / "parse.mjs")], input=json.dumps([text, "%% x\n"]),
                           capture_output=True, text=True, timeout=120, cwd=parser)
        assert [r["ok"] for r in json.loads(p.stdout)] == [True, False], p.stdout

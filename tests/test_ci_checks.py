"""CI checks on captured traffic: summary, selection, policies, exit codes, JUnit, the README's examples."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcptrace_py import analyze
from tcptrace_py.cli import Exit, main
from tcptrace_py.policy import Policy, PolicyError, Selection, parse_duration, parse_rate

ROOT = Path(__file__).resolve().parents[1]
S = ROOT / "sample_pcaps"
SEED, RESET, MULTI, RETX = S / "seed-8090.pcap", S / "reset-refused.pcap", S / "multi.pcapng", S / "retransmission.pcap"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def policy_lines(err):
    return [x for x in err.splitlines() if x.startswith("tcpflow-explain: policy: connection")]


# --- summary and selection -------------------------------------------------------------

def test_summary_plain_columns_one_row_per_connection():
    code, out, _ = run("--summary", "--format", "text", MULTI)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split()[:3] == ["id", "client", "server"]
    rows = [x for x in lines[1:] if re.match(r"^\d+\s", x)]
    assert [int(r.split()[0]) for r in rows] == [1, 2, 3, 4]
    assert "refused" in rows[3] and "connection_refused×1" in rows[3]


def test_summary_json_has_no_packets():
    doc = json.loads(run("--summary", "--format", "json", MULTI)[1])
    assert len(doc["flows"]) == 4 and all("packets" not in f for f in doc["flows"])
    assert doc["flows"][3]["anomaly_counts"] == {"connection_refused": 1, "rst": 1}


@pytest.mark.parametrize("args,ids", [
    (["--flow", "2"], [2]),
    (["--port", "8098"], [4]),
    (["--host", "::1"], [3, 4]),
    (["--host", "127.0.0.0/8"], [1, 2]),
    (["--anomaly", "rst"], [4]),
    (["--with-anomalies"], [2, 4]),
    (["--head", "2"], [1, 2]),
    (["--host", "::1", "--head", "1"], [3]),
])
def test_selection_applies_to_every_format(args, ids):
    for fmt in ("json", "jsonl"):
        code, out, _ = run("--format", fmt, *args, MULTI)
        assert code == 0
        if fmt == "json":
            got = [f["id"] for f in json.loads(out)["flows"]]
        else:
            got = [o["id"] for o in map(json.loads, out.splitlines()) if o["type"] == "flow"]
        assert got == ids, (fmt, args)
    text = run("--format", "text", "--summary", *args, MULTI)[1]
    assert [int(x.split()[0]) for x in text.splitlines()[1:] if re.match(r"^\d+\s", x)] == ids


def test_selection_by_conn_state():
    flows = analyze(str(MULTI)).flows
    state = flows[3].ended.conn_state
    doc = json.loads(run("--format", "json", "--summary", "--conn-state", state, MULTI)[1])
    assert 4 in [f["id"] for f in doc["flows"]]
    assert all(f["conn_state"] == state for f in doc["flows"])


# --- policies, one test per rule and per exit code ----------------------------------------

def test_clean_capture_passes_every_rule():
    code, _, err = run("--summary", "--fail-on", "warning", "--require", "handshake,graceful-close,closed",
                       "--max-retransmission-rate", "0%", "--max-handshake-rtt", "50ms", SEED)
    assert code == Exit.OK and not policy_lines(err)


def test_fail_on_rst_names_connection_and_frame():
    code, _, err = run("--summary", "--fail-on", "rst", RESET)
    assert code == Exit.POLICY
    lines = policy_lines(err)
    assert len(lines) == 2
    assert re.search(r"connection 1 \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:8091\): fail-on rst at frame 2", lines[0])
    assert re.search(r"connection 2 \(.*:8092\): fail-on rst at frame 10: .*server reset the connection", lines[1])
    assert err.splitlines()[-1] == "tcpflow-explain: policy: 2 violations in 2 connections"


def test_fail_on_severity():
    assert run("--fail-on", "error", "--format", "json", RESET)[0] == Exit.POLICY
    assert run("--fail-on", "error", "--format", "json", SEED)[0] == Exit.OK
    # info catches even a port reuse
    code, _, err = run("--fail-on", "info", "--format", "json", "--flow", "2", MULTI)
    assert code == Exit.POLICY and "fail-on reused_ports" in err


def test_max_retransmission_rate():
    code, _, err = run("--summary", "--max-retransmission-rate", "1%", RETX)
    assert code == Exit.POLICY
    assert any("max-retransmission-rate" in x and "data segments retransmitted" in x for x in policy_lines(err))
    assert run("--summary", "--max-retransmission-rate", "90%", RETX)[0] == Exit.OK


def test_max_handshake_rtt():
    code, _, err = run("--summary", "--max-handshake-rtt", "10us", SEED)
    assert code == Exit.POLICY
    (line,) = policy_lines(err)
    assert "max-handshake-rtt at frame 3: handshake RTT" in line
    assert run("--summary", "--max-handshake-rtt", "1s", SEED)[0] == Exit.OK


@pytest.mark.parametrize("rule,capture,ok", [
    ("handshake", SEED, True), ("handshake", RESET, False),
    ("graceful-close", SEED, True), ("graceful-close", RESET, False),
    ("closed", SEED, True), ("no-anomalies", SEED, True), ("no-anomalies", RESET, False),
])
def test_require(rule, capture, ok):
    code, _, err = run("--summary", "--require", rule, capture)
    assert code == (Exit.OK if ok else Exit.POLICY)
    assert bool(policy_lines(err)) != ok
    if not ok:
        assert f"require {rule}" in err


def test_require_closed_fails_on_open_connection(tmp_path):
    cut = tmp_path / "open.pcap"
    data = SEED.read_bytes()
    # keep the file header and the first 8 records: the connection is still open
    off = 24
    for _ in range(8):
        off += 16 + int.from_bytes(data[off + 8:off + 12], "little")
    cut.write_bytes(data[:off])
    code, _, err = run("--summary", "--require", "closed", cut)
    assert code == Exit.POLICY and "require closed at frame 8" in err


def test_policy_file(tmp_path):
    pol = tmp_path / "ci.toml"
    pol.write_text('fail_on = ["rst"]\nrequire = ["handshake"]\nmax_handshake_rtt = "200ms"\n')
    assert run("--summary", "--policy", pol, SEED)[0] == Exit.OK
    code, _, err = run("--summary", "--policy", pol, RESET)
    assert code == Exit.POLICY and "fail-on rst" in err and "require handshake" in err


@pytest.mark.parametrize("args,needle", [
    (["--fail-on", "bogus"], "unknown anomaly or severity 'bogus'"),
    (["--require", "tea"], "unknown requirement 'tea'"),
    (["--max-handshake-rtt", "fast"], "not a duration"),
    (["--max-retransmission-rate", "lots"], "not a rate"),
    (["--host", "nowhere"], "not an address"),
    (["--anomaly", "weird"], "unknown anomaly"),
])
def test_bad_policy_is_a_usage_error(args, needle):
    code, out, err = run(*args, SEED)
    assert code == Exit.USAGE and needle in err and out == ""


def test_bad_policy_file(tmp_path):
    bad = tmp_path / "ci.toml"
    bad.write_text("fail_on = [rst\n")
    code, _, err = run("--policy", bad, SEED)
    assert code == Exit.USAGE and "not valid TOML" in err
    bad.write_text('fail_om = ["rst"]\n')
    assert "unknown key(s) fail_om" in run("--policy", bad, SEED)[2]


def test_policy_in_json_and_jsonl():
    doc = json.loads(run("--format", "json", "--fail-on", "rst", RESET)[1])
    assert doc["policy"]["passed"] is False
    assert [(v["flow"], v["frame"]) for v in doc["policy"]["violations"]] == [(1, 2), (2, 10)]
    last = json.loads(run("--format", "jsonl", "--fail-on", "rst", SEED)[1].splitlines()[-1])
    assert last == {"type": "policy", "passed": True, "violations": []}


def test_parsers():
    assert parse_duration("200ms") == pytest.approx(0.2) and parse_duration("1.5s") == 1.5
    assert parse_duration("250us") == pytest.approx(250e-6) and parse_rate("1%") == 0.01
    assert parse_rate("0.05") == 0.05
    with pytest.raises(PolicyError):
        Policy.build(require=["sometimes"])
    assert not Policy().active and Policy.build(fail_on=["rst"]).active
    assert Selection.build(ports=["80,443"]).ports == {80, 443}


# --- exit codes --------------------------------------------------------------------------

def test_exit_codes_table():
    assert run(SEED)[0] == Exit.OK == 0
    assert run("--fail-on", "rst", RESET)[0] == Exit.POLICY == 1
    assert run("--no-such-option", SEED)[0] == Exit.USAGE == 2
    assert run(ROOT / "missing.pcap")[0] == Exit.UNREADABLE == 3
    assert Exit.PARTIAL == 4 and Exit.INTERRUPTED == 130   # exercised in test_cli and below


def test_interrupted_reports_what_was_read():
    """Ctrl-C (SIGINT) in the middle of a slow pipe: exit 130, what was analysed is printed."""
    import os
    import signal
    import time
    # (SIGINT restored for the child: a test run started in the background inherits it ignored,
    # and Python then never turns it into KeyboardInterrupt)
    p = subprocess.Popen([sys.executable, "-m", "tcptrace_py", "--format", "jsonl", "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    data = RESET.read_bytes()
    p.stdin.write(data)          # the whole capture, but the pipe stays open
    p.stdin.flush()
    time.sleep(1.5)
    os.kill(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == Exit.INTERRUPTED, err
    types = [json.loads(x)["type"] for x in out.decode().splitlines()]
    assert types.count("flow") == 2 and "capture" in types
    assert b"Traceback" not in err


# --- JUnit ---------------------------------------------------------------------------------

def _validate(path):
    lxml = pytest.importorskip("lxml.etree")
    schema = lxml.XMLSchema(lxml.parse(str(ROOT / "tests" / "data" / "junit.xsd")))
    doc = lxml.parse(str(path))
    schema.assertValid(doc)
    return doc


def test_junit_report_validates_and_names_rule_and_frame(tmp_path):
    rep = tmp_path / "report.xml"
    code, _, _ = run("--summary", "--fail-on", "rst", "--junit", rep, RESET)
    assert code == Exit.POLICY
    doc = _validate(rep)
    suite = doc.getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "2"
    cases = suite.findall("testcase")
    assert cases[0].get("name").startswith("connection 1: 127.0.0.1:")
    f = cases[1].find("failure")
    assert f.get("type") == "fail-on rst" and f.get("message").startswith("fail-on rst at frame 10")


def test_junit_report_all_passing(tmp_path):
    rep = tmp_path / "report.xml"
    assert run("--summary", "--require", "handshake", "--junit", rep, MULTI)[0] == Exit.POLICY
    doc = _validate(rep)
    assert doc.getroot().get("tests") == "4" and doc.getroot().get("failures") == "1"
    rep2 = tmp_path / "ok.xml"
    assert run("--summary", "--junit", rep2, SEED)[0] == Exit.OK
    assert _validate(rep2).getroot().find("testcase/failure") is None


# --- the README's examples -----------------------------------------------------------------

def readme_ci_commands() -> list[str]:
    cmds = re.findall(r"^\s*(?:- run: |- )?(tcpflow-explain --summary .*traffic\.pcap)\s*$", README, re.M)
    assert len(cmds) >= 3, "README CI examples not found"
    return sorted(set(cmds))


@pytest.mark.parametrize("cmd", readme_ci_commands())
def test_readme_ci_examples(cmd, tmp_path):
    def go(capture):
        argv = shlex.split(cmd.replace("traffic.pcap", str(capture)).replace("report.xml", str(tmp_path / "r.xml")))
        assert argv[0] == "tcpflow-explain"
        return subprocess.run([sys.executable, "-m", "tcptrace_py", *argv[1:]], capture_output=True, text=True,
                              cwd=ROOT, timeout=60)
    ok = go(SEED)
    assert ok.returncode == 0, ok.stderr
    bad = go(RESET)
    assert bad.returncode == 1
    assert re.search(r"policy: connection 2 \(.*\): fail-on rst at frame 10", bad.stderr)
    _validate(tmp_path / "r.xml")


def test_readme_python_api_example(monkeypatch, capsys):
    block = re.search(r"## Python API.*?```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.chdir(ROOT)
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("1 ")


def test_readme_toml_policy_example(tmp_path):
    toml = re.search(r"```toml\n(.*?)```", README, re.S).group(1)
    p = tmp_path / "ci.toml"
    p.write_text(toml)
    pol = Policy.from_toml(str(p))
    assert pol.fail_on == {"rst", "syn_unanswered"} and pol.require == {"handshake", "graceful-close"}
    assert pol.max_retransmission_rate == 0.01 and pol.max_handshake_rtt == pytest.approx(0.2)

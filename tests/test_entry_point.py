"""The entry point as a process meets it: a reader that goes away, an output encoding that lacks
characters, file names that are not UTF-8, policy files that cannot be used, more --jobs than
CPUs. Each case ends with its documented exit code and at most one stderr line per problem."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_pcaps"
SEED = SAMPLES / "seed-8090.pcap"
RESET = SAMPLES / "reset-refused.pcap"
FUZZ = ROOT / "tests" / "data" / "fuzz"
XSD = ROOT / "tests" / "data" / "junit.xsd"


def cli(*args, encoding: str | None = None, **kw) -> subprocess.CompletedProcess:
    """tcpflow-explain as a process (arguments may be bytes: a file name that is not UTF-8)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TCPFLOW_EXPLAIN_DEBUG", "PYTHONIOENCODING")}
    if encoding:
        env["PYTHONIOENCODING"] = encoding
    return subprocess.run([sys.executable, "-m", "tcptrace_py", *args], capture_output=True, cwd=ROOT,
                          env=env, timeout=120, **kw)


def stderr_lines(p) -> list[str]:
    err = p.stderr.decode("utf-8")
    assert "Traceback" not in err, err
    return err.splitlines()


# --- a capture with many connections: output far larger than a pipe's buffer ---------------

def _frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst) + tcp
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip


def many_connections(n: int) -> bytes:
    """A pcap of `n` short HTTP-like connections: handshake, 10 bytes, ACK, FIN both ways."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    c, s = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    us = 0
    for i in range(n):
        p = 10000 + i
        for seg in [(c, s, p, 80, 100, 0, 0x02), (s, c, 80, p, 500, 101, 0x12), (c, s, p, 80, 101, 501, 0x10),
                    (c, s, p, 80, 101, 501, 0x18, b"x" * 10), (s, c, 80, p, 501, 111, 0x10),
                    (c, s, p, 80, 111, 501, 0x11), (s, c, 80, p, 501, 112, 0x11), (c, s, p, 80, 112, 502, 0x10)]:
            us += 1000
            fr = _frame(*seg)
            out.append(struct.pack("<IIII", 1_700_000_000 + us // 10**6, us % 10**6, len(fr), len(fr)) + fr)
    return b"".join(out)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "many.pcap"
    path.write_bytes(many_connections(2000))
    return path


PIPED = [
    ("--format", "rich", "--all"),
    ("--format", "text", "--all"),
    ("--format", "json"),
    ("--format", "jsonl"),
    ("--format", "mermaid", "--all"),
    ("--format", "svg", "--all"),
    ("--summary", "--format", "rich"),
    ("--summary", "--format", "text"),
    ("--ladder", "--format", "rich", "--all"),
    ("--ladder", "--format", "text", "--all"),
    ("--jobs", "2", "--format", "text", "--all"),
    ("--jobs", "2", "--format", "jsonl"),
]


@pytest.mark.parametrize("args", PIPED, ids=" ".join)
def test_a_reader_that_goes_away_ends_the_run_quietly(big, args):
    p = subprocess.Popen([sys.executable, "-m", "tcptrace_py", *args, str(big)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    try:
        assert p.stdout.read(200)          # the reader takes a little, then goes away (| head -c 200)
        p.stdout.close()
        err = p.stderr.read()
        code = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert (code, err) == (0, b"")


# --- policy files: exit 2, one line naming the file, the key and what was expected -------------

BAD_POLICIES = [
    (b"fail_on = 5\n", "fail_on: expected a string or an array of strings", "not an integer 5"),
    (b"require = {}\n", "require: expected a string or an array of strings", "not a table {}"),
    (b"max_handshake_rtt = true\n", "max_handshake_rtt: expected a duration", "not a boolean true"),
    (b"max_retransmission_rate = [1]\n", "max_retransmission_rate: expected a rate", "not an array"),
    (b"max_retransmission_rate = -0.5\n", "max_retransmission_rate: expected a rate", "number >= 0"),
    (b'fail_on = ["rst", 5]\n', "fail_on: expected", "not an array holding an integer"),
    (b'fail_on = [["rst"]]\n', "fail_on: expected", "not an array holding an array"),
    (b'fail_om = ["rst"]\n', "unknown key(s) fail_om", "expected fail_on, max_retransmission_rate"),
    (b'[policy]\nfail_on = ["rst"]\n', "unknown key(s) policy", "at the top level"),
    (b"[fail_on]\nrst = true\n", "fail_on: expected", "not a table"),
    (b'fail_on = [rst]\n', "not valid TOML: Invalid value", "(at line 1, column 12)"),
    (b'fail_on = "r\xffst"\n', "not UTF-8 text (byte 0xff on line 1)", "UTF-8"),
    (b'require = ["tea"]\n', "require: unknown requirement 'tea'", "graceful-close"),
    (b'max_handshake_rtt = "soon"\n', "max_handshake_rtt: not a duration: 'soon'", "200ms"),
    (b'fail_on = [1, """a\nb"""]\n', "fail_on: expected", '"a\\nb"'),
]


@pytest.mark.parametrize("body,what,expected", BAD_POLICIES, ids=lambda x: x if isinstance(x, str) else None)
def test_a_policy_file_that_cannot_be_used_is_a_usage_error(tmp_path, body, what, expected):
    path = tmp_path / "ci.toml"
    path.write_bytes(body)
    p = cli("--policy", str(path), str(SEED))
    assert p.returncode == 2 and p.stdout == b""
    [line] = stderr_lines(p)
    assert line.startswith(f"tcpflow-explain: {path}: {what}") and expected in line, line


@pytest.mark.parametrize("name,what", [("8-policy-non-list.toml", "fail_on: expected"),
                                       ("9-policy-not-utf8.toml", "not UTF-8 text")])
def test_policy_files_found_by_fuzzing(name, what):
    p = cli("--policy", str(FUZZ / name), str(SEED))
    assert p.returncode == 2 and p.stdout == b""
    [line] = stderr_lines(p)
    assert f"{FUZZ / name}: {what}" in line


def test_a_missing_or_unreadable_policy_file_is_a_usage_error(tmp_path):
    for path, why in [(tmp_path / "none.toml", "No such file"), (tmp_path, "directory")]:
        p = cli("--policy", str(path), str(SEED))
        assert p.returncode == 2
        [line] = stderr_lines(p)
        assert line.startswith(f"tcpflow-explain: {path}: cannot read the policy file") and why in line


# --- --jobs beyond the CPUs ----------------------------------------------------------------------

def test_jobs_are_capped_at_the_cpus():
    cpus = os.cpu_count() or 1
    if cpus >= 64:
        pytest.skip("64 CPUs or more")
    p = cli("--jobs", "64", "--format", "jsonl", str(SEED))
    assert p.returncode == 0
    plural = "s" if cpus != 1 else ""
    assert stderr_lines(p) == [f"tcpflow-explain: warning: --jobs 64 is more than the {cpus} CPU{plural}; "
                               f"using {cpus}"]
    assert p.stdout == cli("--format", "jsonl", str(SEED)).stdout


def test_a_huge_jobs_count_is_not_an_internal_error():
    p = cli("--jobs", "99999999999", "--summary", str(SEED))
    assert p.returncode == 0 and p.stdout
    [line] = stderr_lines(p)
    assert line.startswith("tcpflow-explain: warning: --jobs 99999999999 is more than the ")


def test_no_jobs_warning_where_one_process_is_used():
    p = cli("--jobs", "64", "--format", "rich", str(SEED))
    assert (p.returncode, p.stderr) == (0, b"")

"""The entry point as a process meets it: a reader that goes away, an output encoding that lacks
characters, file names that are not UTF-8, policy files that cannot be used, more --jobs than
CPUs. Each case ends with its documented exit code and at most one stderr line per problem."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcptrace_py.render import mermaid

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


# --- any output encoding ---------------------------------------------------------------------

MODES = {
    "text": ("--format", "text"),
    "rich": ("--format", "rich"),
    "json": ("--format", "json"),
    "jsonl": ("--format", "jsonl"),
    "mermaid": ("--format", "mermaid", "--explain"),
    "svg": ("--format", "svg", "--explain"),
    "summary": ("--summary", "--format", "text"),
    "summary-rich": ("--summary", "--format", "rich"),
    "ladder": ("--ladder", "--format", "text"),
    "ladder-rich": ("--ladder", "--format", "rich"),
    "explain": ("--format", "text", "--explain"),
    "zh": ("--format", "text", "--lang", "zh", "--explain"),
    "ladder-zh": ("--ladder", "--format", "text", "--lang", "zh", "--explain"),
    "mermaid-zh": ("--format", "mermaid", "--lang", "zh", "--explain"),
    "svg-zh": ("--format", "svg", "--lang", "zh", "--explain"),
}


def check_well_formed(mode: str, text: str) -> None:
    if mode in ("json",):
        json.loads(text)
    elif mode == "jsonl":
        assert all(json.loads(line)["type"] for line in text.splitlines())
    elif mode.startswith("svg"):
        ET.fromstring(text.encode("utf-8"))
    elif mode.startswith("mermaid"):
        assert mermaid.check(text) == []


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_format_writes_to_any_encoding(mode, encoding):
    p = cli(*MODES[mode], str(SEED), encoding=encoding)
    assert (p.returncode, p.stderr) == (0, b""), p.stderr
    text = p.stdout.decode(encoding)               # written in the stream's encoding, nothing else
    assert text.strip()
    check_well_formed(mode, text)
    if mode in ("json", "jsonl", "svg", "svg-zh", "mermaid", "mermaid-zh"):
        assert p.stdout.isascii()                  # files read as UTF-8: ASCII reads the same in any
    if mode == "text":
        # the typographic characters as --ascii writes them
        assert "client sends bytes 1-97 (97 bytes)" in text and "handshake RTT 36 us" in text
        assert p.stdout == cli("--format", "text", "--ascii", str(SEED)).stdout
    if mode == "ladder":
        assert "+- [S] seq=0 ---" in text and "|<---" in text
    if mode == "zh":
        assert "\\u8fde\\u63a5 1" in text          # 连接 1: Chinese as backslash escapes


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("mode", ["json", "jsonl", "svg-zh"])
def test_machine_formats_say_the_same_in_any_encoding(mode, encoding):
    utf8 = cli(*MODES[mode], str(SEED), encoding="utf-8").stdout.decode("utf-8")
    other = cli(*MODES[mode], str(SEED), encoding=encoding).stdout.decode(encoding)
    assert utf8 != other
    if mode == "json":
        assert json.loads(other) == json.loads(utf8)
    elif mode == "jsonl":
        assert [json.loads(x) for x in other.splitlines()] == [json.loads(x) for x in utf8.splitlines()]
    else:
        assert ET.tostring(ET.fromstring(other)) == ET.tostring(ET.fromstring(utf8.encode("utf-8")))


def test_utf8_output_is_unchanged_in_a_process():
    golden = (ROOT / "tests" / "golden" / "seed-8090.pcap.txt").read_bytes()
    p = cli("--format", "text", "--all", "--max-packets", "0", "sample_pcaps/seed-8090.pcap", encoding="utf-8")
    assert (p.returncode, p.stdout) == (0, golden)


@pytest.mark.parametrize("sample", [SEED, RESET, SAMPLES / "retransmission.pcap"], ids=lambda p: p.name)
@pytest.mark.parametrize("mode", ["text", "rich", "summary", "summary-rich", "ladder", "ladder-rich"])
def test_ascii_is_ascii_in_every_text_view(mode, sample):
    p = cli(*MODES[mode], "--ascii", "--explain", "--all", str(sample), encoding="utf-8")
    assert p.returncode == 0
    assert p.stdout.isascii(), sorted({ch for ch in p.stdout.decode() if not ch.isascii()})


def test_messages_on_stderr_follow_its_encoding():
    p = cli("--summary", "--fail-on", "rst", str(RESET), encoding="ascii")
    assert p.returncode == 1
    err = p.stderr.decode("ascii")
    assert ": 1 x rst (error): " in err


# --- file names that are not UTF-8 -------------------------------------------------------------

@pytest.fixture
def odd(tmp_path) -> bytes:
    """A copy of a sample capture whose name has a byte that is not UTF-8 (x\\xff.pcap)."""
    path = os.fsencode(tmp_path) + b"/x\xff.pcap"
    try:
        with open(path, "wb") as f:
            f.write(RESET.read_bytes())
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    return path


@pytest.mark.parametrize("encoding", [None, "utf-8"])       # the locale's, and strict UTF-8
@pytest.mark.parametrize("mode", ["text", "rich", "json", "jsonl", "mermaid", "svg", "summary", "ladder"])
def test_a_file_name_that_is_not_utf8_is_written_safely(odd, mode, encoding):
    p = cli(*MODES[mode], odd, encoding=encoding)
    assert (p.returncode, p.stderr) == (0, b""), p.stderr
    text = p.stdout.decode("utf-8")
    check_well_formed(mode, text)
    if mode in ("text", "summary"):
        assert "x\\xff.pcap" in text
    if mode in ("json", "jsonl"):
        if mode == "json":
            capture = json.loads(text)["capture"]
        else:
            [capture] = [d for d in map(json.loads, text.splitlines()) if d["type"] == "capture"]
        assert capture["path"].endswith("/x\\xff.pcap")


def test_junit_report_names_a_file_that_is_not_utf8(odd, tmp_path):
    report = tmp_path / "r.xml"
    p = cli("--summary", "--fail-on", "rst", "--junit", str(report), odd)
    assert p.returncode == 1
    assert all(line.startswith("tcpflow-explain: policy: ") for line in stderr_lines(p))
    root = ET.parse(report).getroot()
    assert root.get("name").endswith("x\\xff.pcap") and root.get("failures") == "2"
    lxml = pytest.importorskip("lxml.etree")
    schema = lxml.XMLSchema(lxml.parse(str(XSD)))
    assert schema.validate(lxml.parse(str(report))), schema.error_log


@pytest.mark.parametrize("encoding", [None, "ascii"])
def test_errors_naming_a_file_that_is_not_utf8(tmp_path, encoding):
    missing = os.fsencode(tmp_path) + b"/nope\xff.pcap"
    p = cli(missing, encoding=encoding)
    assert p.returncode == 3
    assert len(stderr_lines(p)) == 1 and "nope\\xff.pcap: no such file" in stderr_lines(p)[0]
    p = cli("--policy", os.fsencode(tmp_path) + b"/ci\xff.toml", str(SEED), encoding=encoding)
    assert p.returncode == 2
    assert len(stderr_lines(p)) == 1 and "ci\\xff.toml: cannot read" in stderr_lines(p)[0]


def test_a_message_is_one_line_whatever_the_file_name(tmp_path):
    p = cli(str(tmp_path / "two\nlines.pcap"))
    assert p.returncode == 3 and len(stderr_lines(p)) == 1 and "two\\x0alines.pcap" in p.stderr.decode()


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

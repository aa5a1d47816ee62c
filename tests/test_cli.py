"""The command line as a user meets it: golden outputs, the JSON contract, bad input, exit codes."""
from __future__ import annotations

import gzip
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcptrace_py.cli import Exit, main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_pcaps"
GOLDEN = ROOT / "tests" / "golden"
SEED = SAMPLES / "seed-8090.pcap"

sys.path.insert(0, str(ROOT / "tests"))
from update_golden import FORMATS, render, samples  # noqa: E402
from wellformed import assert_well_formed, mode_of  # noqa: E402


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


# --- golden files --------------------------------------------------------------------

@pytest.mark.parametrize("sample", samples(), ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_golden(sample, fmt):
    expected = (GOLDEN / f"{sample.name}.{fmt}").read_text(encoding="utf-8")
    assert_well_formed("json" if fmt == "json" else "text", expected)
    assert render(sample, fmt) == expected, (
        f"output of {sample.name} ({fmt}) changed; if on purpose: python tests/update_golden.py")


def test_every_sample_has_golden_files_and_docs():
    doc = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for s in samples():
        for fmt in FORMATS:
            assert (GOLDEN / f"{s.name}.{fmt}").exists()
        assert s.name in doc, f"{s.name} is not documented in sample_pcaps/README.md"


# --- the seed's walkthrough ----------------------------------------------------------

def test_seed_capture_tells_the_seed_story():
    out = run("--format", "text", str(SEED)).output
    lines = out.splitlines()
    assert re.search(r"Connection 1: 127\.0\.0\.1:\d+ \(client\) -> 127\.0\.0\.1:8090 \(server\)", lines[0])
    for needle in [
        "handshake 1/3: client asks to open a connection, ISN",
        "SYN consumes one sequence number",
        "handshake 2/3: server accepts",
        "ack 1 = client's ISN",
        "handshake 3/3: client acknowledges the server's SYN (ack 1); both sides are now ESTABLISHED",
        "client sends bytes 1–97 (97 bytes)",
        "server acknowledges everything up to byte 97 and expects byte 98 next (ack 98 = 1 + 97 bytes received)",
        "server sends bytes 1–4029 (4029 bytes)",
        "client sends bytes 98–194 (97 bytes)",
        "close 1/3: client is done sending and closes first (active close)",
        "close 2/3: server acknowledges the client's FIN (ack 196) and sends its own FIN in the same segment",
        "close 3/3: client acknowledges the server's FIN (ack ",
        "client enters TIME_WAIT and will wait 2×MSL",
        "opened: opened with a complete three-way handshake, handshake RTT",
        "ended:  closed gracefully with FIN on both sides; the client closed first (active close)",
        "final state: client TIME_WAIT, server CLOSED",
    ]:
        assert needle in out, needle
    # tcpdump's notation: data ranges are end-exclusive, flags bracketed
    assert "[P.]  seq 1:98  ack 1" in out
    assert "[F.]  seq 195  ack " in out
    # the correct rule: Ack = Seq + bytes, never + 1 for data
    assert "+ 1 for data" not in out


# --- JSON contract -------------------------------------------------------------------

def test_json_contract():
    doc = json.loads(run("--format", "json", str(SEED)).output)
    assert doc["schema"] == "tcpflow-explain/1"
    (flow,) = doc["flows"]
    for key in ("id", "orig", "resp", "final_state", "packets", "anomalies", "conn_state", "history",
                "opened", "ended", "closer", "handshake_rtt", "orig_bytes", "resp_bytes"):
        assert key in flow, key
    assert flow["orig"]["ip"] == "127.0.0.1" and flow["resp"]["port"] == 8090
    assert flow["final_state"] == {"orig": "TIME_WAIT", "resp": "CLOSED"}
    pk = flow["packets"]
    assert [p["frame"] for p in pk] == list(range(1, 15))
    for p in pk:
        assert set(p) >= {"frame", "ts", "dir", "flags", "seq", "ack", "len", "win", "state", "anomalies", "note"}
        assert p["dir"] in ("orig", "resp")
        assert set(p["state"]) == {"orig", "resp"}
    assert pk[0]["flags"] == "S" and pk[0]["ack"] is None and pk[0]["seq"] == 0
    assert pk[1]["flags"] == "S." and pk[1]["ack"] == 1
    assert pk[3]["len"] == 97 and pk[4]["ack"] == 98
    assert doc["capture"]["frames"] == 14 and doc["totals"]["flows"] == 1


def test_jsonl_every_line_has_a_type():
    out = run("--format", "jsonl", str(SAMPLES / "multi.pcapng")).output.splitlines()
    objs = [json.loads(line) for line in out]
    assert all("type" in o for o in objs)
    types = [o["type"] for o in objs]
    assert types.count("flow") == 4 and types[-2:] == ["capture", "totals"]
    # a flow's packets come before its flow line
    first_flow = types.index("flow")
    assert all(o["flow"] == objs[first_flow]["id"] for o in objs[:first_flow])


def test_flow_selection():
    doc = json.loads(run("--format", "json", "--flow", "2", str(SAMPLES / "multi.pcapng")).output)
    assert [f["id"] for f in doc["flows"]] == [2]


# --- reading from a pipe -------------------------------------------------------------

def test_stdin_and_gzip_by_content(tmp_path):
    gz = tmp_path / "capture.bin"           # no telling name: detected by content
    gz.write_bytes(gzip.compress(SEED.read_bytes()))
    a = json.loads(run("--format", "json", str(SEED)).output)
    b = json.loads(run("--format", "json", str(gz)).output)
    c = json.loads(run("--format", "json", "-", input=SEED.read_bytes()).output)
    assert a["flows"] == b["flows"] == c["flows"]
    assert b["capture"]["format"] == "gzip+pcap"


# --- bad input: one line on stderr, a documented exit code, never a traceback --------

def _cli(args, stdin=None):
    """The CLI in a new process; whatever it writes on stdout must be well formed for its mode."""
    p = subprocess.run([sys.executable, "-m", "tcptrace_py", *args], capture_output=True,
                       input=stdin, cwd=ROOT, timeout=60)
    if p.stdout:
        assert_well_formed(mode_of(args), p.stdout)
    return p


def _one_line_error(p):
    err = p.stderr.decode()
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines and all(x.startswith("tcpflow-explain: ") for x in lines), err
    return err


@pytest.mark.parametrize("name,content,needle", [
    ("missing.pcap", None, "no such file"),
    ("empty.pcap", b"", "the file is empty"),
    ("notes.txt", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "looks like text"),
    ("picture.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image"),
    ("header.pcap", SEED.read_bytes()[:20], "header is cut off"),
])
def test_unreadable_capture(tmp_path, name, content, needle):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    p = _cli(["--format", "json", str(path)])
    assert p.returncode == Exit.UNREADABLE
    assert needle in _one_line_error(p)
    assert p.stdout == b""


def test_directory_without_captures(tmp_path):
    (tmp_path / "notes.txt").write_text("not a capture\n")
    p = _cli([str(tmp_path)])
    assert p.returncode == Exit.UNREADABLE
    assert "no capture files in this directory" in p.stderr.decode()
    assert "notes.txt" in p.stderr.decode()          # what was left out, by name


def test_capture_cut_mid_record_keeps_what_was_read(tmp_path):
    data = SEED.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:2000])
    p = _cli(["--format", "json", str(cut)])
    assert p.returncode == Exit.PARTIAL
    err = _one_line_error(p)
    assert "capture ends early" in err and "frame 6" in err and "byte offset 2000" in err
    doc = json.loads(p.stdout)
    assert [pk["frame"] for pk in doc["flows"][0]["packets"]] == [1, 2, 3, 4, 5]
    assert doc["capture"]["warnings"][0]["kind"] == "truncated"


def test_absurd_record_length_stops_reading_safely(tmp_path):
    data = bytearray(SEED.read_bytes())
    # frame 3's record header: after the 24-byte file header and two records
    off = 24
    for _ in range(2):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        off += 16 + caplen
    struct.pack_into("<I", data, off + 8, 50_000_000)
    bad = tmp_path / "absurd.pcap"
    bad.write_bytes(bytes(data))
    p = _cli(["--format", "json", str(bad)])
    assert p.returncode == Exit.PARTIAL
    assert "claims 50000000 captured bytes" in _one_line_error(p)
    doc = json.loads(p.stdout)
    assert [pk["frame"] for pk in doc["flows"][0]["packets"]] == [1, 2]


def test_pcapng_bad_block_length(tmp_path):
    data = bytearray((SAMPLES / "multi.pcapng").read_bytes())
    # the first block after the section header and interface descriptions
    off = 0
    for _ in range(3):
        off += struct.unpack_from("<I", data, off + 4)[0]
    struct.pack_into("<I", data, off + 4, 7)
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(bytes(data))
    p = _cli(["--format", "json", str(bad)])
    assert p.returncode == Exit.PARTIAL
    assert "bad length" in _one_line_error(p)
    json.loads(p.stdout)  # still a complete JSON document


def _pcapng_blocks(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each block of a little-endian pcapng."""
    out, off = [], 0
    while off + 8 <= len(data):
        n = struct.unpack_from("<I", data, off + 4)[0]
        out.append((off, n))
        off += n
    return out


@pytest.mark.parametrize("btype,blen,what", [
    (6, 12, "enhanced packet block"), (6, 28, "enhanced packet block"), (2, 16, "packet block"),
    (3, 12, "simple packet block"), (1, 16, "interface description")])
def test_pcapng_block_too_short_for_its_fields_is_skipped(tmp_path, btype, blen, what):
    """A block whose length is consistent (both copies agree) but too short for the fixed fields
    of its type is skipped with one warning; the blocks after it are still read."""
    data = (SAMPLES / "multi.pcapng").read_bytes()
    blocks = _pcapng_blocks(data)
    packets = [(o, n) for o, n in blocks if struct.unpack_from("<I", data, o)[0] == 6]
    off = packets[3][0]
    short = struct.pack("<II", btype, blen) + bytes(blen - 12) + struct.pack("<I", blen)
    bad = tmp_path / "short.pcapng"
    bad.write_bytes(data[:off] + short + data[off:])
    p = _cli(["--format", "json", str(bad)])
    assert p.returncode == Exit.PARTIAL
    err = _one_line_error(p)
    assert err.count("\n") == 1 and f"pcapng {what} at byte offset {off} is {blen} bytes" in err
    good = json.loads(_cli(["--format", "json", str(SAMPLES / "multi.pcapng")]).stdout)
    doc = json.loads(p.stdout)
    n_good = sum(len(f["packets"]) for f in good["flows"])
    n_bad = sum(len(f["packets"]) for f in doc["flows"])
    assert n_bad == n_good            # every real packet, before and after the short block


def test_pcapng_trailing_length_that_disagrees_stops_reading(tmp_path):
    data = bytearray((SAMPLES / "multi.pcapng").read_bytes())
    off, n = _pcapng_blocks(bytes(data))[6]
    struct.pack_into("<I", data, off + n - 4, n + 4)
    bad = tmp_path / "trailer.pcapng"
    bad.write_bytes(bytes(data))
    p = _cli(["--format", "jsonl", str(bad)])
    assert p.returncode == Exit.PARTIAL
    assert f"pcapng block at byte offset {off} says it is {n} bytes long, but its trailing length " \
           "disagrees" in _one_line_error(p)


def test_pcapng_option_past_its_block_is_not_read_from_the_next(tmp_path):
    """An if_tsresol option whose length runs past the interface block ends the option walk: the
    interface keeps microseconds, the times are those of the good file."""
    data = bytearray((SAMPLES / "multi.pcapng").read_bytes())
    off, n = next((o, m) for o, m in _pcapng_blocks(bytes(data)) if struct.unpack_from("<I", data, o)[0] == 1)
    # the first option of the IDB: code 9 (if_tsresol) with a length far past the block end
    struct.pack_into("<HH", data, off + 16, 9, 200)
    bad = tmp_path / "opt.pcapng"
    bad.write_bytes(bytes(data))
    p = _cli(["--format", "json", str(bad)])
    assert p.returncode == Exit.OK and p.stderr == b"", p.stderr
    good = json.loads(_cli(["--format", "json", str(SAMPLES / "multi.pcapng")]).stdout)
    times = [[pk["ts"] for pk in f["packets"]] for f in json.loads(p.stdout)["flows"]]
    assert times == [[pk["ts"] for pk in f["packets"]] for f in good["flows"]]


def test_truncated_gzip(tmp_path):
    bad = tmp_path / "cut.pcap.gz"
    bad.write_bytes(gzip.compress(SEED.read_bytes())[:400])
    p = _cli(["--format", "json", str(bad)])
    assert p.returncode == Exit.PARTIAL
    assert "compressed data is corrupt" in _one_line_error(p)


def test_usage_error_exit_code():
    assert run("--format", "xml", str(SEED)).exit_code == Exit.USAGE
    assert run().exit_code == Exit.USAGE


def test_broken_pipe_is_quiet():
    p = subprocess.run(f"{sys.executable} -m tcptrace_py --format jsonl --all "
                       f"sample_pcaps/zero-window.pcap | head -c 10", shell=True,
                       capture_output=True, cwd=ROOT, timeout=60)
    assert b"Traceback" not in p.stderr and b"Error" not in p.stderr, p.stderr


# --- docs ----------------------------------------------------------------------------

def test_readme_names_every_option():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for param in main.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert f"`{opt}" in readme, f"README does not document {opt}"


def test_readme_exit_codes_match_enum():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in Exit:
        assert re.search(rf"^\|\s*{int(code)}\s*\|", readme, re.M), f"exit code {int(code)} missing in README"


def test_unsupported_link_type_for_the_whole_file(tmp_path):
    data = bytearray(SEED.read_bytes())
    struct.pack_into("<I", data, 20, 105)                  # IEEE 802.11
    bad = tmp_path / "wifi.pcap"
    bad.write_bytes(bytes(data))
    p = _cli(["--format", "json", str(bad)])
    assert p.returncode == Exit.UNREADABLE and p.stdout == b""
    assert "unsupported link type: link type 105 (IEEE 802.11)" in _one_line_error(p)


def test_malformed_tcp_header_is_counted_and_analysis_goes_on(tmp_path):
    data = bytearray(SEED.read_bytes())
    off = 24
    for _ in range(4):                                      # frame 5's record
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    tcp = off + 16 + 14 + 20                                # Ethernet, then a 20-byte IPv4 header
    data[tcp + 12] = 0x20                                   # data offset 2 words: less than 20 bytes
    bad = tmp_path / "bad-offset.pcap"
    bad.write_bytes(bytes(data))
    p = _cli(["--format", "json", str(bad)])
    assert p.returncode == Exit.OK
    doc = json.loads(p.stdout)
    assert doc["capture"]["skipped"]["undecodable"] == {"bad TCP data offset": 1}
    frames = [pk["frame"] for pk in doc["flows"][0]["packets"]]
    assert frames == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert doc["flows"][0]["ended"] == "graceful"


def test_snaplen_cut_packets_keep_their_length():
    doc = json.loads(run("--format", "json", str(SAMPLES / "retransmission.pcap")).output)
    cut = [p for f in doc["flows"] for p in f["packets"] if p.get("cut")]
    assert cut and all(p["len"] > 96 - 14 - 20 - 32 for p in cut)   # -s 96: at most 30 payload bytes kept
    text = run("--format", "text", "--flow", "1", str(SAMPLES / "retransmission.pcap")).output
    assert "snaplen" in text


def test_internal_errors_are_one_line(monkeypatch):
    """Even a bug of ours ends in one line and exit 5, never a traceback."""
    code = ("import tcptrace_py.core.pipeline as p\n"
            "def boom(*a, **k): raise ZeroDivisionError('simulated')\n"
            "p.finish = boom\n"
            "import sys; sys.argv = ['tcpflow-explain', 'sample_pcaps/seed-8090.pcap']\n"
            "from tcptrace_py.cli import run; run()\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert p.returncode == Exit.INTERNAL == 5
    err = _one_line_error(p)
    assert "internal error: ZeroDivisionError: simulated" in err


def test_progress_bar_only_on_a_terminal(tmp_path):
    """A long run shows a progress bar when stderr is a terminal, and nothing when it is not."""
    import pty
    big = tmp_path / "big.pcap"
    data = SEED.read_bytes()
    recs, off = [], 24
    while off < len(data):
        n = struct.unpack_from("<I", data, off + 8)[0]
        recs.append(bytearray(data[off:off + 16 + n]))
        off += 16 + n
    with open(big, "wb") as f:
        f.write(data[:24])
        for i in range(3000):                               # 42,000 frames: new client ports
            for r in recs:
                r2 = bytearray(r)
                port = 20000 + i
                sport_at, dport_at = 16 + 14 + 20, 16 + 14 + 22
                if struct.unpack_from("!H", r2, sport_at)[0] != 8090:
                    struct.pack_into("!H", r2, sport_at, port)
                else:
                    struct.pack_into("!H", r2, dport_at, port)
                f.write(r2)
    master, slave = pty.openpty()
    p = subprocess.run([sys.executable, "-m", "tcptrace_py", "--summary", str(big)], stdout=subprocess.DEVNULL,
                       stderr=slave, cwd=ROOT, timeout=300, env={**os.environ, "COLUMNS": "120"})
    os.close(slave)
    seen = b""
    try:
        while True:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    os.close(master)
    assert p.returncode == 0
    assert b"connections" in seen and b"packets/s" in seen, seen[-300:]
    q = subprocess.run([sys.executable, "-m", "tcptrace_py", "--summary", str(big)], capture_output=True,
                       cwd=ROOT, timeout=300)
    assert q.returncode == 0 and q.stderr == b""


def test_readme_lists_every_anomaly_with_its_severity():
    """The README's anomaly table names every anomaly id there is, and its severity lists say what
    `anomalies.SEVERITY` says."""
    from tcptrace_py.core.detectors import SEVERITY
    doc = (ROOT / "README.md").read_text(encoding="utf-8")
    table = doc[doc.index("\n## Anomalies"):doc.index("\n## Agreement with tshark")]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))
    assert listed == set(SEVERITY), (set(SEVERITY) - listed, listed - set(SEVERITY))
    para = doc[doc.index("Anomaly severities:"):]
    para = para[:para.index("\n\n")]
    named = {}
    for sev, ids in re.findall(r"`(error|info|warning)` — ([^;]*)", para):
        for k in re.findall(r"`([a-z_]+)`", ids):
            named[k] = sev
    assert "all others" in para
    for k, sev in SEVERITY.items():
        assert named.get(k, "warning") == sev, (k, sev, named.get(k))

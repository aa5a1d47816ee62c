"""A connection's packets past a bound wait on disk (packetlog), a long connection's --jobs piece
waits in a file (render.spool), and the output is the same bytes as with everything in memory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcptrace_py.core import packetlog

from tcptrace_py.engine import parallel
from tcptrace_py.cli import main
from tcptrace_py.core.packetlog import SPILL, PacketLog
from tcptrace_py.core.records import new_packet
from tcptrace_py.render.spool import Spooled, spool, write_piece
from wellformed import assert_well_formed, mode_of

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "sample_pcaps").glob("*.pcap*"))
CORPUS = ROOT.parent / "shared" / "corpus"
# long connections, many at once, retransmissions, a zero window, resets, IPv6
CORPUS_PICKS = ["zeek/http-qinq-0.pcap", "dpkt/nb6-http.pcap", "tcpdump/tcp-fast-open.pcap"]

MODES = [
    ["--format", "json"],
    ["--format", "jsonl"],
    ["--format", "text", "--all", "--max-packets", "0"],
    ["--format", "text", "--all"],
    ["--format", "text", "--all", "--explain", "--lang", "zh"],
    ["--format", "text", "--ladder", "--all"],
    ["--format", "mermaid", "--all"],
    ["--format", "svg", "--all", "--unfold"],
    ["--format", "json", "--fail-on", "warning"],
]


def _pkt(frame: int, **kw):
    p = new_packet(frame, frame / 10, b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", 40000, 80, 1000 + frame,
                   5000, 0x18, 512, frame % 7, 20, b"\x01\x01\x08\x0a" + bytes(8), frame, 64, False, False,
                   frame)
    p.flow, p.dir, p.rseq, p.rack = 3, frame % 2, frame, frame * 2
    p.anomalies = kw.get("an")
    p.info = kw.get("info")
    return p


def _fields(p):
    return packetlog._row(p)


@pytest.fixture
def tiny(monkeypatch):
    """Logs spill every 5 packets (the budget out of the way: other tests' flows may be alive)."""
    monkeypatch.setattr(SPILL, "per_log", 5)
    monkeypatch.setattr(SPILL, "budget", 1 << 40)
    monkeypatch.setattr(SPILL, "min_spill", 2)


def test_a_log_spills_and_reads_back_every_field(tiny):
    log = PacketLog()
    made = [_pkt(i, an={"retransmission": (i - 1, 0.25, "first")} if i % 3 == 0 else None,
                 info=("duplicate", 1) if i == 4 else None) for i in range(1, 14)]
    for p in made:
        log.append(p)
    assert len(log) == 13 and log.spilled == 10 and log.in_memory() == 3 and len(log.chunks) == 2
    back = list(log)
    assert [_fields(p) for p in back] == [_fields(p) for p in made]
    assert [_fields(p) for p in log] == [_fields(p) for p in made]       # a second pass: the same
    assert [_fields(log[i]) for i in range(13)] == [_fields(p) for p in made]
    assert [_fields(log[i]) for i in range(-13, 0)] == [_fields(p) for p in made]
    assert [_fields(p) for p in log[3:9]] == [_fields(p) for p in made[3:9]]
    with pytest.raises(IndexError):
        log[13]
    with pytest.raises(IndexError):
        log[-14]
    assert bool(log) and not bool(PacketLog())


def test_update_changes_spilled_packets_too(tiny):
    log = PacketLog()
    for i in range(1, 9):
        log.append(_pkt(i))

    def bump(p):
        p.flow = 99
    log.update(bump)
    assert [p.flow for p in log] == [99] * 8 and [p.frame for p in log] == list(range(1, 9))


def test_the_spill_file_is_emptied_when_no_log_uses_it(tiny):
    a, b = PacketLog(), PacketLog()
    for i in range(1, 7):
        a.append(_pkt(i))
        b.append(_pkt(i))
    assert SPILL.f is not None and SPILL.end > 0 and SPILL.live >= 2
    held = SPILL.held
    a.close()
    assert SPILL.end > 0 and SPILL.held == held - 1
    del b
    assert SPILL.live == 0 and SPILL.end == 0 and os.fstat(SPILL.f.fileno()).st_size == 0


def test_the_budget_makes_the_appending_log_spill(monkeypatch):
    monkeypatch.setattr(SPILL, "per_log", 1000)
    monkeypatch.setattr(SPILL, "budget", SPILL.held + 10)
    monkeypatch.setattr(SPILL, "min_spill", 4)
    logs = [PacketLog() for _ in range(5)]
    for i in range(1, 5):
        for log in logs:
            log.append(_pkt(i))
    assert SPILL.held <= SPILL.budget + 4
    assert any(log.spilled for log in logs)
    assert all(len(log) == 4 for log in logs)


def _captures():
    caps = list(SAMPLES)
    caps += [CORPUS / n for n in CORPUS_PICKS if (CORPUS / n).exists()]
    return caps


def _run(args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "policy:" in r.stderr or r.stderr == "", r.stderr
    return r.exit_code, r.stdout_bytes


@pytest.mark.parametrize("capture", _captures(), ids=lambda p: p.name)
def test_spilled_logs_give_the_same_output(capture, monkeypatch):
    """Every mode, with every connection's packets spilled to disk a few at a time, writes the
    same bytes as with all packets in memory."""
    ref = [_run([*m, capture]) for m in MODES]
    monkeypatch.setattr(SPILL, "per_log", 3)
    monkeypatch.setattr(SPILL, "budget", 8)
    monkeypatch.setattr(SPILL, "min_spill", 2)
    for m, want in zip(MODES, ref):
        got = _run([*m, capture])
        assert got == want, f"{capture.name} {' '.join(m)}"
        assert_well_formed(mode_of(m), got[1])


@pytest.mark.skipif(not parallel.available(), reason="needs fork")
@pytest.mark.parametrize("args", [["--format", "json"], ["--format", "jsonl"],
                                  ["--format", "text", "--all", "--max-packets", "0"],
                                  ["--format", "text", "--limit", "2"]], ids=lambda a: " ".join(a))
def test_jobs_spooled_pieces_give_the_same_output(args, monkeypatch, tmp_path):
    """--jobs 2 with every connection of more than 4 packets rendered to a file by its worker
    (and spilled to disk while tracked): the same output as one process, and no file left."""
    capture = ROOT / "sample_pcaps" / "multi.pcapng"
    want = _run([*args, capture])
    monkeypatch.setattr(parallel, "SPOOL_PACKETS", 4)
    monkeypatch.setattr(SPILL, "per_log", 3)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    got = _run([*args, "--jobs", "2", capture])
    assert got == want
    assert list(tmp_path.iterdir()) == []


def test_spool_writes_a_piece_and_removes_its_file(tmp_path, monkeypatch):
    import io
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    piece = spool(lambda write: [write("bytes 1–97 "), write("ok\n" * 100000)], "utf-8")
    assert isinstance(piece, Spooled) and piece.size == len(("bytes 1–97 " + "ok\n" * 100000).encode())
    raw = io.BytesIO()
    write_piece(raw, piece)
    assert raw.getvalue().decode() == "bytes 1–97 " + "ok\n" * 100000
    assert list(tmp_path.iterdir()) == []
    text = io.StringIO()
    write_piece(text, spool(lambda write: write("–" * 700000), "utf-8"))   # chunks cut characters
    assert text.getvalue() == "–" * 700000

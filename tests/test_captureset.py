"""Capture sets: a capture split into files (editcap -c by count, -i by time, and our own pcap
splitter) analysed as a set gives the connections, verdicts and per-packet records of the
unsplit capture — the same ids and anomalies — with only where each frame is from added; bad
files in a set are named and the rest is analysed; --each-file; --jobs on a set."""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tcptrace_py.core.captureset import CaptureSet, FrameMap, FileInfo, expand, open_capture
from tcptrace_py.core.capture import CaptureReader
from tcptrace_py.core.records import CaptureError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "sample_pcaps").glob("*.pcap*"))
CORPUS = ROOT.parent / "shared" / "corpus"
# corpus captures with many connections, port reuse, IPv6, odd link layers, several interfaces
CORPUS_PICKS = ["zeek/http-qinq-0.pcap", "dpkt/nb6-http.pcap", "gopacket/test_loopback.pcap",
                "zeek/smtp.pcap", "pcapplusplus/many_interfaces-1.pcapng", "zeek/http/206_example_b.pcap",
                "zeek/tcp/reassembly.pcap"]
EDITCAP = shutil.which("editcap")
MERGECAP = shutil.which("mergecap")
FORMATS = [("--format", "json"), ("--format", "jsonl"), ("--format", "text", "--all", "--max-packets", "0"),
           ("--summary", "--format", "json"), ("--summary", "--format", "text")]


def run(*args, cwd=ROOT):
    p = subprocess.run([sys.executable, "-m", "tcptrace_py", *map(str, args)], cwd=cwd,
                       capture_output=True, timeout=300)
    assert b"Traceback" not in p.stderr, p.stderr.decode()
    return p.returncode, p.stdout.decode(), p.stderr.decode()


# --- making sets -------------------------------------------------------------------------------

def split_pcap(src: Path, dest: Path, every: int) -> list[Path]:
    """Our own splitter for pcap files (no Wireshark needed): every `every` records a new file,
    each with the original file header; the records copied byte for byte."""
    data = src.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    head, pos, out, chunk, n = data[:24], 24, [], [], 0
    while pos + 16 <= len(data):
        caplen = struct.unpack_from(endian + "I", data, pos + 8)[0]
        chunk.append(data[pos:pos + 16 + caplen])
        pos += 16 + caplen
        if len(chunk) == every:
            out.append(chunk)
            chunk = []
    if chunk:
        out.append(chunk)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, recs in enumerate(out):
        p = dest / f"part-{i:03d}.pcap"
        p.write_bytes(head + b"".join(recs))
        paths.append(p)
    return paths


def editcap_split(src: Path, dest: Path, how: str, value) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([EDITCAP, how, str(value), str(src), str(dest / "part.pcapng")], check=True,
                   capture_output=True)
    return sorted(dest.iterdir())


def frames_of(path: Path) -> int:
    return sum(1 for _ in CaptureReader(str(path)))


def monotonic(path: Path) -> bool:
    last = None
    for _f, ts, *_ in CaptureReader(str(path)):
        if last is not None and ts < last:
            return False
        last = ts
    return True


def sets_of(src: Path, tmp: Path) -> list[tuple[str, list[Path]]]:
    """The ways to split `src` into a set of at least two files."""
    n = frames_of(src)
    every = max(1, n // 4)
    out = []
    if src.suffix == ".pcap" and n >= 2:
        out.append(("ours -c", split_pcap(src, tmp / "ours", every)))
    if EDITCAP and n >= 2:
        out.append(("editcap -c", editcap_split(src, tmp / "c", "-c", every)))
        ts = [t for _f, t, *_ in CaptureReader(str(src))]
        span = max(ts) - min(ts)
        if span > 0:
            step = max(1, int(span / 3) + 1)       # editcap -i takes whole seconds
            parts = editcap_split(src, tmp / "i", "-i", step)
            if len(parts) > 1:
                out.append(("editcap -i", parts))
    return [(name, parts) for name, parts in out if len(parts) > 1]


# --- what may differ: where frames are from ----------------------------------------------------

def _unplace(d: dict) -> dict:
    """A packet or anomaly record of a set, as the unsplit capture writes it: frame = set frame."""
    if "set_frame" in d:
        d = dict(d)
        d["frame"] = d.pop("set_frame")
        d.pop("file")
    return d


def _flow(d: dict) -> dict:
    d = dict(d)
    for k in ("first_file", "first_file_frame", "last_file", "last_file_frame"):
        d.pop(k, None)
    if "packets" in d:
        d["packets"] = [_unplace(p) for p in d["packets"]]
    d["anomalies"] = [_unplace(a) for a in d["anomalies"]]
    return d


def comparable(args, out: str):
    """The output with the capture's own description (path, files, frames read) left out, and
    every frame placed by its set number: what a set and its unsplit capture must share."""
    if "json" in args and "--summary" not in args or args == ("--summary", "--format", "json"):
        if args[-1] == "jsonl":
            pass
        else:
            doc = json.loads(out)
            return {"flows": [_flow(f) for f in doc["flows"]], "totals": doc["totals"], "scans": doc["scans"],
                    "skipped": doc["capture"]["skipped"], "tcp": doc["capture"]["tcp_packets"]}
    if "jsonl" in args:
        lines = []
        for line in out.splitlines():
            r = json.loads(line)
            if r["type"] == "capture":
                lines.append(("capture", r["skipped"], r["tcp_packets"]))
            elif r["type"] == "packet":
                lines.append(_unplace(r))
            elif r["type"] == "flow":
                lines.append(_flow(r))
            else:
                lines.append(r)
        return lines
    # text: packet lines lose their trailing file:frame, headers their "(file:frame)"; the
    # capture line and the per-file lines under it are the capture's own description
    text = []
    for line in out.splitlines():
        if re.match(r"^\S.*: (gzip\+)?(pcap|pcapng|pcap\+pcapng)[,，] ", line):
            break
        line = re.sub(r"  \S+:\d+$", "", line) if line.startswith("  #") else line
        line = re.sub(r"(first frame \d+|第一帧 \d+) \(\S+:\d+\)", r"\1", line)
        text.append(line)
    return text


def check_same(src: Path, parts: list[Path], tmp: Path) -> None:
    """The set gives what the unsplit capture gives (timestamps in order) or what mergecap's
    merge of the parts gives (always), in every format."""
    refs = []
    if monotonic(src):
        refs.append(("unsplit", src))
    if MERGECAP:
        tmp.mkdir(parents=True, exist_ok=True)
        merged = tmp / "merged.pcapng"
        subprocess.run([MERGECAP, "-w", str(merged), *map(str, parts)], check=True, capture_output=True)
        refs.append(("mergecap", merged))
    assert refs, "nothing to compare with"
    for args in FORMATS:
        code, out, err = run(*args, *parts)
        for name, ref in refs:
            rcode, rout, rerr = run(*args, ref)
            assert code == rcode, (name, args, err, rerr)
            assert comparable(args, out) == comparable(args, rout), f"{args}: set != {name} for {src.name}"


@pytest.mark.parametrize("capture", SAMPLES, ids=lambda p: p.name)
def test_split_sample_capture_is_the_same_as_a_set(capture, tmp_path):
    ways = sets_of(capture, tmp_path)
    if not ways:
        pytest.skip("too few frames to split, or no editcap for pcapng")
    for name, parts in ways:
        check_same(capture, parts, tmp_path / name.replace(" ", ""))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus")
@pytest.mark.parametrize("pick", CORPUS_PICKS)
def test_split_corpus_capture_is_the_same_as_a_set(pick, tmp_path):
    src = CORPUS / pick
    if not src.exists():
        pytest.skip(f"{pick} not in the corpus")
    ways = sets_of(src, tmp_path)
    if not ways:
        pytest.skip("too few frames to split, or no editcap for pcapng")
    for name, parts in ways:
        check_same(src, parts, tmp_path / name.replace(" ", ""))


def test_a_connection_across_files_is_one_connection(tmp_path):
    """Split a sample capture in the middle of its connections: as files analysed alone it is
    broken halves, as a set the original connections, with file:frame on each packet."""
    src = ROOT / "sample_pcaps" / "retransmission.pcap"
    parts = split_pcap(src, tmp_path, 10)
    alone = [json.loads(run("--summary", "-f", "json", p)[1])["flows"] for p in parts]
    assert sum(len(f) for f in alone) > 2                        # cut into pieces
    code, out, err = run("-f", "json", *parts)
    doc = json.loads(out)
    ref = json.loads(run("-f", "json", src)[1])
    assert code == 0 and len(doc["flows"]) == len(ref["flows"]) == 2
    assert [f["ended"] for f in doc["flows"]] == [f["ended"] for f in ref["flows"]] == ["graceful"] * 2
    # every packet's file and frame point at the record in that file
    for f in doc["flows"]:
        for p in f["packets"]:
            n = p["set_frame"]
            assert p["file"] == str(parts[(n - 1) // 10]) and p["frame"] == (n - 1) % 10 + 1
    files = doc["capture"]["files"]
    assert [x["path"] for x in files] == [str(p) for p in parts]
    assert [x["frames"] for x in files] == [frames_of(p) for p in parts]
    assert all(x["first_ts"] <= x["last_ts"] for x in files)
    text = run("-f", "text", "--all", "--max-packets", "0", *parts)[1]
    assert re.search(r"^  #11 .*  part-001\.pcap:1$", text, re.M)
    assert "first frame 1 (part-000.pcap:1)" in text
    assert re.search(r"^  part-003\.pcap: pcap, 10 frames, ", text, re.M)


def test_overlapping_files_are_merged_by_time(tmp_path):
    """Two captures whose times interleave (one per host): frames merged by timestamp, ties to
    the file named first, each file's frames in their order."""
    src = ROOT / "sample_pcaps" / "retransmission.pcap"
    data = src.read_bytes()
    recs, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        recs.append(data[pos:pos + 16 + caplen])
        pos += 16 + caplen
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(data[:24] + b"".join(recs[0::2]))       # odd frames
    b.write_bytes(data[:24] + b"".join(recs[1::2]))       # even frames
    cs = open_capture([str(a), str(b)])
    got = [(n, ts) for n, ts, *_ in cs]
    ref = [ts for _f, ts, *_ in CaptureReader(str(src))]
    assert [t for _n, t in got] == sorted(ref)
    fm = cs.frame_map
    assert [fm.where(n) for n, _t in got] == sorted(
        [(str(a), i + 1) for i in range(len(recs[0::2]))] + [(str(b), i + 1) for i in range(len(recs[1::2]))],
        key=lambda w: ref[(w[1] - 1) * 2 + (w[0] == str(b))])
    # the same output as the original (its timestamps are in order)
    assert comparable(("--format", "json"), run("-f", "json", a, b)[1]) == \
        comparable(("--format", "json"), run("-f", "json", src)[1])


def test_frame_map_runs():
    fm = FrameMap([FileInfo("a"), FileInfo("b")])
    for n, (i, local) in enumerate([(0, 1), (0, 2), (1, 1), (0, 3), (1, 2), (1, 3), (1, 4)], start=1):
        fm.add(n, i, local)
    assert [fm.where(n) for n in range(1, 8)] == [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2), ("b", 3),
                                                   ("b", 4)]
    assert len(fm.starts) == 4               # a run per switch, not per frame
    with pytest.raises(KeyError):
        fm.where(0)


# --- bad files in a set --------------------------------------------------------------------------

def _bad_set(tmp: Path) -> tuple[list[Path], dict[str, Path]]:
    parts = split_pcap(ROOT / "sample_pcaps" / "retransmission.pcap", tmp / "set", 10)
    bad = {"empty": tmp / "set" / "empty.pcap", "text": tmp / "set" / "notes.pcap",
           "cut": tmp / "set" / "part-001.pcap"}
    bad["empty"].write_bytes(b"")
    bad["text"].write_text("this is not a capture\n")
    data = bad["cut"].read_bytes()
    bad["cut"].write_bytes(data[:len(data) - 30])     # the last record cut off
    return parts, bad


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_bad_files_in_a_set_are_named_and_the_rest_analysed(tmp_path, fmt):
    parts, bad = _bad_set(tmp_path)
    code, out, err = run("-f", fmt, *parts, bad["empty"], bad["text"])
    assert code == 4, err
    lines = err.splitlines()
    assert all(x.startswith("tcpflow-explain: warning: ") for x in lines), err
    for what in ("empty", "text", "cut"):
        assert sum(str(bad[what]) in x for x in lines) == 1, (what, err)
    assert "the file is empty" in err and "looks like text" in err and "capture ends early" in err
    if fmt == "json":
        doc = json.loads(out)
        assert len(doc["flows"]) >= 2
        files = {f["path"]: f for f in doc["capture"]["files"]}
        assert files[str(bad["empty"])]["error"] and files[str(bad["text"])]["error"]
        assert files[str(bad["cut"])]["error"] is None
        assert [w["kind"] for w in files[str(bad["cut"])]["warnings"]] == ["truncated"]
        assert files[str(bad["cut"])]["frames"] == 9
    else:
        assert re.search(r"^  empty\.pcap: not read$", out, re.M)
        assert re.search(r"^  part-001\.pcap: pcap, 9 frames, .*, 1 warning$", out, re.M)


def test_no_readable_file_is_exit_3(tmp_path):
    (tmp_path / "a.pcap").write_bytes(b"")
    (tmp_path / "b.pcap").write_text("text\n")
    code, out, err = run("-f", "json", tmp_path / "a.pcap", tmp_path / "b.pcap")
    assert code == 3 and out == ""
    [line] = err.splitlines()                 # one line, naming each file and why
    assert "no file of the capture set can be read" in line
    assert "a.pcap: not a pcap or pcapng capture (the file is empty)" in line and "b.pcap" in line


def test_directory_is_searched_recursively(tmp_path):
    parts = split_pcap(ROOT / "sample_pcaps" / "retransmission.pcap", tmp_path / "d" / "x", 20)
    (tmp_path / "d" / "README.txt").write_text("how this was captured\n")
    (tmp_path / "d" / "y").mkdir()
    os.rename(parts[-1], tmp_path / "d" / "y" / "last.cap")
    paths, notes = expand([str(tmp_path / "d")])
    assert [Path(p).name for p in paths] == ["part-000.pcap", "part-001.pcap", "last.cap"]
    assert [w.kind for w in notes] == ["not_capture_files"] and "README.txt" in notes[0].message
    code, out, err = run("--summary", "-f", "json", tmp_path / "d")
    assert code == 0 and "README.txt" in err
    ref = json.loads(run("--summary", "-f", "json", ROOT / "sample_pcaps" / "retransmission.pcap")[1])
    doc = json.loads(out)
    assert comparable(("--summary", "--format", "json"), out) == \
        comparable(("--summary", "--format", "json"), json.dumps(ref))
    assert len(doc["capture"]["files"]) == 3


def test_one_file_is_not_a_set(tmp_path):
    """A single file, or a directory holding one capture, is read as before capture sets."""
    src = ROOT / "sample_pcaps" / "retransmission.pcap"
    assert isinstance(open_capture([str(src)]), CaptureReader)
    (tmp_path / "only.pcap").write_bytes(src.read_bytes())
    assert isinstance(open_capture([str(tmp_path)]), CaptureReader)
    assert "files" not in json.loads(run("-f", "json", src)[1])["capture"]
    with pytest.raises(ValueError):
        open_capture(["-", str(src)])
    assert run("-", src)[0] == 2


def test_files_are_opened_when_the_merge_reaches_them(tmp_path):
    parts = split_pcap(ROOT / "sample_pcaps" / "retransmission.pcap", tmp_path, 4)
    cs = CaptureSet([str(p) for p in parts])
    most = 0
    for _ in cs:
        most = max(most, len(cs._open))
    assert len(parts) > 5 and most <= 2


# --- --each-file and --jobs ------------------------------------------------------------------------

def test_each_file_analyses_each_file_alone(tmp_path):
    parts = split_pcap(ROOT / "sample_pcaps" / "retransmission.pcap", tmp_path, 10)
    code, out, err = run("-f", "json", "--each-file", *parts)
    assert code == 0, err
    docs = json.loads(out)
    assert [d["capture"]["path"] for d in docs] == [str(p) for p in parts]
    for d, p in zip(docs, parts):
        assert d == json.loads(run("-f", "json", p)[1])
    code, out, _ = run("-f", "jsonl", "--each-file", *parts)
    caps = [json.loads(x) for x in out.splitlines() if '"type":"capture"' in x]
    assert [c["path"] for c in caps] == [str(p) for p in parts]


def test_each_file_exit_codes_and_names(tmp_path):
    parts, bad = _bad_set(tmp_path)
    code, out, err = run("--summary", "-f", "text", "--each-file", tmp_path / "set")
    assert code == 4
    assert f"{bad['cut']}: capture ends early" in err and str(bad["empty"]) in err
    code, _out, err = run("--summary", "-f", "text", "--each-file", "--fail-on", "retransmission", *parts)
    assert code == 1 and re.search(r"^tcpflow-explain: policy: \S+part-\d+\.pcap: ", err, re.M)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("args", FORMATS[:4], ids=" ".join)
def test_jobs_on_a_set(tmp_path, args):
    parts = split_pcap(ROOT / "sample_pcaps" / "retransmission.pcap", tmp_path, 7)
    one = run(*args, "--jobs", "1", *parts)
    two = subprocess.run([sys.executable, "-c", "import os, sys; os.cpu_count = lambda: 2; "
                          "sys.argv[0] = 'tcpflow-explain'; from tcptrace_py.cli import run; run()",
                          *args, "--jobs", "2", *map(str, parts)], cwd=ROOT, capture_output=True, timeout=300)
    assert (two.returncode, two.stdout.decode(), two.stderr.decode()) == one


def test_a_tie_at_a_rotation_boundary_keeps_the_capture_order(tmp_path):
    """The last frame of one file and the first of the next with the same timestamp (a
    rotation inside one clock tick): the file named first goes first, so the set is the
    original capture (mergecap takes the later file first, which would swap them)."""
    data = bytearray((ROOT / "sample_pcaps" / "retransmission.pcap").read_bytes())
    offs, pos = [], 24
    while pos + 16 <= len(data):
        offs.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    data[offs[10]:offs[10] + 8] = data[offs[9]:offs[9] + 8]       # frame 11 at frame 10's time
    src = tmp_path / "tie.pcap"
    src.write_bytes(bytes(data))
    parts = split_pcap(src, tmp_path / "set", 10)
    assert monotonic(src)
    for args in FORMATS:
        assert comparable(args, run(*args, *parts)[1]) == comparable(args, run(*args, src)[1]), args
    frames = [(ts, bytes(b[o:o + c])) for _n, ts, _lt, b, o, c, _w in open_capture([str(p) for p in parts])]
    assert frames == [(ts, bytes(b[o:o + c])) for _n, ts, _lt, b, o, c, _w in CaptureReader(str(src))]


def test_frame_map_forgets_what_no_flow_needs(tmp_path, monkeypatch):
    """Files whose frames interleave make a run per frame; the map keeps only those from the
    oldest connection not yet handed out, and every connection is still rendered right."""
    from tcptrace_py.core import pipeline
    from tcptrace_py.render.jsonout import packet_json
    from trace import Trace, write_pcap
    traces = []
    for i in range(40):                  # 40 connections one after the other, 0.5 s apart
        t = Trace(client=("10.0.0.1", 41000 + i), t0=1_700_000_000.0 + i * 0.5)
        t.handshake()
        t.data(100)
        t.ack("s")
        t.fin()
        t.fin("s")
        t.ack()
        traces.append(t)
    src = tmp_path / "many.pcap"
    write_pcap(src, *traces)
    data = src.read_bytes()
    recs, pos = [], 24
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    while pos + 16 <= len(data):
        caplen = struct.unpack_from(endian + "I", data, pos + 8)[0]
        recs.append(data[pos:pos + 16 + caplen])
        pos += 16 + caplen
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(data[:24] + b"".join(recs[0::2]))
    b.write_bytes(data[:24] + b"".join(recs[1::2]))

    def rendered(forget: bool):
        az = pipeline.Analyzer(grace=0.2)      # a closed connection is handed out 0.2 s later
        az.forget_frames = forget
        cs = open_capture([str(a), str(b)])
        out, most = [], 0
        for flow in az.run(cs):
            out.extend(packet_json(flow))
            most = max(most, len(cs.frame_map.starts))
        return out, most, len(cs.frame_map.starts)

    monkeypatch.setattr(pipeline, "FORGET_EVERY", 8)
    kept, most_kept, _ = rendered(False)
    trimmed, most, last = rendered(True)
    assert trimmed == kept and len(kept) == len(recs)
    assert most_kept == len(recs) and last < len(recs) // 10, (most, last, len(recs))


def test_rich_view_marks_where_the_files_change(tmp_path):
    parts = split_pcap(ROOT / "sample_pcaps" / "retransmission.pcap", tmp_path, 10)
    env = dict(os.environ, COLUMNS="160")
    p = subprocess.run([sys.executable, "-m", "tcptrace_py", "-f", "rich", "--all", "--max-packets", "0",
                        *map(str, parts)], cwd=ROOT, capture_output=True, timeout=120, env=env)
    out = p.stdout.decode()
    assert p.returncode == 0 and "Traceback" not in p.stderr.decode()
    assert "▸ part-000.pcap, from its frame 1" in out and "▸ part-001.pcap, from its frame 1" in out
    assert re.search(r"part-003\.pcap: pcap, 10 frames", out)
    p = subprocess.run([sys.executable, "-m", "tcptrace_py", "-f", "rich", "--ascii", *map(str, parts)],
                       cwd=ROOT, capture_output=True, timeout=120, env=env)
    assert p.stdout.isascii() and b"> part-000.pcap, from its frame 1" in p.stdout


def test_junit_names_the_set_or_each_file(tmp_path):
    parts = split_pcap(ROOT / "sample_pcaps" / "retransmission.pcap", tmp_path / "set", 10)
    report = tmp_path / "set.xml"
    assert run("--summary", "--junit", report, *parts)[0] == 0
    xml = report.read_text()
    assert 'name="tcpflow-explain capture set of 5 files"' in xml and xml.count("<testcase ") == 2
    report = tmp_path / "each.xml"
    assert run("--summary", "--each-file", "--junit", report, *parts)[0] == 0
    xml = report.read_text()
    assert 'name="tcpflow-explain 5 files"' in xml
    assert xml.count("<testcase ") == sum(
        len(json.loads(run("--summary", "-f", "json", p)[1])["flows"]) for p in parts)
    assert 'classname="tcpflow-explain.part-000.pcap"' in xml and 'classname="tcpflow-explain.part-004.pcap"' in xml

"""Reading a live pipe: each connection is reported when it ends, before the input does."""
from __future__ import annotations

import json
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
S = ROOT / "sample_pcaps"


def records(path: Path):
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    off = 24
    while off < len(data):
        sec, usec, caplen, wire = struct.unpack_from("<IIII", data, off)
        yield sec, usec, data[off + 16:off + 16 + caplen], wire
        off += 16 + caplen


def record(sec, usec, frame, wire) -> bytes:
    return struct.pack("<IIII", sec, usec, len(frame), wire) + frame


def test_pipe_reports_first_connection_before_input_ends():
    """Like `tcpdump -U -w - | tcpflow-explain --format jsonl -`: real captures fed slowly."""
    first = list(records(S / "seed-8090.pcap"))            # one connection, closed by FINs
    later = list(records(S / "reset-refused.pcap"))       # two more, 30 s later in capture time
    t_end = first[-1][0]
    shift = t_end + 30 - later[0][0]
    header = (S / "seed-8090.pcap").read_bytes()[:24]
    p = subprocess.Popen([sys.executable, "-m", "tcptrace_py", "--format", "jsonl", "-"], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(header)
        for sec, usec, frame, wire in first:
            p.stdin.write(record(sec, usec, frame, wire))
            p.stdin.flush()
            time.sleep(0.02)
        # the next connection's first packet moves capture time past the grace period
        sec, usec, frame, wire = later[0]
        p.stdin.write(record(sec + shift, usec, frame, wire))
        p.stdin.flush()
        seen = b""
        deadline = time.monotonic() + 20
        # until the flow line is out whole (a long connection's lines are written in pieces)
        while not (b'"type":"flow"' in seen and b"\n" in seen[seen.index(b'"type":"flow"'):]) \
                and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if ready:
                seen += p.stdout.read1(65536)
        assert b'"type":"flow"' in seen, "no connection reported while the pipe was still open"
        assert p.poll() is None, "the tool must still be reading"
        lines = [json.loads(x) for x in seen.decode().splitlines() if x.strip()]
        flows = [o for o in lines if o["type"] == "flow"]
        assert flows[0]["id"] == 1 and flows[0]["ended"] == "graceful"
        assert [o["frame"] for o in lines if o["type"] == "packet"] == list(range(1, 15))
        for sec, usec, frame, wire in later[1:]:
            p.stdin.write(record(sec + shift, usec, frame, wire))
        p.stdin.close()
        rest = p.stdout.read()
        err = p.stderr.read()
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    all_lines = [json.loads(x) for x in (seen + rest).decode().splitlines()]
    assert [o["id"] for o in all_lines if o["type"] == "flow"] == [1, 2, 3]
    assert all_lines[-2]["type"] == "capture" and all_lines[-2]["frames"] == 24


def test_finished_connections_leave_no_reference_cycles(tmp_path):
    """The CLI runs without the cyclic garbage collector: a finished flow must be freed by
    reference counting alone, or memory would grow with the connections in the file."""
    import gc
    from tcptrace_py.core.capture import CaptureReader
    from tcptrace_py.core.pipeline import Analyzer

    seed = (S / "seed-8090.pcap").read_bytes()
    recs = list(records(S / "seed-8090.pcap"))
    big = tmp_path / "many.pcap"
    with open(big, "wb") as f:
        f.write(seed[:24])
        for i in range(400):                         # 400 connections, 30 s apart
            for sec, usec, frame, wire in recs:
                fr = bytearray(frame)
                at = 14 + 20 if struct.unpack_from("!H", fr, 14 + 20)[0] != 8090 else 14 + 22
                struct.pack_into("!H", fr, at, 20000 + i)
                f.write(record(sec + 30 * i, usec, bytes(fr), wire))
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        az = Analyzer(keep_packets=False)
        n = sum(1 for _ in az.run(CaptureReader(str(big))))
        del az
        left = gc.collect()
    finally:
        if was:
            gc.enable()
    assert n == 400
    assert left < 100, f"{left} objects were only freed by the cycle collector"

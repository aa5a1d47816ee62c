"""Random and hostile bytes never raise, hang or run away: a fixed fuzz budget in every CI run."""
from __future__ import annotations

import io
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcptrace_py.core.capture import CaptureReader
from tcptrace_py.core.pipeline import Analyzer
from tcptrace_py.core.records import CaptureError
from tcptrace_py.render.jsonout import JsonWriter
from tcptrace_py.render.text import TextRenderer

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(p for p in (ROOT / "sample_pcaps").iterdir() if p.suffix in (".pcap", ".pcapng"))
BLOBS = [p.read_bytes() for p in SAMPLES]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def analyse_bytes(data: bytes) -> None:
    """The whole pipeline and two renderers over `data`; only CaptureError may come out."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        try:
            reader = CaptureReader("-", stdin=io.BytesIO(data))
        except CaptureError:
            return
        az = Analyzer()
        out = io.StringIO()
        js, tx = JsonWriter(out), TextRenderer(out, limit=None, max_packets=None)
        for flow in az.run(reader):
            js.flow(flow)
            tx.flow(flow)
        js.close(az.stats)
        tx.close(az.stats)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("splice"), st.integers(0, 1 << 20), st.integers(0, len(BLOBS) - 1)),
    st.tuples(st.just("set32"), st.integers(0, 1 << 20), st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BLOBS) - 1), st.lists(mutation, min_size=1, max_size=8))
def test_mutated_captures_never_raise(which, muts):
    data = bytearray(BLOBS[which])
    for kind, pos, arg in muts:
        if not data:
            break
        pos %= len(data)
        if kind == "flip":
            data[pos] ^= arg
        elif kind == "cut":
            del data[pos:]
        elif kind == "splice":
            other = BLOBS[arg]
            start = pos % len(other)
            data[pos:pos] = other[start:start + 200]
        else:
            data[pos:pos + 4] = arg.to_bytes(4, "little")
    analyse_bytes(bytes(data))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data):
    analyse_bytes(data)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a"]),
       st.binary(min_size=0, max_size=4096))
def test_valid_magic_then_garbage_never_raises(magic, rest):
    analyse_bytes(magic + rest)


@pytest.mark.parametrize("blen", [0, 4, 11, 13, 0xFFFFFFF0])
def test_pcapng_block_lengths_cannot_loop(blen):
    shb = (b"\x0a\x0d\x0d\x0a" + (28).to_bytes(4, "little") + b"\x4d\x3c\x2b\x1a" + b"\x01\x00\x00\x00"
           + b"\xff" * 8 + (28).to_bytes(4, "little"))
    block = (6).to_bytes(4, "little") + blen.to_bytes(4, "little") + bytes(32)
    analyse_bytes(shb + block * 3)

"""Every fast path gives what the general path it shortcuts gives, on every sample and corpus
capture: the one-struct decode of Ethernet/IPv4/TCP, and the one-language notes for plain data
and ACKs. (The per-packet JSON writer and --jobs have their own tests in test_parallel.py.)"""
from __future__ import annotations

from pathlib import Path

import pytest

from tcptrace_py.capture import CaptureReader
from tcptrace_py.decode import Decoder
from tcptrace_py.explain import Explainer
from tcptrace_py.pipeline import Analyzer
from tcptrace_py.records import Packet

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CAPTURES = sorted((ROOT / "sample_pcaps").glob("*.pcap*"))
if CORPUS.is_dir():
    CAPTURES += sorted(p for p in CORPUS.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))


def _fields(p: Packet) -> tuple:
    return tuple(getattr(p, k) for k in Packet.__slots__)


def test_the_captures_are_here():
    """With the corpus beside the project, all of it is compared (without it, only the samples)."""
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} not here")
    assert len(CAPTURES) > 100


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_fast_decode_is_the_general_decode(capture):
    try:
        frames = list(CaptureReader(str(capture)))
    except Exception as exc:  # a corpus file that is not a readable capture: nothing to compare
        pytest.skip(f"not readable: {exc}")
    fast, general = Decoder(), Decoder()
    for frame, ts, lt, buf, off, caplen, wire in frames:
        a = fast.decode(frame, ts, lt, buf, off, caplen, wire)
        b = general._general(frame, ts, lt, buf, off, caplen, wire)
        assert (a is None) == (b is None), frame
        if a is not None:
            assert _fields(a) == _fields(b), frame
    assert fast.tcp == general.tcp
    assert fast.skipped == general.skipped


def test_fast_decode_takes_the_common_frames():
    """The fast path is the one that runs on ordinary Ethernet/IPv4 traffic."""
    calls = []

    class Counting(Decoder):
        def _general(self, *a):
            calls.append(a[0])
            return super()._general(*a)

    d = Counting()
    n = 0
    for frame, ts, lt, buf, off, caplen, wire in CaptureReader(str(ROOT / "sample_pcaps" / "seed-8090.pcap")):
        n += d.decode(frame, ts, lt, buf, off, caplen, wire) is not None
    assert n > 0 and calls == []       # loopback-as-Ethernet IPv4: every frame on the fast path


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_plain_notes_are_the_general_notes(capture, lang):
    try:
        flows = list(Analyzer().run(CaptureReader(str(capture))))
    except Exception as exc:
        pytest.skip(f"not readable: {exc}")
    for flow in flows:
        ex = Explainer(flow, lang)
        before = flow.init_states
        for p in flow.packets:
            assert ex.note(p, before) == ex._note(p, before), p.frame   # _note: the general path
            before = (p.orig_state, p.resp_state)

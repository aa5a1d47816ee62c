"""A fixed fuzz campaign over the whole command line (tests/fuzz): every finding fails the test.

The campaign is a count of inputs with a fixed seed, so every run fuzzes the same inputs; it takes
one to two minutes on two cores. A longer one: `python -m tests.fuzz --minutes 60 --jobs 2`.
"""
from __future__ import annotations

import random
import struct

import pytest

from tests.fuzz import mutators, runner

SEED = 20261204
INPUTS = 800
SEEDS = mutators.load_seeds()
MULTI = dict(SEEDS)["multi.pcapng"]
PLAIN = dict(SEEDS)["seed-8090.pcap"]


def _block_lengths(data: bytes) -> list:
    """(type, leading length, trailing length) of each block of a little-endian pcapng, walked by
    the leading lengths of `MULTI` (the mutator under test changes lengths, not bodies)."""
    out, p = [], 0
    while p + 8 <= len(MULTI):
        blen = struct.unpack_from("<I", MULTI, p + 4)[0]
        out.append(struct.unpack_from("<III", data, p)[:2] + struct.unpack_from("<I", data, p + blen - 4))
        p += blen
    return out


def test_inputs_are_the_same_for_a_seed():
    a = [mutators.input_for(SEED, i, SEEDS) for i in range(60)]
    b = [mutators.input_for(SEED, i, SEEDS) for i in range(60)]
    assert a == b
    assert len({data for data, _ops in a}) >= 55
    assert a != [mutators.input_for(SEED + 1, i, SEEDS) for i in range(60)]
    kinds = {op.split(":")[0] for _d, ops in a for op in ops}
    assert {"gen", "seed", "frame"} <= kinds


def test_the_pcapng_block_length_mutator_changes_block_lengths():
    base = _block_lengths(MULTI)
    changed = 0
    for i in range(40):
        ng = mutators.parse_pcapng(MULTI)
        assert ng.to_bytes() == MULTI
        assert mutators.mut_pcapng(random.Random(i), ng, SEEDS, "block_len") == "ng:block_len"
        out = ng.to_bytes()
        assert len(out) == len(MULTI)
        assert [b[0] for b in _block_lengths(out)] == [b[0] for b in base]       # block types kept
        changed += _block_lengths(out) != base
    assert changed >= 35
    again = mutators.parse_pcapng(MULTI)
    mutators.mut_pcapng(random.Random(7), again, SEEDS, "block_len")
    ng = mutators.parse_pcapng(MULTI)
    mutators.mut_pcapng(random.Random(7), ng, SEEDS, "block_len")
    assert ng.to_bytes() == again.to_bytes()


def test_a_short_block_is_too_small_for_its_fields():
    need = {1: 8, 2: 20, 3: 4, 5: 12, 6: 20}
    for i in range(20):
        ng = mutators.parse_pcapng(MULTI)
        mutators.mut_pcapng(random.Random(i), ng, SEEDS, "short_block")
        short = [b for b in mutators.parse_pcapng(ng.to_bytes()).blocks if len(b.body) < need.get(b.btype, 0)]
        assert short, i


def test_frame_mutators_change_headers_and_keep_the_records():
    pc = mutators.parse_pcap(PLAIN)
    n = len(pc.records)
    changed = set()
    for i in range(60):
        pc = mutators.parse_pcap(PLAIN)
        op = mutators.mut_frame(random.Random(i), pc)
        out = mutators.parse_pcap(pc.to_bytes())
        if not op.startswith("frame:fragment"):
            assert len(out.records) == n, op
        before = [mutators.parse_frame(1, r.data) for r in mutators.parse_pcap(PLAIN).records]
        after = [mutators.parse_frame(1, r.data) for r in out.records]
        if after != before:
            changed.add(op)
    assert len(changed) >= 8, changed


def test_fuzz_campaign(tmp_path):
    st = runner.campaign(seed=SEED, inputs=INPUTS, jobs=2, out=tmp_path, progress=None, min_secs=15, min_total=60)
    print(runner.report(st))
    assert st.inputs == INPUTS
    assert all(st.runs[m] for m in runner.BASE), st.runs
    if st.findings:
        lines = []
        for sig, n in st.findings.most_common():
            cmd = st.first[sig][1][0]
            lines.append(f"{sig}  ({n} inputs; first: {cmd})\n    reproducer: {st.saved.get(sig, '(not saved)')}")
        head = f"{len(st.findings)} fuzz finding signatures in {INPUTS} inputs (seed {SEED}):\n"
        pytest.fail(head + "\n".join(lines), pytrace=False)

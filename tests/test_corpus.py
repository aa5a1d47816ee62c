"""Differential test against tshark on real captures no one here wrote.

`../shared/corpus` holds 120 captures from public test suites, each with the
output of tshark 4.0.17 beside it (`X.tshark.tsv`: frame, stream, relative
seq/ack, len, analysis messages). We analyse every capture in-process and
compare frame by frame, as `../shared/tools/tshark_diff.py` does (that tool runs
tshark itself; this test reads its stored output, so CI needs no tshark).
Skipped when `../shared` is not beside the project.
"""
from __future__ import annotations

import csv
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tcptrace_py import analyze
from tcptrace_py.core.records import CaptureError

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
EXTS = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")

# tshark's expert messages -> our anomaly ids (tcp.analysis.<name>)
MESSAGES = {
    "This frame is a (suspected) retransmission": "retransmission",
    "This frame is a (suspected) fast retransmission": "fast_retransmission",
    "This frame is a (suspected) spurious retransmission": "spurious_retransmission",
    "This frame is a (suspected) out-of-order segment": "out_of_order",
    "Previous segment(s) not captured (common at capture start)": "lost_segment",
    "ACKed segment that wasn't captured (common at capture start)": "ack_lost_segment",
    "TCP window update": "window_update",
    "TCP window specified by the receiver is now completely full": "window_full",
    "TCP keep-alive segment": "keep_alive",
    "ACK to a TCP keep-alive segment": "keep_alive_ack",
    "TCP Zero Window segment": "zero_window",
    "TCP Zero Window Probe": "zero_window_probe",
    "ACK to a TCP Zero Window Probe": "zero_window_probe_ack",
    "A new tcp session is started with the same ports as an earlier session in this trace": "reused_ports",
}
FLAGS = sorted(set(MESSAGES.values()) | {"duplicate_ack"})

# Where we differ from tshark on purpose (README, "Where we differ from tshark"), decided per frame
# by the evidence our analysis recorded; such frames count as agreement, and are counted apart.
RETRANS = {"retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order"}


def deliberate(ours: set, info, theirs: set) -> str | None:
    """The name of the deliberate difference that explains this frame, if one does."""
    if "duplicate" in ours and theirs & (RETRANS | {"duplicate_ack"}):
        return "network duplicate (tshark: retransmission or duplicate ACK)"
    if isinstance(info, tuple) and info[0] == "resent_not_reordered" and "out_of_order" in theirs:
        return "seen before, so resent (tshark: out-of-order)"
    if "zero_window_probe" in ours and "keep_alive" in theirs:
        return "Linux zero-window probe (tshark: keep-alive)"
    if "zero_window_probe_ack" in ours and "keep_alive_ack" in theirs:
        return "Linux zero-window probe ACK (tshark: keep-alive ACK)"
    return None


def captures() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.name.endswith(EXTS))


def tshark_frames(cap: Path) -> dict[int, dict]:
    tsv = Path(str(cap) + ".tshark.tsv")
    frames = {}
    with open(tsv, newline="", encoding="utf-8") as f:
        csv.field_size_limit(sys.maxsize)
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for r in rows:
            if not r["tcp.stream"] or not r["tcp.len"]:
                continue  # no ports, or a TCP header quoted inside an ICMP error
            msgs = (r.get("_ws.expert.message") or "").split(",")
            kinds = {MESSAGES[m] for m in msgs if m in MESSAGES}
            if any(m.startswith("Duplicate ACK (#") for m in msgs):
                kinds.add("duplicate_ack")
            if kinds & {"fast_retransmission", "spurious_retransmission"}:
                kinds.discard("retransmission")
            ackflag = r["tcp.flags.str"][-5] == "A"
            frames[int(r["frame.number"])] = {
                "stream": int(r["tcp.stream"]),
                "seq": int(r["tcp.seq"]) if r["tcp.seq"] else None,
                "ack": int(r["tcp.ack"]) if r["tcp.ack"] and ackflag else None,
                "len": int(r["tcp.len"]),
                "anomalies": kinds,
            }
    return frames


def our_frames(cap: Path) -> dict[int, dict]:
    res = analyze(str(cap))
    out = {}
    for flow in res.flows:
        for p in flow.packets:
            kinds = set(p.anomalies or ()) & set(FLAGS)
            if kinds & {"fast_retransmission", "spurious_retransmission"}:
                kinds.discard("retransmission")
            out[p.frame] = {"flow": flow.id, "seq": p.rseq, "ack": p.rack, "len": p.len, "anomalies": kinds,
                            "all": set(p.anomalies or ()), "info": p.info}
    return out


@pytest.fixture(scope="module")
def corpus_results():
    caps = captures()
    if not caps:
        pytest.skip("../shared/corpus is not beside the project")
    totals = Counter()
    tp, fp, fn = Counter(), Counter(), Counter()
    failed = []
    per_cap = {}
    differ, differ_caps = Counter(), defaultdict(set)
    for cap in caps:
        ts = tshark_frames(cap)
        try:
            ours = our_frames(cap)
        except CaptureError as exc:
            failed.append((cap, str(exc)))
            totals["frames"] += len(ts)
            continue
        common = [f for f in ts if f in ours]
        by_flow, by_stream = defaultdict(Counter), defaultdict(Counter)
        for f in common:
            by_flow[ours[f]["flow"]][ts[f]["stream"]] += 1
            by_stream[ts[f]["stream"]][ours[f]["flow"]] += 1
        flow_to = {k: c.most_common(1)[0][0] for k, c in by_flow.items()}
        stream_to = {k: c.most_common(1)[0][0] for k, c in by_stream.items()}
        c = Counter(frames=len(ts), covered=len(common))
        for f in common:
            a, b = ours[f], ts[f]
            c["grouping"] += flow_to[a["flow"]] == b["stream"] and stream_to[b["stream"]] == a["flow"]
            for key in ("seq", "ack", "len"):
                c[key] += b[key] is None or a[key] == b[key]
            theirs = b["anomalies"]
            why = deliberate(a["all"], a["info"], theirs) if a["anomalies"] != theirs else None
            if why:
                differ[why] += 1
                differ_caps[why].add(str(cap.relative_to(CORPUS)))
                continue
            for k in FLAGS:
                tp[k] += k in a["anomalies"] and k in theirs
                fp[k] += k in a["anomalies"] and k not in theirs
                fn[k] += k not in a["anomalies"] and k in theirs
        totals.update(c)
        per_cap[cap.relative_to(CORPUS)] = c
    print("\ndeliberate differences from tshark:", dict(differ), {k: sorted(v) for k, v in differ_caps.items()})
    return totals, tp, fp, fn, failed, per_cap


def test_corpus_present_and_read(corpus_results):
    totals, *_ , failed, per_cap = corpus_results
    assert len(per_cap) + len(failed) == len(captures()) >= 100
    assert not failed, failed


@pytest.mark.parametrize("key", ["covered", "grouping", "seq", "ack", "len"])
def test_agreement_with_tshark(corpus_results, key):
    totals, *_ = corpus_results
    rate = totals[key] / totals["frames"]
    worst = sorted(((c[key] / c["frames"] if c["frames"] else 1.0), str(p))
                   for p, c in corpus_results[5].items())[:5]
    assert rate >= 0.995, f"{key}: {rate:.4%} of {totals['frames']} frames; worst: {worst}"


@pytest.mark.parametrize("kind", FLAGS)
def test_anomaly_precision_recall(corpus_results, kind):
    _, tp, fp, fn, _, _ = corpus_results
    if tp[kind] + fp[kind] + fn[kind] == 0:
        pytest.skip(f"{kind} does not occur in the corpus")
    prec = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 0.0
    rec = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else 0.0
    assert prec >= 0.95 and rec >= 0.95, f"{kind}: tp {tp[kind]} fp {fp[kind]} fn {fn[kind]}"

"""The anomaly registry (tcptrace_py/core/anomaly_kinds.py) is the one home of every anomaly id.

The README's table and severity list are generated from it; every kind has a label and a message
in both languages; every id the detectors can emit is declared there, and every declared id is
emitted somewhere; the renderers' sets are the registry's.
"""
from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from tcptrace_py import analyze
from tcptrace_py.core import anomaly_kinds as A
from tcptrace_py.core.anomaly_kinds import KINDS
from tcptrace_py.prose.explain import Explainer
from trace import Trace  # tests/trace.py

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tcptrace_py"
CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
REGENERATE = ("regenerate it: python -c 'from tcptrace_py.core.anomaly_kinds import write_readme; "
              "write_readme(\"README.md\")'")


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def fields(template: str) -> set[str]:
    return {re.split(r"[.\[]", f)[0] for _, f, _, _ in string.Formatter().parse(template) if f}


# --- the README -------------------------------------------------------------------------

def test_readme_table_is_the_registry():
    doc = readme()
    section = doc[doc.index("\n## Anomalies"):doc.index("\n## Agreement with tshark")]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.*) \|$", section, re.MULTILINE))
    assert list(rows) == list(KINDS), (set(KINDS) - set(rows), set(rows) - set(KINDS))
    for kind, rule in rows.items():
        assert rule == KINDS[kind].rule, kind
    assert A.readme_table() in section, REGENERATE


def test_readme_severity_list_is_the_registry():
    doc = readme()
    assert A.severity_paragraph() in doc, REGENERATE
    para = doc[doc.index(A.SEVERITY_START):]
    para = para[:para.index("\n\n")]
    named = {}
    for sev, ids in re.findall(r"`(error|info|warning)` — ([^;]*)", para):
        for k in re.findall(r"`([a-z_]+)`", ids):
            named[k] = sev
    assert "all others" in para
    assert {k: named.get(k, "warning") for k in KINDS} == A.SEVERITY


def test_write_readme_is_idempotent(tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text(readme(), encoding="utf-8")
    assert not A.write_readme(str(copy)), REGENERATE


# --- every entry complete -----------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_is_complete(kind):
    k = KINDS[kind]
    assert k.id == kind and re.fullmatch(r"[a-z]+(_[a-z]+)*", kind)
    assert k.severity in A.SEVERITIES and k.tone in A.TONES and k.scope in ("packet", "flow")
    assert k.resend in (None, "retransmission", "reorder", "probe")
    assert k.rule and not k.rule.endswith(".")
    en, zh = k.label
    assert en and zh and CJK.search(zh), k.label
    for pair in filter(None, (k.text, k.text_alt, k.lesson)):
        en, zh = pair
        assert en and zh and not CJK.search(en) and CJK.search(zh), pair
        assert fields(zh) <= fields(en), (kind, fields(en), fields(zh))   # no fact only one language has
    if k.scope == "packet":
        assert fields(k.text[0]) <= {"me", "peer", "detail", "win", "rng", "since", "why", "cause", "n", "of",
                                     "rack", "old", "dt"}, kind
    if k.lesson is not None:
        assert fields(k.lesson[0]) <= {"me", "peer"}, kind


def test_the_resend_classes():
    """Three memberships are in use, each named: counted as a retransmission, decided by tshark's
    retransmission check (so relabelled and traced to the first copy), drawn as old bytes resent."""
    assert A.RETRANSMISSIONS == ("retransmission", "fast_retransmission", "spurious_retransmission")
    assert A.RETRANSMISSION_CHECK == A.RETRANSMISSIONS + ("out_of_order",)
    assert A.RESENDS == set(A.RETRANSMISSIONS) | {"keep_alive", "zero_window_probe"}
    assert A.RED_IN_TABLE < A.RED_IN_PICTURES
    assert not A.QUIET & A.RED_IN_PICTURES


# --- every id emitted is declared, and every declared id is emitted ------------------------

EMITS = [r'add_anomaly\("([a-z_]+)"', r'Anomaly\("([a-z_]+)"', r'_found\("([a-z_]+)"', r'an\["([a-z_]+)"',
         r'kind = "([a-z_]+)"', r'else "([a-z_]+)"\]']


def emitted_in_source() -> set[str]:
    found = set()
    for path in (PACKAGE / "core").glob("*.py"):
        if path.name == "anomaly_kinds.py":
            continue
        src = path.read_text(encoding="utf-8")
        for pat in EMITS:
            found |= set(re.findall(pat, src))
    return found


def test_every_emitted_id_is_declared_and_every_declared_id_emitted():
    found = emitted_in_source()
    assert found - set(KINDS) == set(), "emitted but not in the registry"
    assert set(KINDS) - found == set(), "declared but never emitted"


def _captures():
    caps = sorted(p for p in (ROOT / "sample_pcaps").iterdir() if p.suffix in (".pcap", ".pcapng"))
    corpus = ROOT.parent / "shared" / "corpus"
    if corpus.is_dir():
        caps += sorted(p for p in corpus.rglob("*") if p.name.endswith((".pcap", ".pcapng")))[:60]
    return caps


def test_captured_kinds_are_declared_and_worded_in_both_languages():
    """Every anomaly the samples (and part of the corpus) give is declared, and its message in
    each language is the registry's, not the fallback made of its id."""
    seen = set()
    for cap in _captures():
        for flow in analyze(str(cap)).flows:
            exs = [Explainer(flow, "en"), Explainer(flow, "zh")]
            for p in flow.packets:
                for kind, detail in (p.anomalies or {}).items():
                    seen.add(kind)
                    for ex in exs:
                        msg = ex.anomaly_message(p, kind, detail)
                        assert msg and msg != kind.replace("_", " "), (cap, kind)
            for a in flow.anomalies:
                seen.add(a.kind)
                assert a.severity == KINDS[a.kind].severity
                assert CJK.search(exs[1].flow_anomaly_message(a)), (cap, a.kind)
    assert seen <= set(KINDS), seen - set(KINDS)
    assert len(seen) >= 10


def test_ack_of_unsent_in_chinese(tmp_path):
    t = Trace(isn_c=1000, isn_s=5000); t.handshake(); t.data(10, "s")
    t.data(1, "c", ack=5000 + 1 + 10 + 500)        # acks 500 bytes the server never sent
    flow = t.analyze(tmp_path)
    (a,) = [a for a in flow.anomalies if a.kind == "ack_of_unsent"]
    assert a.message.startswith("the client acknowledges byte 510 and before")
    assert Explainer(flow, "zh").flow_anomaly_message(a).startswith("客户端确认了第 510 字节及之前的数据")
    assert KINDS["ack_of_unsent"].label == ("ACKs unsent data", "确认了未发送的数据")

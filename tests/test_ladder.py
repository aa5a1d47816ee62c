"""The pictures of a conversation: terminal ladder, Mermaid sequence diagrams, SVG."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from tcptrace_py.core.capture import CaptureReader
from tcptrace_py.cli import main
from tcptrace_py.core.pipeline import Analyzer
from tcptrace_py.render import mermaid
from tcptrace_py.render.conversation import arrow_label, build, visible, wrap
from tcptrace_py.render.ladder import LadderRenderer

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_pcaps"
GOLDEN = ROOT / "tests" / "golden" / "ladder"
MERMAID_DIR = ROOT / "tests" / "mermaid"
SVG_NS = "{http://www.w3.org/2000/svg}"

sys.path.insert(0, str(ROOT / "tests"))
from update_golden import samples  # noqa: E402
from update_golden_ladder import cases, render  # noqa: E402


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def flows_of(name):
    az = Analyzer(keep_packets=True)
    flows = list(az.run(CaptureReader(str(SAMPLES / name))))
    return flows, az.stats


# --- golden files --------------------------------------------------------------------------

@pytest.mark.parametrize("sample,suffix,args", cases(), ids=lambda x: x if isinstance(x, str) else None)
def test_golden_ladder(sample, suffix, args):
    expected = (GOLDEN / f"{sample}.{suffix}").read_text(encoding="utf-8")
    assert render(sample, args) == expected, (
        f"{sample} ({suffix}) changed; if on purpose: python tests/update_golden_ladder.py, and review the diff")


def test_no_stray_golden_files():
    expected = {f"{s}.{suffix}" for s, suffix, _ in cases()}
    assert {p.name for p in GOLDEN.iterdir()} == expected


# --- the terminal ladder ---------------------------------------------------------------------

@pytest.mark.parametrize("sample", samples(), ids=lambda p: p.name)
@pytest.mark.parametrize("extra", [[], ["--lang", "zh", "--explain"], ["--unfold", "--explain"]],
                         ids=["en", "zh-explain", "unfold-explain"])
def test_ladder_fits_100_columns_when_piped(sample, extra):
    out = run("--ladder", "--all", *extra, sample)
    # (the last line names the capture as it was given: its width is that of the checkout's path)
    too_wide = [line for line in out.splitlines() if cell_len(line) > 100 and not line.startswith(str(sample))]
    assert not too_wide, too_wide[:3]


@pytest.mark.parametrize("sample", samples(), ids=lambda p: p.name)
def test_ascii_ladder_is_ascii(sample):
    out = run("--ladder", "--ascii", "--explain", "--all", sample)
    assert out.isascii(), sorted({ch for ch in out if not ch.isascii()})


def test_ladder_arrows_and_states_beside_their_own_lane():
    out = run("--ladder", "--no-notes", SAMPLES / "seed-8090.pcap").splitlines()
    syn = next(x for x in out if "#1 " in x)
    synack = next(x for x in out if "#2 " in x)
    # the client's state left of the client's lane, the server's right of the server's lane
    assert re.search(r"SYN_SENT ├─ \[S\] seq=0 ─+▶│$", syn), syn
    assert re.search(r"ESTABLISHED │◀─+ \[S\.\] seq=0 ack=1 ─┤ SYN_RECEIVED$", synack), synack
    labels = [re.search(r"\[[^\]]+\][^─▶◀]*", x).group(0).strip() for x in out if re.match(r"\s*\d+\.\d+\s+#\d", x)]
    assert labels[:5] == ["[S] seq=0", "[S.] seq=0 ack=1", "[.] ack=1", "[P.] 1:98 ack=1 len=97", "[.] ack=98"]
    assert "[F.] seq=8059 ack=196" in labels
    assert any(x.split() == ["TIME_WAIT", "┴", "┴", "CLOSED"] for x in out)


def test_arrow_label_is_tcpdump_notation():
    flows, _ = flows_of("seed-8090.pcap")
    got = [arrow_label(p) for p in flows[0].packets]
    assert got == ["[S] seq=0", "[S.] seq=0 ack=1", "[.] ack=1", "[P.] 1:98 ack=1 len=97", "[.] ack=98",
                   "[P.] 1:4030 ack=98 len=4029", "[.] ack=4030", "[P.] 98:195 ack=4030 len=97", "[.] ack=195",
                   "[P.] 4030:8059 ack=195 len=4029", "[.] ack=8059", "[F.] seq=195 ack=8059",
                   "[F.] seq=8059 ack=196", "[.] ack=8060"]


def test_anomalies_marked_on_the_arrow():
    out = run("--ladder", "--no-notes", "--all", SAMPLES / "retransmission.pcap")
    assert re.search(r"#23 +├╌ \[\.\] 5793:7241 ack=1 len=1448 ⚠ fast retransmission ╌+▶│", out)
    assert re.search(r"#19 +│◀─+ \[\.\] ack=5793 ⚠ dup ACK #1 ─┤", out)
    assert re.search(r"#33 +├╌ \[S\] seq=0 ⚠ retransmission ╌+▶│", out)
    refused = run("--ladder", "--no-notes", "--all", SAMPLES / "reset-refused.pcap")
    assert re.search(r"#2 +CLOSED │◀━+ \[R\.\] seq=1 ack=1 ⚠ refused ━┤ CLOSED", refused)
    assert re.search(r"#10 +CLOSED │◀━+ \[R\.\] seq=36 ack=37 ⚠ RST ━┤ CLOSED", refused)


def test_long_data_phase_folds_unless_unfold():
    out = run("--ladder", "--no-notes", SAMPLES / "half-close.pcap")
    frames = set(int(m) for m in re.findall(r"#(\d+) ", out))
    assert frames == set(range(1, 19)) - {10, 11, 12, 13, 14}
    assert "… 5 packets folded (frames 10–14): 2 data segments (2000 bytes), 3 ACKs …" in " ".join(
        x.strip(" ┆") for x in out.splitlines())
    assert "--unfold draws every folded packet" in out
    unfolded = run("--ladder", "--no-notes", "--unfold", SAMPLES / "half-close.pcap")
    assert set(int(m) for m in re.findall(r"#(\d+) ", unfolded)) == set(range(1, 19))
    assert "folded" not in unfolded


def test_folding_keeps_notable_packets_and_counts_the_rest():
    flows, _ = flows_of("retransmission.pcap")
    vis = visible(flows[0])
    shown = {p.frame for p, v in zip(flows[0].packets, vis) if v}
    assert {19, 20, 21, 22, 23} <= shown              # duplicate ACKs and the fast retransmission stay
    assert not {6, 10, 18} & shown
    conv = build(flows[0])
    folds = [x for x in conv.items if not hasattr(x, "label")]
    assert sum(f.packets for f in folds) + len(conv.arrows) == len(flows[0].packets)
    assert folds[0].anomalies == {"window_update": 1}
    assert "1 window update" in folds[0].text.replace("\u00a0", " ")


def test_max_packets_also_folds_the_ladder_but_not_unfold():
    out = run("--ladder", "--no-notes", "--max-packets", "10", SAMPLES / "zero-window.pcap")
    assert len(re.findall(r"#\d+ ", out)) <= 10
    out = run("--ladder", "--no-notes", "--unfold", "--max-packets", "10", SAMPLES / "zero-window.pcap")
    assert len(re.findall(r"#\d+ ", out)) == 37


def test_rich_ladder_uses_console_width_and_keeps_brackets():
    flows, stats = flows_of("retransmission.pcap")
    console = Console(record=True, width=90, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    r = LadderRenderer(io.StringIO(), rich=True, console=console, lang="zh", explain=True)
    for f in flows:
        r.flow(f)
    r.close(stats)
    text = console.export_text()
    assert "[S] seq=0" in text and "[P.] 1:199 ack=1 len=198" in text     # not eaten as markup
    assert max(cell_len(x) for x in text.splitlines()) <= 90
    assert "三次握手 1/3" in text


def test_ladder_on_a_terminal_uses_its_width(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=(80, 24): os.terminal_size((88, 30)))
    out = Tty()
    flows, stats = flows_of("seed-8090.pcap")
    r = LadderRenderer(out)
    r.flow(flows[0])
    assert r.width == 88
    assert max(cell_len(x) for x in out.getvalue().splitlines() if "│" in x) <= 88


def test_wrap_counts_cells():
    assert wrap("abc def ghi", 7) == ["abc def", "ghi"]
    lines = wrap("三次握手：客户端请求建立连接，初始序列号 ISN 3275401492", 12)
    assert all(cell_len(x) <= 12 for x in lines)
    assert "".join(lines).replace(" ", "") == "三次握手：客户端请求建立连接，初始序列号ISN3275401492"
    assert not any(x.startswith(("，", "：")) for x in lines)


# --- Mermaid ----------------------------------------------------------------------------------

def _diagrams(text: str) -> list[str]:
    parts = re.split(r"(?m)^(?=%% connection \d+$)", text)
    return [p for p in parts if "sequenceDiagram" in p]


MERMAID_VARIANTS = [[], ["--explain"], ["--explain", "--lang", "zh"], ["--unfold"]]


def _all_mermaid():
    for s in samples():
        for extra in MERMAID_VARIANTS:
            yield s, extra, run("--format", "mermaid", "--all", *extra, s)


def test_mermaid_grammar_for_every_sample():
    """The documented grammar (mermaid.check), in Python: always runs."""
    for s, extra, text in _all_mermaid():
        assert mermaid.check(text) == [], (s.name, extra, mermaid.check(text)[:5])
        flows, _ = flows_of(s.name)
        assert len(_diagrams(text)) == len(flows)


def test_mermaid_content_of_the_seed():
    text = run("--format", "mermaid", SAMPLES / "seed-8090.pcap")
    lines = [x.strip() for x in text.splitlines()]
    assert "participant C as client 127.0.0.1:47090" in lines
    assert "participant S as server 127.0.0.1:8090" in lines
    msgs = [x for x in lines if re.match(r"[CS](->>|-->>|-x)[CS]: ", x)]
    assert len(msgs) == 14
    assert msgs[0] == "C->>S: #35;1 [S] seq=0"
    assert msgs[1] == "S->>C: #35;2 [S.] seq=0 ack=1"
    assert msgs[3] == "C->>S: #35;4 [P.] 1:98 ack=1 len=97"
    i = lines.index(msgs[1])
    assert lines[i + 1:i + 3] == ["Note left of C: ESTABLISHED", "Note right of S: SYN_RECEIVED"]


def test_mermaid_folds_are_rects_and_resets_are_crosses():
    text = run("--format", "mermaid", SAMPLES / "half-close.pcap")
    assert re.search(r"rect rgb\(238, 238, 238\)\n    Note over C,S: … 5 packets folded .*\n    end", text)
    text = run("--format", "mermaid", "--all", SAMPLES / "reset-refused.pcap")
    assert "S-xC: #35;10 [R.] seq=36 ack=37 ⚠ RST" in text
    assert "Note over C,S: ⚠ RST: server reset the connection (in state ESTABLISHED)" in text
    text = run("--format", "mermaid", "--all", SAMPLES / "retransmission.pcap")
    assert "C-->>S: #35;23 [.] 5793:7241 ack=1 len=1448 ⚠ fast retransmission" in text


def test_mermaid_escaping():
    assert mermaid.escape("a;b #1 <x> 50%") == "a#59;b #35;1 #lt;x#gt; 50#37;"
    assert mermaid.escape("wrap: x").startswith("\u200b")
    assert mermaid.escape("") == "\u200b"
    assert mermaid.multiline("one two three four", 9) == "one two<br/>three<br/>four"


@pytest.mark.parametrize("bad,problem", [
    ("sequenceDiagram\n    participant C as c\n    participant S as s\n    C->>S: a;b\n", "not in the grammar"),
    ("sequenceDiagram\n    participant C as c\n    participant S as s\n    C->>X: hi\n", "before it is declared"),
    ("sequenceDiagram\n    participant C as c\n    participant S as s\n    C->>S: hi\n    rect rgb(1, 2, 3)\n",
     "rect without end"),
    ("sequenceDiagram\n    participant C as c\n    participant S as s\n    C->>S: #1 x\n", "not in the grammar"),
    ("sequenceDiagram\n    participant C as c\n    participant S as s\n    end\n    C->>S: x\n", "end without rect"),
    ("graph TD\n", "before sequenceDiagram"),
])
def test_mermaid_check_rejects(bad, problem):
    assert any(problem in p for p in mermaid.check(bad)), mermaid.check(bad)


def _mermaid_parser():
    node = shutil.which("node")
    if not node or not (MERMAID_DIR / "node_modules" / "mermaid").is_dir() \
            or not (MERMAID_DIR / "node_modules" / "jsdom").is_dir():
        return None
    return node


@pytest.mark.skipif(_mermaid_parser() is None,
                    reason="Mermaid's parser not installed: npm install --prefix tests/mermaid")
def test_mermaid_parser_accepts_every_sample():
    """Mermaid's own parser (mermaid.parse under jsdom, tests/mermaid/parse.mjs)."""
    texts, names = [], []
    for s, extra, text in _all_mermaid():
        for d in _diagrams(text):
            texts.append(d)
            names.append((s.name, extra))
    p = subprocess.run([_mermaid_parser(), str(MERMAID_DIR / "parse.mjs")], input=json.dumps(texts),
                       capture_output=True, text=True, timeout=300, cwd=MERMAID_DIR)
    assert p.returncode == 0, p.stderr[-2000:]
    results = json.loads(p.stdout)
    assert len(results) == len(texts)
    bad = [(n, r) for n, r in zip(names, results) if not r["ok"] or r["type"] != "sequence"]
    assert not bad, bad[:3]
    # and the parser does reject what Mermaid cannot take
    p = subprocess.run([_mermaid_parser(), str(MERMAID_DIR / "parse.mjs")],
                       input=json.dumps(["sequenceDiagram\n C->>S: a;b\n"]), capture_output=True, text=True,
                       timeout=120, cwd=MERMAID_DIR)
    assert json.loads(p.stdout)[0]["ok"] is False


# --- SVG ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("sample", samples(), ids=lambda p: p.name)
@pytest.mark.parametrize("extra", [[], ["--unfold", "--explain", "--lang", "zh"]], ids=["folded", "unfold-zh"])
def test_svg_is_xml_with_one_arrow_per_drawn_packet(sample, extra):
    text = run("--format", "svg", "--all", *extra, sample)
    root = ET.fromstring(text.encode())
    assert root.tag == SVG_NS + "svg"
    flows, _ = flows_of(sample.name)
    unfold = "--unfold" in extra
    drawn = [p.frame for f in flows for p, v in zip(f.packets, visible(f, unfold, 60)) if v]
    arrows = [e for e in root.iter(SVG_NS + "line") if e.get("class", "").startswith("arrow")]
    assert len(arrows) == len(drawn)
    groups = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "packet"]
    assert [int(g.get("data-frame")) for g in groups] == drawn
    assert len([g for g in root.iter(SVG_NS + "g") if g.get("class") == "connection"]) == len(flows)
    if unfold:
        assert len(drawn) == sum(len(f.packets) for f in flows)


def test_svg_arrow_directions_and_styles():
    root = ET.fromstring(run("--format", "svg", "--all", SAMPLES / "retransmission.pcap").encode())
    arrows = {int(g.get("data-frame")): g.find(SVG_NS + "line") for g in root.iter(SVG_NS + "g")
              if g.get("class") == "packet"}
    syn, synack = arrows[1], arrows[2]
    assert float(syn.get("x1")) < float(syn.get("x2")) and float(synack.get("x1")) > float(synack.get("x2"))
    assert float(syn.get("y2")) > float(syn.get("y1"))           # slanted: arrives after it leaves
    assert "resend" in arrows[23].get("class") and arrows[23].get("stroke-dasharray")
    rst = ET.fromstring(run("--format", "svg", "--all", SAMPLES / "reset-refused.pcap").encode())
    classes = [e.get("class") for e in rst.iter(SVG_NS + "line") if "arrow" in e.get("class", "")]
    assert classes.count("arrow s2c reset") == 2


def test_screenshot_script_writes_the_readme_image(tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_screenshot", ROOT / "docs" / "make_screenshot.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path / "ladder.svg")
    svg = (tmp_path / "ladder.svg").read_text(encoding="utf-8")
    ET.fromstring(svg.encode())
    assert "SYN_RECEIVED" in svg and "[S.]&#160;seq=0&#160;ack=1" in svg
    assert (ROOT / "docs" / "ladder-seed.svg").exists()
    assert "![ladder](docs/ladder-seed.svg)" in (ROOT / "README.md").read_text(encoding="utf-8")

"""Teaching depth (--explain) and the Chinese notes (--lang zh), read from the seed capture."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from tcptrace_py.core.capture import CaptureReader
from tcptrace_py.cli import main
from tcptrace_py.prose.explain import Explainer
from tcptrace_py.core.pipeline import Analyzer
from tcptrace_py.prose.teach import CONFIRMED, ConfirmTable, lesson_lines

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_pcaps"
SEED = SAMPLES / "seed-8090.pcap"


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def lessons(name: str, lang: str = "en") -> list[tuple[int, list[str]]]:
    """(frame, lesson lines) for every packet of every connection."""
    az = Analyzer(keep_packets=True)
    out = []
    for flow in az.run(CaptureReader(str(SAMPLES / name))):
        ex = Explainer(flow, lang)
        before = flow.init_states
        for p in flow.packets:
            out.append((p.frame, lesson_lines(ex.teach(p, before), lang)))
            before = (p.orig_state, p.resp_state)
    return out


# --- the handshake: what each side has confirmed ---------------------------------------------

def test_confirmation_tables_are_the_notes_tables():
    # (own sending, own receiving, peer's sending, peer's receiving), after steps 1, 2, 3
    assert CONFIRMED[1] == {"client": (0, 0, 0, 0), "server": (0, 1, 1, 0)}
    assert CONFIRMED[2] == {"client": (1, 1, 1, 1), "server": (0, 1, 1, 0)}
    assert CONFIRMED[3] == {"client": (1, 1, 1, 1), "server": (1, 1, 1, 1)}


def test_seed_handshake_lessons_en():
    by_frame = dict(lessons("seed-8090.pcap"))
    one, two, three = by_frame[1], by_frame[2], by_frame[3]
    assert one[0] == "after handshake step 1, what each side has confirmed (✓ = confirmed working):"
    assert one[1].split() == ["own", "send", "own", "recv", "peer", "send", "peer", "recv"]
    assert one[2].split() == ["client", "·", "·", "·", "·"]
    assert one[3].split() == ["server", "·", "✓", "✓", "·"]
    assert two[2].split() == ["client", "✓", "✓", "✓", "✓"]
    assert two[3].split() == ["server", "·", "✓", "✓", "·"]
    assert three[2].split() == ["client", "✓", "✓", "✓", "✓"]
    assert three[3].split() == ["server", "✓", "✓", "✓", "✓"]
    text = " ".join(one + two + three)
    assert "The client can confirm nothing yet" in text
    assert "the server learns that its own receiving works and that the client's sending works" in text
    assert "The server still cannot know whether its SYN-ACK arrived" in text
    assert "Why a third step: only this ACK tells the server that its own sending and the client's receiving work" in text
    assert "old duplicates" in text
    # ack = the peer's ISN + 1 because the SYN consumed one sequence number, with the real numbers
    m = re.search(r"the client's ISN is (\d+) and its SYN consumed one number, so the next number the server "
                  r"expects is \1 \+ 1 = (\d+) \(relative 0 \+ 1 = 1\)", text)
    assert m and int(m.group(2)) == int(m.group(1)) + 1


def _cells(line: str, pred) -> list[int]:
    """Cell positions of the characters that satisfy pred (a CJK character is two cells)."""
    out, pos = [], 0
    for i, ch in enumerate(line):
        if pred(line, i):
            out.append(pos)
        pos += cell_len(ch)
    return out


def test_confirmation_marks_sit_under_their_headings():
    for lang in ("en", "zh"):
        grid = ConfirmTable(2).grid(lang)
        head, client, server = grid[1], grid[2], grid[3]
        starts = _cells(head, lambda s, i: s[i] != " " and (i == 0 or s[i - 1] == " "))
        if lang == "en":      # two-word headings: one column per pair of words
            starts = starts[::2]
        marks = _cells(client, lambda s, i: s[i] in "✓·")
        assert len(starts) == len(marks) == 4, (lang, grid)
        assert all(h <= m < h + 8 for h, m in zip(starts, marks)), (lang, grid)
        assert _cells(server, lambda s, i: s[i] in "✓·") == marks


def test_confirmation_sentences():
    en = ConfirmTable(1).sentences("en")
    assert en[0] == ("after step 1 the client has confirmed nothing yet (not own sending, own receiving, "
                     "peer's sending, peer's receiving)")
    assert en[1] == ("after step 1 the server has confirmed: own receiving ✓, peer's sending ✓; "
                     "not yet: own sending, peer's receiving")
    zh = ConfirmTable(2).sentences("zh")
    assert zh[0] == "第 2 次握手后，客户端已确认：己方发送正常 ✓、己方接收正常 ✓、对方发送正常 ✓、对方接收正常 ✓"
    assert zh[1] == "第 2 次握手后，服务端已确认：己方接收正常 ✓、对方发送正常 ✓；尚未确认：己方发送正常、对方接收正常"
    assert str(ConfirmTable(3)).count("✓") == 8


def test_seed_handshake_lessons_zh():
    by_frame = dict(lessons("seed-8090.pcap", "zh"))
    one, two, three = by_frame[1], by_frame[2], by_frame[3]
    assert one[0] == "第 1 次握手后，双方各自确认了什么（✓ = 已确认正常）："
    assert one[1].split() == ["己方发送", "己方接收", "对方发送", "对方接收"]
    assert one[2].split() == ["客户端", "·", "·", "·", "·"]
    assert one[3].split() == ["服务端", "·", "✓", "✓", "·"]
    assert two[2].split() == ["客户端", "✓", "✓", "✓", "✓"]
    assert three[3].split() == ["服务端", "✓", "✓", "✓", "✓"]
    text = "".join(one + two + three)
    assert "客户端此时什么都无法确认" in text
    assert "服务端收到 SYN 后可以确认：自己接收正常，对方（客户端）发送正常" in text
    assert "为什么需要第三次握手" in text and "己方发送正常" in text and "对方接收正常" in text
    assert "SYN 消耗了一个序列号" in text


# --- the numbers: Ack = Seq + bytes ----------------------------------------------------------

def test_ack_rule_en():
    out = run("--format", "text", "--explain", SEED)
    assert ("Ack = Seq + bytes: frame 4 started at seq 1 and carried 97 bytes, so ack = 1 + 97 = 98, the next "
            "byte the server expects. For data there is no extra + 1") in out
    assert "Ack = Seq + bytes: frame 6 started at seq 1 and carried 4029 bytes, so ack = 1 + 4029 = 4030" in out
    assert out.count("Ack = Seq + bytes:") == 2            # once per direction, then the one-line sum
    assert "ack 195 = seq 98 + 97 bytes (frame 8)" in out
    assert "ack 8059 = seq 4030 + 4029 bytes (frame 10)" in out
    # the wrong rule is never taught as the rule
    assert "+ 1 for data" not in out
    assert out.count("Seq + bytes + 1") == out.count("'Ack = Seq + bytes + 1' is wrong")
    # SYN and FIN: ISN + 1
    assert re.search(r"ack 1 = client's ISN \d+ \+ 1, because the SYN consumed one sequence number", out)
    assert "its ACK will be 195 + 1 = 196" in out
    assert "ack 196 = the client's FIN seq 195 + 1" in out


def test_ack_rule_zh():
    out = run("--format", "text", "--explain", "--lang", "zh", SEED)
    assert "确认号 = 序列号 + 字节数：第 4 帧从 seq 1 开始，携带 97 字节，所以 ack = 1 + 97 = 98" in out
    assert "数据不再额外 + 1" in out
    assert "确认号 195 = seq 98 + 97 字节（第 8 帧）" in out
    assert re.search(r"确认号 ack 1 = 客户端的 ISN \d+ \+ 1，因为 SYN 消耗了一个序列号", out)


# --- the close ---------------------------------------------------------------------------------

def test_close_lessons_three_steps_seed():
    out = run("--format", "text", "--explain", SEED)
    assert "Active close: the client sent the first FIN, so it is the active closer and will end in TIME_WAIT" in out
    assert "the server is the passive closer" in out
    assert "Why three steps here" in out and "Why four steps" not in out
    assert "Why the client now waits 2×MSL in TIME_WAIT" in out
    assert "One MSL for the final ACK to reach the peer, and one MSL for a retransmitted FIN to come back" in out
    assert "The passive closer (the server) goes to CLOSED as soon as the ACK of its FIN arrives" in out
    assert ("Active closer: the client (sent the first FIN): ESTABLISHED → FIN_WAIT_1 → TIME_WAIT; passive "
            "closer: the server: ESTABLISHED → CLOSE_WAIT → LAST_ACK → CLOSED. The close took three segments") in out


def test_close_lessons_four_steps_and_half_close():
    out = run("--format", "text", "--explain", SAMPLES / "half-close.pcap")
    assert "Why four steps: TCP is full-duplex and each direction is closed on its own" in out
    assert "ack 52 = the client's FIN seq 51 + 1: a FIN consumes one sequence number" in out
    assert "half-closed" in out
    assert "FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT" in out


def test_close_lessons_simultaneous():
    out = run("--format", "text", "--explain", SAMPLES / "simultaneous-close.pcap")
    assert "Simultaneous close: both sides sent a FIN before seeing the other's, so both are active closers" in out
    assert "Why both sides now waits" not in out
    assert "Both sides were active closers (their FINs crossed): both end in TIME_WAIT." in out
    # the close is numbered in time order, and the last ACK acknowledges a FIN, not data
    assert "close 4/4: server acknowledges the client's FIN (ack 23 = FIN's seq 22 + 1)" in out
    assert "ack 23 = 1 + 22 bytes received" not in out


def test_close_zh_terms():
    out = run("--format", "text", "--explain", "--lang", "zh", SAMPLES / "half-close.pcap")
    for term in ("三次握手", "四次挥手", "主动关闭", "被动关闭", "半关闭", "确认号", "序列号", "2×MSL"):
        assert term in out, term


# --- anomalies: what happened, what to check ------------------------------------------------------

def test_anomaly_lessons():
    out = run("--format", "text", "--explain", "--all", SAMPLES / "retransmission.pcap")
    assert "What happened: three or more duplicate ACKs told the sender that a segment was lost" in out
    assert "Check next: the time since the first copy is the retransmission timeout (RTO)" in out
    assert "What probably happened: the first SYN or the SYN-ACK was lost" in out
    out = run("--format", "text", "--explain", "--all", SAMPLES / "reset-refused.pcap")
    assert "no program listens on port 8091" in out and "`ss -ltnp`" in out
    assert "closed with SO_LINGER set to 0" in out
    zh = run("--format", "text", "--explain", "--all", "--lang", "zh", SAMPLES / "reset-refused.pcap")
    assert "下一步检查" in zh and "端口 8091 上没有程序在监听" in zh


def test_lessons_only_with_explain():
    plain = run("--format", "text", SEED)
    assert "own send" not in plain and "Ack = Seq + bytes:" not in plain and "lessons:" not in plain
    explained = run("--format", "text", "--explain", SEED)
    assert "own send" in explained and "lessons:" in explained
    # --no-notes wins over --explain
    assert "own send" not in run("--format", "text", "--explain", "--no-notes", SEED)


def test_rich_table_carries_the_lessons():
    import io

    from rich.console import Console

    from tcptrace_py.render.term import RichRenderer
    console = Console(record=True, width=220, file=io.StringIO())
    r = RichRenderer(console=console, lang="zh", explain=True)
    az = Analyzer(keep_packets=True)
    for flow in az.run(CaptureReader(str(SEED))):
        r.flow(flow)
    r.close(az.stats)
    out = console.export_text()
    assert "己方发送" in out and "确认号 = 序列号 + 字节数" in out and "主动关闭方" in out
    assert "[S.]" in out                                   # capture text is not markup


# --- Chinese everywhere -----------------------------------------------------------------------------

ENGLISH = re.compile(r"\b(the|client|server|sends|acknowledges|bytes|connection|packets?)\b")


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".pcap", ".pcapng")))
def test_zh_notes_have_no_english_sentences(sample):
    out = run("--format", "text", "--explain", "--all", "--lang", "zh", SAMPLES / sample)
    for line in out.splitlines():
        s = line.strip()
        if s.startswith(("#", "options [", "! ")) or "Zeek:" in s or ".pcap" in s:
            continue
        assert not ENGLISH.search(s), line


def test_json_notes_stay_english():
    doc = json.loads(run("--format", "json", SEED))
    assert doc["flows"][0]["packets"][0]["note"].startswith("handshake 1/3: client asks")


def test_lang_reaches_every_renderer():
    for args in (["--format", "text"], ["--ladder", "--format", "text"], ["--format", "mermaid", "--explain"],
                 ["--format", "svg"]):
        out = run(*args, "--lang", "zh", SEED)
        assert "三次握手" in out or "客户端" in out, args

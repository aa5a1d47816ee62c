"""The annotated timeline as rows and sentences, shared by the text, rich and ladder renderers.

`rows()` builds one `Row` per printed packet (notes in the chosen language, and the
lessons of `teach.py` when `explain` is on); `header_lines`, `verdict_lines` and
`lesson_lines` give the text around them; `asciify` is what `--ascii` does to text.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from ..core.decode import format_options, parse_options
from ..prose.explain import Explainer, describe_end, describe_open, endpoint_str, fmt_dt
from ..core.records import SYN, flag_letters
from ..prose.teach import flow_lessons


@dataclass(slots=True)
class Row:
    frame: int
    t: float
    dir: int
    flags: str
    seq: str
    ack: str
    win: str
    length: int
    client: str
    server: str
    changed: tuple[bool, bool]
    note: str
    anomalies: list[tuple[str, str]]   # (kind, message)
    options: str
    teach: list = None                 # lessons (str or teach.ConfirmTable) with --explain
    where: str = ""                    # a capture set's "file:frame" ("" for one file)


def seq_text(p) -> str:
    """tcpdump's style: 'seq 1:98' for data (end exclusive), 'seq 0' otherwise."""
    if p.len:
        return f"{p.rseq}:{(p.rseq + p.len) & 0xFFFFFFFF}"
    return str(p.rseq)


def rows(flow, first: int | None = None, last: int | None = None, lang: str = "en", explain: bool = False,
         show=None):
    """Rows for the flow's packets; with first/last, only those (by index) are built, or with
    `show` (a predicate on the index), only the indices it accepts."""
    ex = Explainer(flow, lang)
    before = flow.init_states
    t0 = flow.first_ts
    n = len(flow.packets)
    fm = flow.files
    for i, p in enumerate(flow.packets):
        if show is not None:
            shown = show(i)
        else:
            shown = first is None or i < first or (last is not None and i >= n - last)
        if shown:
            an = [(k, ex.anomaly_message(p, k, v)) for k, v in p.anomalies.items()] if p.anomalies else []
            yield i, Row(
                frame=p.frame, t=p.ts - t0, dir=p.dir, flags=flag_letters(p.flags),
                seq=seq_text(p), ack="" if p.rack is None else str(p.rack), win=str(p.win),
                length=p.len, client=p.orig_state._value_, server=p.resp_state._value_,
                changed=(p.orig_state is not before[0], p.resp_state is not before[1]),
                note=ex.note(p, before), anomalies=an,
                options=options_text(p, flow) if p.flags & SYN or notable_options(p.options) else "",
                teach=ex.teach(p, before) if explain else [],
                where="" if fm is None else fm.short(p.frame),
            )
        before = (p.orig_state, p.resp_state)


def notable_options(raw: bytes) -> bool:
    """Options worth a line on a non-SYN packet: anything but padding and timestamps
    (SACK blocks on duplicate ACKs, MPTCP, TCP-AO, unknown kinds, malformed ones)."""
    if not raw or (len(raw) == 12 and raw.startswith(b"\x01\x01\x08\x0a")):   # none, or NOP NOP TS
        return False
    for k, _ in parse_options(raw):
        if k not in ("nop", "eol", "TS"):
            return True
    return False


def options_text(p, flow) -> str:
    """The packet's options as tcpdump prints them, SACK edges relative to the peer's base."""
    if not p.options:
        return ""
    base = flow.ends[1 - p.dir].base
    return format_options(p.options, base if base >= 0 else None)


def utc_text(ts: float) -> str:
    """A capture timestamp as UTC text; a timestamp no calendar can hold stays a number."""
    try:
        return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    except (ValueError, OverflowError, OSError):
        return f"{ts:.6f} s after the epoch"


def header_lines(flow, lang: str = "en") -> list[str]:
    start = utc_text(flow.first_ts)
    if lang == "zh":
        return [
            f"连接 {flow.id}: {endpoint_str(flow.orig)} (客户端) -> {endpoint_str(flow.resp)} (服务端)",
            f"  开始于 {start}，第一帧 {flow.first_frame}{_in_file(flow)}，共 {flow.npkts} 个包",
        ]
    return [
        f"Connection {flow.id}: {endpoint_str(flow.orig)} (client) -> {endpoint_str(flow.resp)} (server)",
        f"  started {start}, first frame {flow.first_frame}{_in_file(flow)}, {flow.npkts} packets",
    ]


def _in_file(flow) -> str:
    """In a capture set: where the first frame is (" (file:frame)"); "" for one file."""
    return "" if flow.files is None else f" ({flow.files.short(flow.first_frame)})"


def verdict_lines(flow, lang: str = "en") -> list[str]:
    v = flow.ended
    o, r = flow.ends
    zh = lang == "zh"

    def L(en: str, zh_text: str) -> str:     # (Explainer.L, without making an Explainer)
        return zh_text if zh else en

    opened = describe_open(flow, lang)        # (each in the one language asked for)
    ended = describe_end(flow, lang)
    lines = [
        L(f"  opened: {opened}", f"  建立：{opened}"),
        L(f"  ended:  {ended}", f"  结束：{ended}"),
        L(f"  final state: client {o.state.value}, server {r.state.value}",
          f"  最终状态：客户端 {o.state.value}，服务端 {r.state.value}")
        + f"   (Zeek: {v.conn_state} {v.history})",
        L(f"  client -> server: {v.orig_pkts} packets, {v.orig_bytes} payload bytes;"
          f"  server -> client: {v.resp_pkts} packets, {v.resp_bytes} payload bytes;  duration {fmt_dt(v.duration)}",
          f"  客户端 -> 服务端：{v.orig_pkts} 个包，{v.orig_bytes} 字节载荷；"
          f"  服务端 -> 客户端：{v.resp_pkts} 个包，{v.resp_bytes} 字节载荷；  持续 {fmt_dt(v.duration)}"),
    ]
    if v.anomaly_counts:
        lines.append(L("  anomalies: ", "  异常：") + L(", ", "，").join(
            f"{k} ×{n}" for k, n in sorted(v.anomaly_counts.items())))
    else:
        lines.append(L("  anomalies: none", "  异常：无"))
    ex = Explainer(flow, lang) if zh and flow.anomalies else None
    for a in flow.anomalies:
        lines.append(f"    ! {a.kind}: {a.message if ex is None else ex.flow_anomaly_message(a)}")
    return lines


def lesson_lines(flow, lang: str = "en") -> list[str]:
    """The lessons for the whole connection (--explain), shown under the verdict."""
    return flow_lessons(Explainer(flow, lang))


ASCII = {"–": "-", "—": "--", "×": "x", "µs": "us", "…": "...", "→": "->", "▸": ">", "←": "<-", "✓": "Y", "·": "-",
         "⚠": "!", "“": '"', "”": '"', "‘": "'", "’": "'", "√": "Y", "≥": ">=", "≤": "<="}


def asciify(s: str) -> str:
    """--ascii: the typographic characters of the notes as ASCII (Chinese text stays as it is)."""
    if s.isascii():
        return s
    for k, v in ASCII.items():
        s = s.replace(k, v)
    return s


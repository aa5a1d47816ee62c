"""The annotated timeline as rows and sentences, shared by the text and rich renderers."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from ..explain import Explainer, describe_end, describe_open, endpoint_str, fmt_dt
from ..records import FIN, SYN, flag_letters


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


def seq_text(p) -> str:
    """tcpdump's style: 'seq 1:98' for data (end exclusive), 'seq 0' otherwise."""
    if p.len:
        return f"{p.rseq}:{(p.rseq + p.len) & 0xFFFFFFFF}"
    return str(p.rseq)


def rows(flow, first: int | None = None, last: int | None = None):
    """Rows for the flow's packets; with first/last, only those (by index) are built."""
    ex = Explainer(flow)
    before = flow.init_states
    t0 = flow.first_ts
    n = len(flow.packets)
    for i, p in enumerate(flow.packets):
        show = first is None or i < first or (last is not None and i >= n - last)
        if show:
            an = [(k, ex.anomaly_message(p, k, v)) for k, v in p.anomalies.items()] if p.anomalies else []
            yield i, Row(
                frame=p.frame, t=p.ts - t0, dir=p.dir, flags=flag_letters(p.flags),
                seq=seq_text(p), ack="" if p.rack is None else str(p.rack), win=str(p.win),
                length=p.len, client=p.orig_state.value, server=p.resp_state.value,
                changed=(p.orig_state is not before[0], p.resp_state is not before[1]),
                note=ex.note(p, before), anomalies=an,
                options=_opts(p) if p.flags & SYN else "",
            )
        before = (p.orig_state, p.resp_state)


def _opts(p) -> str:
    from ..decode import format_options
    return format_options(p.options) if p.options else ""


def header_lines(flow) -> list[str]:
    start = _dt.datetime.fromtimestamp(flow.first_ts, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    return [
        f"Connection {flow.id}: {endpoint_str(flow.orig)} (client) -> {endpoint_str(flow.resp)} (server)",
        f"  started {start}, first frame {flow.first_frame}, {flow.npkts} packets",
    ]


def verdict_lines(flow) -> list[str]:
    v = flow.ended
    o, r = flow.ends
    lines = [
        f"  opened: {describe_open(flow)}",
        f"  ended:  {describe_end(flow)}",
        f"  final state: client {o.state.value}, server {r.state.value}"
        f"   (Zeek: {v.conn_state} {v.history})",
        f"  client -> server: {v.orig_pkts} packets, {v.orig_bytes} payload bytes;"
        f"  server -> client: {v.resp_pkts} packets, {v.resp_bytes} payload bytes;  duration {fmt_dt(v.duration)}",
    ]
    if v.anomaly_counts:
        lines.append("  anomalies: " + ", ".join(f"{k} ×{n}" for k, n in sorted(v.anomaly_counts.items())))
    else:
        lines.append("  anomalies: none")
    for a in flow.anomalies:
        lines.append(f"    ! {a.kind}: {a.message}")
    return lines


def closing_note(flow) -> bool:
    return any(p.flags & FIN for p in flow.packets)

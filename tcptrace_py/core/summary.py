"""summary: the per-flow verdict — how the connection opened and ended, final
states, counts, RTT — plus Zeek's conn_state and history (see zeek.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import zeek
from .records import State


@dataclass(slots=True)
class Verdict:
    opened: str            # handshake | handshake_no_ack | midstream | syn_unanswered | refused | partial_handshake
    ended: str             # graceful | reset | half_closed | open | refused | unanswered
    closer: str | None     # "orig" / "resp": who closed (FIN) or reset first
    conn_state: str
    history: str
    duration: float
    orig_pkts: int
    resp_pkts: int
    orig_bytes: int        # payload bytes as captured (retransmissions included)
    resp_bytes: int
    irtt: float | None
    anomaly_counts: dict


def summarize(flow) -> Verdict:
    o, r = flow.ends
    if o.syn_frame is not None and r.syn_frame is not None:
        opened = "handshake" if flow.irtt is not None else "handshake_no_ack"
    elif o.syn_frame is not None:
        if r.rst_frame is not None and r.synack_frame is None and r.bytes == 0:
            opened = "refused"
        elif r.sent_any:
            opened = "partial_handshake"     # the server answered, but its SYN-ACK was not captured
        else:
            opened = "syn_unanswered"
    elif r.syn_frame is not None:
        opened = "partial_handshake"
    else:
        opened = "midstream"
    closer = None
    if o.rst_frame is not None or r.rst_frame is not None:
        ended = "refused" if opened == "refused" else "reset"
        closer = "orig" if flow.rst_dir == 0 else "resp"
    elif o.state in (State.CLOSED, State.TIME_WAIT) and r.state in (State.CLOSED, State.TIME_WAIT):
        ended = "graceful"
        closer = "orig" if flow.first_fin_dir == 0 else "resp"
    elif o.fin_frame is not None or r.fin_frame is not None:
        ended = "half_closed"
        closer = "orig" if flow.first_fin_dir == 0 else "resp"
    elif opened == "syn_unanswered":
        ended = "unanswered"
    else:
        ended = "open"
    z = flow.zeek
    v = Verdict(
        opened=opened, ended=ended, closer=closer,
        conn_state=zeek.conn_state(z) if z is not None else "OTH",
        history=z.history() if z is not None else "",
        duration=flow.last_ts - flow.first_ts,
        orig_pkts=o.pkts, resp_pkts=r.pkts, orig_bytes=o.bytes, resp_bytes=r.bytes,
        irtt=flow.irtt,
        anomaly_counts={k: v[0] for k, v in flow.counts.items()},
    )
    for a in flow.anomalies:
        v.anomaly_counts[a.kind] = v.anomaly_counts.get(a.kind, 0) + 1
    flow.ended = v
    return v

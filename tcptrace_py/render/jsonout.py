"""JSON and JSON Lines: the one place that maps the analysis to dicts.

The JSON contract is API (README, "JSON output"); `SCHEMA` changes whenever a
key changes meaning or goes away. New keys may be added within a version.

* ``--format json``: one document ``{"schema", "flows": [...], "scans", "capture", "totals"}``,
  written flow by flow as flows finish, so a large capture streams.
* ``--format jsonl``: one object per line, each with a ``type``: ``packet`` lines
  of a flow, then its ``flow`` line (without packets), ..., then a ``scan`` line
  for each SYN scan or flood found (scans.py), one ``capture`` line and one
  ``totals`` line at the end.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring as _jstr   # the C encoder's own string escaping

from ..core.decode import addr_str, format_options
from ..prose.explain import Explainer
from ..core.records import SYN, flag_letters
from .spool import write_piece

SCHEMA = "tcpflow-explain/1"
DIRS = ("orig", "resp")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def typed_line(kind: str, d: dict) -> str:
    """One JSON Lines record: `{"type": kind, ...d}` and its newline (the one formatter of the
    records after the packets: an empty `d` gives `{"type":kind}`, never a dangling comma)."""
    return _dumps({"type": kind, **d}) + "\n"


def new_totals() -> dict:
    """The totals of no connection: every key present, so an empty capture has the same shape."""
    return {"flows": 0, "packets": 0, "anomalies": {}, "conn_states": {}}


def endpoint(ep) -> dict:
    return {"ip": addr_str(ep[0]), "port": ep[1]}


def _r(x, n=6):
    return None if x is None else round(x, n)


def _rto(an):
    """Seconds since these bytes were first sent, for a retransmission after a timeout."""
    if an and "retransmission" in an:
        d = an["retransmission"]
        if isinstance(d, tuple) and len(d) > 2 and d[1] is not None:
            return round(d[1], 6)
    return None


def packet_dicts(flow, notes: bool = True):
    ex = Explainer(flow) if notes else None
    before = flow.init_states
    fm = flow.files
    for p in flow.packets:
        an = p.anomalies
        d = where(fm, p.frame)
        d.update({
            "ts": round(p.ts, 6),
            "dir": DIRS[p.dir],
            "flags": flag_letters(p.flags),
            "seq": p.rseq,
            "ack": p.rack,
            "len": p.len,
            "win": p.win,
            "state": {"orig": p.orig_state.value, "resp": p.resp_state.value},
            "anomalies": list(an) if an else [],
            "ack_rtt": _r(p.ack_rtt),
            "in_flight": p.in_flight if p.in_flight is None or p.in_flight < 0x80000000 else None,
            "rto": _rto(an),
            "note": ex.note(p, before) if ex else None,
        })
        if p.flags & SYN and p.options:
            d["options"] = format_options(p.options)
        if p.cut:
            d["cut"] = True
        before = (p.orig_state, p.resp_state)
        yield d


CHUNK = 4096      # packet objects handed to `flush` at a time


def where(fm, frame):
    """The keys that say where a frame is: `{"frame": n}` for one capture file; in a capture
    set (`fm`, its captureset.FrameMap), the file, the frame's number in it and its number in
    the merged set (which notes and every other frame reference count in)."""
    if fm is None or frame is None:
        return {"frame": frame}
    path, local = fm.where(frame)
    return {"file": path, "frame": local, "set_frame": frame}


def packet_json(flow, notes: bool = True, head: str = "{", flush=None, explainer=None) -> list[str]:
    """Each packet's JSON object, as text: the same bytes as encoding `packet_dicts` (a test
    checks it on every sample and corpus capture), written out directly because this runs once
    per packet. `head` opens each object (JSON Lines puts the record type and flow id there).
    With `flush`, every CHUNK objects are handed to `flush(list)` as they are made, and the
    list returned holds the rest: a long connection is written without all of it in memory.
    `explainer`: the flow's English Explainer, if one is made already."""
    out = []
    ex = (explainer if explainer is not None else Explainer(flow)) if notes else None
    before = flow.init_states
    fm = flow.files
    for p in flow.packets:
        an = p.anomalies
        if fm is None:
            fr = f'"frame":{p.frame}'
        else:
            fpath, local = fm.where(p.frame)
            fr = f'"file":{_jstr(fpath)},"frame":{local},"set_frame":{p.frame}'
        rack = p.rack
        rtt = p.ack_rtt
        fl = p.in_flight
        if an:
            rto = _rto(an)
            ans = '["' + '","'.join(an) + '"]'
        else:
            rto = None
            ans = "[]"
        note = ex.note(p, before) if ex is not None else None
        os_, rs = p.orig_state, p.resp_state
        s = (f'{head}{fr},"ts":{round(p.ts, 6)!r},"dir":"{DIRS[p.dir]}",'
             f'"flags":"{flag_letters(p.flags)}","seq":{p.rseq},"ack":{"null" if rack is None else rack},'
             f'"len":{p.len},"win":{p.win},"state":{{"orig":"{os_._value_}","resp":"{rs._value_}"}},'
             f'"anomalies":{ans},"ack_rtt":{"null" if rtt is None else repr(round(rtt, 6))},'
             f'"in_flight":{"null" if fl is None or fl >= 0x80000000 else fl},'
             f'"rto":{"null" if rto is None else repr(rto)},"note":{"null" if note is None else _jstr(note)}')
        if p.flags & SYN and p.options:
            s += ',"options":' + _jstr(format_options(p.options))
        if p.cut:
            s += ',"cut":true'
        before = (os_, rs)
        out.append(s + "}")
        if flush is not None and len(out) >= CHUNK:
            flush(out)
            out = []
    return out


def anomaly_list(flow, ex=None) -> list[dict]:
    """Every anomaly of the flow, per packet and flow-level, with a message (`ex`: the flow's
    English Explainer, if one is made already)."""
    return list(anomaly_records(flow, ex))


def anomaly_records(flow, ex=None):
    """`anomaly_list`, one record at a time (a long connection may have a million)."""
    fm = flow.files
    if flow.packets:
        if ex is None:
            ex = Explainer(flow)
        for p in flow.packets:
            if p.anomalies:
                for k, det in p.anomalies.items():
                    yield {"kind": k, **where(fm, p.frame), "dir": DIRS[p.dir],
                           "message": ex.anomaly_message(p, k, det)}
    else:
        for k, (n, first) in flow.counts.items():
            yield {"kind": k, **where(fm, first), "dir": None,
                   "message": f"{n} × {k.replace('_', ' ')} (first in frame {first})"}
    for a in flow.anomalies:
        yield {"kind": a.kind, **where(fm, a.frame), "dir": None if a.dir is None else DIRS[a.dir],
               "message": a.message}


_ANOMALIES_AT = ',"anomalies":[],"reuses":'


def write_flow_object(flow, d: dict, write, ex, close: bool = True) -> None:
    """Write `_dumps(d)` through `write`, where `d` is `flow_dict(..., with_anomalies=False)`:
    the same bytes as with its anomaly list, written a chunk of records at a time (without the
    closing brace unless `close`: the caller adds keys)."""
    text = _dumps(d)
    if not close:
        text = text[:-1]
    at = text.index(_ANOMALIES_AT) + len(_ANOMALIES_AT) - len('],"reuses":')
    write(text[:at])
    put = elements(write)
    chunk: list[str] = []
    for a in anomaly_records(flow, ex):
        chunk.append(_dumps(a))
        if len(chunk) >= CHUNK:
            put(chunk)
            chunk = []
    put(chunk)
    write(text[at:])


def elements(write):
    """A function that writes lists of encoded JSON values through `write` as the elements of
    one array, a comma between each (the array's brackets are the caller's)."""
    first = [True]

    def put(items: list) -> None:
        if items:
            write(("" if first[0] else ",") + ",".join(items))
            first[0] = False
    return put


def flow_dict(flow, with_packets: bool = True, notes: bool = True, ex=None, with_anomalies: bool = True) -> dict:
    v = flow.ended
    o, r = flow.ends
    z = flow.zeek   # Zeek's view (zeek.py): sizes in Zeek's orientation, None where conn.log has '-'
    d = {
        "id": flow.id,
        "orig": endpoint(flow.orig),
        "resp": endpoint(flow.resp),
        "oriented_by": flow.oriented_by,
        "start_ts": round(flow.first_ts, 6),
        "end_ts": round(flow.last_ts, 6),
        "duration": _r(v.duration),
        "first_frame": flow.first_frame,
        "last_frame": flow.last_frame,
        "opened": v.opened,
        "ended": v.ended,
        "closer": v.closer,
        "final_state": {"orig": o.state.value, "resp": r.state.value},
        "conn_state": v.conn_state,
        "history": v.history,
        "handshake_rtt": _r(flow.irtt),
        "ack_rtt": (None if flow.ack_rtt is None else
                    {"n": flow.ack_rtt[1], "mean": _r(flow.ack_rtt[0] / flow.ack_rtt[1]), "max": _r(flow.ack_rtt[2])}),
        "orig_pkts": v.orig_pkts,
        "resp_pkts": v.resp_pkts,
        "orig_bytes": v.orig_bytes,
        "resp_bytes": v.resp_bytes,
        "zeek_orig_bytes": z.orig_bytes if z is not None else None,
        "zeek_resp_bytes": z.resp_bytes if z is not None else None,
        "missed_bytes": z.missed_bytes if z is not None else 0,
        "anomaly_counts": v.anomaly_counts,
        "anomalies": anomaly_list(flow, ex) if with_anomalies else [],
        "reuses": flow.reused_from if isinstance(flow.reused_from, int) else None,
    }
    fm = flow.files
    if fm is not None:
        # a capture set: first_frame and last_frame count through the merged set; here is where
        # those frames are in their files
        d["first_file"], d["first_file_frame"] = fm.where(flow.first_frame)
        d["last_file"], d["last_file_frame"] = fm.where(flow.last_frame)
    if with_packets:
        d["packets"] = list(packet_dicts(flow, notes))
    return d


def capture_dict(stats) -> dict:
    sk = stats.skipped
    return {
        "path": stats.path,
        "format": stats.format,
        "frames": stats.frames,
        "tcp_packets": stats.tcp_packets,
        "flows": stats.flows,
        "link_types": stats.linktypes,
        "skipped": {"not_tcp": sk.not_tcp, "undecodable": sk.undecodable},
        "warnings": [warning_dict(w) for w in stats.warnings],
        "interrupted": stats.interrupted,
        **({} if stats.files is None else {"files": [file_dict(f) for f in stats.files]}),
    }


def warning_dict(w) -> dict:
    d = {"kind": w.kind, "message": w.message, "frame": w.frame, "offset": w.offset}
    if w.file is not None:
        d["file"] = w.file           # a capture set's: frame and offset are in this file
    return d


def file_dict(f) -> dict:
    """One file of a capture set (captureset.FileInfo)."""
    from ..core.decode import link_name
    return {
        "path": f.path,
        "format": f.format or None,
        "frames": f.frames,
        "first_ts": _r(f.first_ts),
        "last_ts": _r(f.last_ts),
        "link_types": {link_name(k): v for k, v in f.linktypes.items()},
        "warnings": [warning_dict(w) for w in f.warnings],
        "error": f.error,
    }


def policy_dict(violations) -> dict | None:
    if violations is None:
        return None
    return {"passed": not violations,
            "violations": [{"flow": v.flow, "endpoints": v.endpoints, "rule": v.rule, "frame": v.frame,
                            "message": v.message} for v in violations]}


class _FlowWriter:
    """What the two JSON writers share. `write_flow(flow, write)` (each writer's own) writes one
    flow and returns what it adds to the totals; `fragment(flow)` is the same as text (no
    state: a --jobs worker calls it), which the writer's `put(...)` writes in its turn."""

    def __init__(self, out, with_packets: bool = True):
        self.out = out
        self.with_packets = with_packets
        self.totals = new_totals()
        self.verdict = None

    def policy(self, violations) -> None:
        """Called before close() when a policy was checked."""
        self.verdict = policy_dict(violations)

    def write_flow(self, flow, write) -> tuple:
        raise NotImplementedError

    def fragment(self, flow) -> tuple[str, tuple]:
        parts: list[str] = []
        totals = self.write_flow(flow, parts.append)
        return "".join(parts), totals


class JsonWriter(_FlowWriter):
    """Streams one JSON document: header, flows as they come, capture stats last."""

    def __init__(self, out, with_packets: bool = True):
        super().__init__(out, with_packets)
        self.n = 0
        out.write('{"schema":%s,"flows":[' % _dumps(SCHEMA))

    def write_flow(self, flow, write) -> tuple:
        """Write one flow's object through `write(str)`, its packets as they are made; return
        what it adds to the totals (no state: a --jobs worker calls it)."""
        ex = Explainer(flow) if flow.packets else None     # one for the anomalies and the notes
        d = flow_dict(flow, with_packets=False, ex=ex, with_anomalies=False)
        if not self.with_packets:
            write_flow_object(flow, d, write, ex)
            return totals_of(d)
        # "packets" is the last key of a flow
        write_flow_object(flow, d, write, ex, close=False)
        write(',"packets":[')
        put = elements(write)
        put(packet_json(flow, True, "{", put, ex))
        write("]}")
        return totals_of(d)

    def put(self, frag: tuple) -> None:
        text, totals = frag
        _add_totals(self.totals, totals)
        self.out.write("\n," if self.n else "\n")
        write_piece(self.out, text)
        self.n += 1

    def flow(self, flow) -> None:
        self.out.write("\n," if self.n else "\n")
        _add_totals(self.totals, self.write_flow(flow, self.out.write))
        self.n += 1

    def close(self, stats) -> None:
        pol = ',"policy":%s' % _dumps(self.verdict) if self.verdict is not None else ""
        self.out.write('\n],"scans":%s,"capture":%s,"totals":%s%s}\n' % (
            _dumps(stats.scans.findings()), _dumps(capture_dict(stats)), _dumps(self.totals), pol))


class JsonlWriter(_FlowWriter):
    """Streams JSON Lines: each flow's packet lines and flow line as they come, capture stats last."""

    def write_flow(self, flow, write) -> tuple:
        """Write one flow's lines through `write(str)`, the packet lines as they are made;
        return what it adds to the totals (no state: a --jobs worker calls it)."""
        ex = Explainer(flow) if flow.packets else None     # one for the notes and the anomalies
        if self.with_packets:
            def flush(lines: list) -> None:
                if lines:
                    write("\n".join(lines) + "\n")
            flush(packet_json(flow, True, '{"type":"packet","flow":%d,' % flow.id, flush, ex))
        d = flow_dict(flow, with_packets=False, ex=ex, with_anomalies=False)
        write_flow_object(flow, {"type": "flow", **d}, write, ex)
        write("\n")
        return totals_of(d)

    def put(self, frag: tuple) -> None:
        text, totals = frag
        _add_totals(self.totals, totals)
        write_piece(self.out, text)
        self.out.flush()

    def flow(self, flow) -> None:
        _add_totals(self.totals, self.write_flow(flow, self.out.write))
        self.out.flush()

    def close(self, stats) -> None:
        for f in stats.scans.findings():
            self.out.write(typed_line("scan", f))
        self.out.write(typed_line("capture", capture_dict(stats)))
        self.out.write(typed_line("totals", self.totals))
        if self.verdict is not None:
            self.out.write(typed_line("policy", self.verdict))


def totals_of(d: dict) -> tuple:
    """What one flow adds to the totals: (packets, anomaly counts, conn_state)."""
    return d["orig_pkts"] + d["resp_pkts"], d["anomaly_counts"], d["conn_state"]


def _add_totals(totals: dict, t: tuple) -> None:
    pkts, counts, state = t
    totals["flows"] += 1
    totals["packets"] += pkts
    an = totals["anomalies"]
    for k, n in counts.items():
        an[k] = an.get(k, 0) + n
    cs = totals["conn_states"]
    cs[state] = cs.get(state, 0) + 1

"""Plain, deterministic text: the timeline when piped or with --format text."""
from __future__ import annotations

from .timeline import header_lines, rows, verdict_lines

ARROW = ("C->S", "S->C")


class TextRenderer:
    def __init__(self, out, limit: int | None = 20, max_packets: int | None = 60, notes: bool = True):
        self.out = out
        self.limit = limit
        self.max_packets = max_packets
        self.shown = 0
        self.hidden = 0
        self.notes = notes

    def flow(self, flow) -> None:
        if self.limit is not None and self.shown >= self.limit:
            self.hidden += 1
            return
        self.shown += 1
        w = self.out.write
        w("\n".join(header_lines(flow)) + "\n\n")
        n = len(flow.packets)
        mp = self.max_packets
        first = last = None
        if mp and n > mp:
            first, last = mp * 2 // 3, mp - mp * 2 // 3
        prev = -1
        for i, r in rows(flow, first, last):
            if i != prev + 1:
                w(f"         … {i - prev - 1} packets not shown (--max-packets 0 shows all) …\n")
            prev = i
            line = (f"  #{r.frame:<6} {r.t:>11.6f}  {ARROW[r.dir]}  [{r.flags}]  seq {r.seq}"
                    + (f"  ack {r.ack}" if r.ack else "")
                    + f"  win {r.win}  len {r.length}")
            line = f"{line:<76} {r.client}/{r.server}"
            w(line + "\n")
            if r.options:
                w(f"           options [{r.options}]\n")
            if self.notes and r.note:
                w(f"           {r.note}\n")
            for kind, msg in r.anomalies:
                if kind in ("rst", "connection_refused"):
                    continue
                w(f"           ! {kind}: {msg}\n")
        w("\n" + "\n".join(verdict_lines(flow)) + "\n\n")

    def close(self, stats) -> None:
        w = self.out.write
        if self.hidden:
            w(f"Showed {self.shown} of {self.shown + self.hidden} connections in full "
              f"(--limit). Use --all for every connection, --flow ID for one, "
              f"or --format json for everything.\n")
        w(capture_line(stats) + "\n")
        for line in skipped_lines(stats):
            w(line + "\n")


def capture_line(stats) -> str:
    return (f"{stats.path}: {stats.format}, {stats.frames} frames, {stats.tcp_packets} TCP packets, "
            f"{stats.flows} connection{'' if stats.flows == 1 else 's'}")


def skipped_lines(stats) -> list[str]:
    sk = stats.skipped
    out = []
    if sk.not_tcp:
        out.append("  not TCP, skipped: " + ", ".join(f"{k} ×{v}" for k, v in sorted(sk.not_tcp.items())))
    if sk.undecodable:
        out.append("  could not be decoded: " + ", ".join(
            f"{k} ×{v} (first: frame {sk.examples.get(k)})" for k, v in sorted(sk.undecodable.items())))
    return out

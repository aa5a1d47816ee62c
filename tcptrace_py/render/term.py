"""rich output for a terminal: one table per connection, coloured by phase.

Text that comes from the capture (addresses, notes with numbers) is passed as
`rich.text.Text`, never as markup, so brackets such as ``[S.]`` print as they are.
"""
from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .text import capture_line, skipped_lines
from .timeline import header_lines, rows, verdict_lines

ARROW = ("→", "←")
FLAG_STYLE = {"S": "bold green", "S.": "bold green", "F.": "bold yellow", "F": "bold yellow",
              "R": "bold red", "R.": "bold red"}
BAD = {"rst", "connection_refused", "retransmission", "fast_retransmission", "lost_segment",
       "zero_window", "syn_unanswered", "synack_unanswered", "unexpected_segment", "invalid_flags",
       "data_after_rst", "data_after_fin", "out_of_order"}


class RichRenderer:
    def __init__(self, limit: int | None = 20, max_packets: int | None = 60, notes: bool = True,
                 console: Console | None = None):
        self.console = console or Console(highlight=False)
        self.limit = limit
        self.max_packets = max_packets
        self.notes = notes
        self.shown = 0
        self.hidden = 0

    def flow(self, flow) -> None:
        if self.limit is not None and self.shown >= self.limit:
            self.hidden += 1
            return
        self.shown += 1
        c = self.console
        head = header_lines(flow)
        t = Table(box=None, pad_edge=False, show_edge=False, expand=False, header_style="bold dim")
        t.add_column("#", justify="right", style="dim")
        t.add_column("time", justify="right")
        t.add_column("", justify="center")
        t.add_column("flags")
        t.add_column("seq", justify="right")
        t.add_column("ack", justify="right")
        t.add_column("win", justify="right", style="dim")
        t.add_column("len", justify="right")
        t.add_column("client", style="cyan")
        t.add_column("server", style="magenta")
        t.add_column("what happened", ratio=1, min_width=30)
        n = len(flow.packets)
        mp = self.max_packets
        first = last = None
        if mp and n > mp:
            first, last = mp * 2 // 3, mp - mp * 2 // 3
        prev = -1
        for i, r in rows(flow, first, last):
            if i != prev + 1:
                t.add_row("", "", "", "", "", "", "", "", "", "",
                          Text(f"… {i - prev - 1} packets not shown (--max-packets 0 shows all) …", style="dim italic"))
            prev = i
            note = Text(r.note if self.notes else "")
            for kind, msg in r.anomalies:
                if kind in ("rst", "connection_refused"):
                    continue
                note.append(("\n" if note else "") + f"⚠ {kind}: {msg}",
                            style="red" if kind in BAD else "yellow")
            t.add_row(
                Text(str(r.frame)), Text(f"{r.t:.6f}"),
                Text(ARROW[r.dir], style="cyan" if r.dir == 0 else "magenta"),
                Text(f"[{r.flags}]", style=FLAG_STYLE.get(r.flags, "")),
                Text(r.seq), Text(r.ack), Text(r.win), Text(str(r.length)),
                Text(r.client, style="bold" if r.changed[0] else "dim"),
                Text(r.server, style="bold" if r.changed[1] else "dim"),
                note,
            )
        verdict = Text("\n".join(verdict_lines(flow)))
        c.print(Panel(Group(t, Text(""), verdict), title=Text(head[0].strip(), style="bold"),
                      subtitle=Text(head[1].strip()), title_align="left", subtitle_align="left"))

    def close(self, stats) -> None:
        c = self.console
        if self.hidden:
            c.print(Text(f"Showed {self.shown} of {self.shown + self.hidden} connections in full "
                         f"(--limit). Use --all for every connection, --flow ID for one, "
                         f"or --format json for everything.", style="yellow"))
        c.print(Text(capture_line(stats), style="dim"))
        for line in skipped_lines(stats):
            c.print(Text(line, style="dim"))

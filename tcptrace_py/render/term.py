"""rich output for a terminal: one table per connection, coloured by phase.

Text that comes from the capture (addresses, notes with numbers) is passed as
`rich.text.Text`, never as markup, so brackets such as ``[S.]`` print as they are.
Notes follow ``--lang``; with ``--explain`` each packet's lessons (`teach.py`)
follow its note in a dimmer style, and the connection's lessons its verdict.
Every rich console of the CLI is a `QuietConsole`: a reader that goes away
(``| head``) is left to the CLI, which ends the run quietly with exit code 0.
"""
from __future__ import annotations

import errno

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..core.anomaly_kinds import RED_IN_TABLE
from ..prose.teach import lesson_lines as _lesson_text
from .text import capture_line, shown_line, skipped_lines
from .timeline import asciify, header_lines, lesson_lines, rows, verdict_lines
from .view import View

ARROW = ("→", "←")
ASCII_ARROW = ("->", "<-")
FLAG_STYLE = {"S": "bold green", "S.": "bold green", "F.": "bold yellow", "F": "bold yellow",
              "R": "bold red", "R.": "bold red"}
BAD = RED_IN_TABLE


class QuietConsole(Console):
    """A rich Console that reports a closed pipe as BrokenPipeError (rich's own handling exits
    with code 1 before the CLI can say the run ended quietly)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


class RichRenderer(View):
    def __init__(self, console: Console | None = None, **view):
        super().__init__(**view)
        self.console = console or QuietConsole(highlight=False)

    def flow(self, flow) -> None:
        if not self.take():
            return
        c = self.console
        zh = self.lang == "zh"
        A = asciify if self.ascii else (lambda x: x)
        arrows = ASCII_ARROW if self.ascii else ARROW
        head = [A(h) for h in header_lines(flow, self.lang)]
        t = Table(box=None, pad_edge=False, show_edge=False, expand=False, header_style="bold dim")
        ov = "crop" if self.ascii else "ellipsis"         # rich's ellipsis is not ASCII
        t.add_column("#", justify="right", style="dim", overflow=ov)
        t.add_column("时间" if zh else "time", justify="right", overflow=ov)
        t.add_column("", justify="center", overflow=ov)
        t.add_column("标志" if zh else "flags", overflow=ov)
        t.add_column("seq", justify="right", overflow=ov)
        t.add_column("ack", justify="right", overflow=ov)
        t.add_column("窗口" if zh else "win", justify="right", style="dim", overflow=ov)
        t.add_column("长度" if zh else "len", justify="right", overflow=ov)
        t.add_column("客户端" if zh else "client", style="cyan", overflow=ov)
        t.add_column("服务端" if zh else "server", style="magenta", overflow=ov)
        t.add_column("发生了什么" if zh else "what happened", ratio=1, min_width=30, overflow=ov)
        n = len(flow.packets)
        first, last = self.window(n)
        prev = -1
        shown_file = None
        for i, r in rows(flow, first, last, lang=self.lang, explain=self.explain and self.notes):
            if i != prev + 1:
                k = i - prev - 1
                t.add_row("", "", "", "", "", "", "", "", "", "",
                          Text(A(f"… 省略了 {k} 个包（--max-packets 0 显示全部）…" if zh else
                                 f"… {k} packets not shown (--max-packets 0 shows all) …"), style="dim italic"))
            prev = i
            note = Text(A(r.note) if self.notes else "")
            for kind, msg in r.anomalies:
                if kind in ("rst", "connection_refused") or (self.notes and msg in r.note):
                    continue
                note.append(("\n" if note else "") + A(f"⚠ {kind}: {msg}"),
                            style="red" if kind in BAD else "yellow")
            for line in _lesson_text(r.teach or [], self.lang, self.ascii):
                note.append(("\n" if note else "") + A(line), style="dim")
            if r.where:
                # a capture set: a row where the connection's frames start coming from another file
                src, _, local = r.where.rpartition(":")
                if src != shown_file:
                    shown_file = src
                    t.add_row("", "", "", "", "", "", "", "", "", "",
                              Text(A(f"▸ {src}，从其第 {local} 帧起" if zh else f"▸ {src}, from its frame {local}"),
                                   style="dim"))
            t.add_row(
                Text(str(r.frame)), Text(f"{r.t:.6f}"),
                Text(arrows[r.dir], style="cyan" if r.dir == 0 else "magenta"),
                Text(f"[{r.flags}]", style=FLAG_STYLE.get(r.flags, "")),
                Text(r.seq), Text(r.ack), Text(r.win), Text(str(r.length)),
                Text(r.client, style="bold" if r.changed[0] else "dim"),
                Text(r.server, style="bold" if r.changed[1] else "dim"),
                note,
            )
        verdict = Text(A("\n".join(verdict_lines(flow, self.lang))))
        if self.explain and self.notes:
            for line in lesson_lines(flow, self.lang):
                verdict.append(("\n  * " if self.ascii else "\n  • ") + A(line), style="dim")
        c.print(Panel(Group(t, Text(""), verdict), title=Text(head[0].strip(), style="bold"),
                      subtitle=Text(head[1].strip()), title_align="left", subtitle_align="left",
                      box=box.ASCII if self.ascii else box.ROUNDED))

    def close(self, stats) -> None:
        c = self.console
        A = asciify if self.ascii else (lambda x: x)
        if self.hidden:
            c.print(Text(A(shown_line(self.shown, self.hidden, self.lang)), style="yellow"))
        c.print(Text(A(capture_line(stats, self.lang)), style="dim"))
        for line in skipped_lines(stats, self.lang):
            c.print(Text(A(line), style="dim"))

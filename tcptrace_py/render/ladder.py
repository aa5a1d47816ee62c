"""The ladder diagram in a terminal (``--ladder``): see the conversation.

Time runs down the page. The client's and the server's lines are two vertical
lanes; each drawn packet is one horizontal arrow between them, pointing the way
it travelled and labelled with tcpdump's flags and relative numbers
(``[P.] 1:98 ack=1 len=97``). Each side's state is written beside its own lane
at the moment it changes (the client's on the left, the server's on the right).
Anomalies are marked on the arrow (``⚠ retransmission``); retransmission-like
packets are drawn dashed, resets with a heavy line. Notes, anomaly messages and,
with ``--explain``, the lessons are wrapped between the lanes under their arrow.
Long data phases fold into one line (`conversation.visible`) unless ``--unfold``.

Unicode box drawing by default, ASCII with ``--ascii``. Width: the rich
console's width with ``rich=True``; otherwise the terminal's width on a
terminal, and 100 columns when piped (deterministic output). Text from the
capture is never parsed as rich markup: lines are assembled as `rich.text.Text`
from (text, style) pieces.
"""
from __future__ import annotations

import shutil

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from ..prose.teach import lesson_lines
from .conversation import NBSP, Arrow, Fold, build, wrap
from .term import QuietConsole
from .text import capture_line, shown_line, skipped_lines
from .timeline import asciify
from .view import View

UNICODE = dict(lane="│", fold_lane="┆", top="┬", bottom="┴", tail_l="├", tail_r="┤", line="─", dash="╌",
               reset="━", head_r="▶", head_l="◀", warn="⚠")
ASCII = dict(lane="|", fold_lane=":", top="+", bottom="+", tail_l="+", tail_r="+", line="-", dash="~",
             reset="=", head_r=">", head_l="<", warn="!")
FLAG_STYLE = {"S": "bold green", "S.": "bold green", "F.": "bold yellow", "F": "bold yellow",
              "FP.": "bold yellow", "R": "bold red", "R.": "bold red"}
SIDE_STYLE = ("cyan", "magenta")
PIPED_WIDTH = 100
MIN_ARROW, MAX_ARROW = 36, 76


class LadderRenderer(View):
    def __init__(self, out, rich: bool = False, console: Console | None = None, width: int | None = None,
                 **view):
        super().__init__(**view)
        self.out = out
        self.rich = rich
        self.g = ASCII if self.ascii else UNICODE
        self.A = asciify if self.ascii else (lambda s: s)
        self.console = None
        if rich:
            self.console = console or QuietConsole(file=out, highlight=False, emoji=False)
            self.width = width or self.console.width
        elif width:
            self.width = width
        else:
            try:
                tty = out.isatty()
            except (AttributeError, ValueError):
                tty = False
            self.width = shutil.get_terminal_size((PIPED_WIDTH, 24)).columns if tty else PIPED_WIDTH

    # -- output -------------------------------------------------------------------------
    def _emit(self, pieces) -> None:
        """One line from (text, style) pieces."""
        pieces = [(t.replace(NBSP, " "), s) for t, s in pieces]
        if self.ascii:
            pieces = [(asciify(t), s) for t, s in pieces]
        if self.console is not None:
            line = Text(no_wrap=True, overflow="ignore")
            for t, s in pieces:
                line.append(t, style=s or None)
            line.rstrip()
            self.console.print(line, crop=False, soft_wrap=True)
        else:
            self.out.write("".join(t for t, _ in pieces).rstrip() + "\n")

    def _plain(self, text: str, style: str = "") -> None:
        self._emit([(text, style)])

    # -- one connection -----------------------------------------------------------------
    def flow(self, flow) -> None:
        if not self.take():
            return
        conv = build(flow, self.lang, self.notes, self.explain, self.unfold, self.max_packets)
        A = self.A
        for line in conv.title:
            self._plain(A(line), "bold")
        self._plain("")
        self._ladder(conv)
        self._plain("")
        for line in conv.verdict:
            body = line.lstrip(" ")
            ind = len(line) - len(body)
            for i, part in enumerate(wrap(A(body), self.width - ind - 2)):
                self._plain(" " * (ind if i == 0 else ind + 2) + part)
        if conv.lessons:
            self._plain("  讲解：" if self.lang == "zh" else "  lessons:")
            for t in conv.lessons:
                for i, part in enumerate(wrap(A(t), self.width - 6)):
                    self._plain(("    - " if i == 0 else "      ") + part, "dim")
        self._plain("")

    def _ladder(self, conv) -> None:
        g = self.g
        zh = self.lang == "zh"
        names = ("客户端", "服务端") if zh else ("client", "server")
        times = [f"{x.t:.6f}" for x in conv.items]
        frames = [f"#{x.frame}" if isinstance(x, Arrow) else "" for x in conv.items]
        tw = max([cell_len("时间" if zh else "time")] + [len(t) for t in times])
        fw = max([1] + [len(f) for f in frames])
        states = [s for x in conv.arrows for s in x.states if s] + list(conv.init) + list(conv.final)
        sw = max([cell_len(n) for n in names] + [len(s) for s in states])
        left = tw + 1 + fw + 1 + sw + 1            # cells before the client lane
        a = self.width - left - 2 - 1 - sw         # cells between the lanes
        a = max(MIN_ARROW, min(MAX_ARROW, a))
        self.geo = (tw, fw, sw, a)

        # lane titles and initial states
        self._emit([(_rpad("时间" if zh else "time", tw, True) + " " + _rpad("#", fw, True) + " ", "dim"),
                    (_rpad(names[0], sw, True), "bold " + SIDE_STYLE[0]), (" " * (a + 2) + " ", ""),
                    (names[1], "bold " + SIDE_STYLE[1])])
        self._emit([(" " * (tw + 1 + fw + 1), ""), (_rpad(conv.init[0], sw, True), SIDE_STYLE[0]), (" ", ""),
                    (g["top"], "dim"), (" " * a, ""), (g["top"], "dim"), (" ", ""), (conv.init[1], SIDE_STYLE[1])])
        for x, t, f in zip(conv.items, times, frames):
            if isinstance(x, Fold):
                self._fold(x, t)
            else:
                self._arrow(x, t, f)
        self._emit([(" " * (tw + 1 + fw + 1), ""), (_rpad(conv.final[0], sw, True), "bold " + SIDE_STYLE[0]),
                    (" ", ""), (g["bottom"], "dim"), (" " * a, ""), (g["bottom"], "dim"), (" ", ""),
                    (conv.final[1], "bold " + SIDE_STYLE[1])])
        if conv.folded:
            self._plain(" " * (tw + 1 + fw + 1 + sw + 2)
                        + ("（--unfold 画出折叠的每个包）" if zh else "(--unfold draws every folded packet)"), "dim")

    def _arrow(self, x: Arrow, t: str, f: str) -> None:
        g = self.g
        tw, fw, sw, a = self.geo
        style = "bold red" if x.reset else SIDE_STYLE[x.dir]
        body = g["reset"] if x.reset else g["dash"] if x.resend else g["line"]
        A = self.A
        label = x.label
        marks = A(", ".join(m for _, m in x.marks))
        mark_s = f" {g['warn']} {marks}" if marks else ""
        room = a - 4                                     # head, two spaces, at least one line cell
        marks_below = False
        if cell_len(label) + cell_len(mark_s) > room:
            marks_below = bool(marks)
            mark_s = ""
        if cell_len(label) > room:
            label = label[:room - 1] + "…"
        fill = a - 4 - cell_len(label) - cell_len(mark_s)
        mstyle = "bold red" if x.bad else "yellow"
        lstyle = FLAG_STYLE.get(x.flags, "bold")
        if x.dir == 0:
            mid = [(body, style), (" ", ""), (label, lstyle), (mark_s, mstyle), (" ", ""),
                   (body * fill + g["head_r"], style)]
            lane_l, lane_r = (g["tail_l"], style), (g["lane"], "dim")
        else:
            mid = [(g["head_l"] + body * fill, style), (" ", ""), (label, lstyle), (mark_s, mstyle), (" ", ""),
                   (body, style)]
            lane_l, lane_r = (g["lane"], "dim"), (g["tail_r"], style)
        cs, ss = x.states
        self._emit([(_rpad(t, tw, True) + " ", "dim"), (_rpad(f, fw, True) + " ", "dim"),
                    (_rpad(cs or "", sw, True), "bold " + SIDE_STYLE[0]), (" ", ""), lane_l, *mid, lane_r,
                    (" ", ""), (ss or "", "bold " + SIDE_STYLE[1])])
        inner = a - 2
        if marks_below:
            for part in wrap(f"{g['warn']} {marks}", inner):
                self._inside(part, mstyle)
        if x.note:
            for part in wrap(A(x.note), inner):
                self._inside(part, "")
        for kind, msg in x.messages:
            for part in wrap(A(f"{g['warn']} {msg}"), inner):
                self._inside(part, "red" if x.bad else "yellow")
        if x.teach:
            for line in lesson_lines(x.teach, self.lang, self.ascii, width=inner):
                line = A(line)
                for part in wrap(line, inner) if cell_len(line) > inner else [line]:
                    self._inside(part, "dim")

    def _inside(self, text: str, style: str, lane: str | None = None) -> None:
        """A line of text between the two lanes."""
        tw, fw, sw, a = self.geo
        lane = lane or self.g["lane"]
        self._emit([(" " * (tw + 1 + fw + 1 + sw + 1), ""), (lane, "dim"), (" ", ""),
                    (_rpad(text, a - 2), style), (" ", ""), (lane, "dim")])

    def _fold(self, x: Fold, t: str) -> None:
        tw, fw, sw, a = self.geo
        lane = self.g["fold_lane"]
        parts = wrap(self.A(x.text), a - 2)
        for i, part in enumerate(parts):
            pre = (_rpad(t, tw, True) + " " + " " * fw + " ") if i == 0 else " " * (tw + 1 + fw + 1)
            gap = a - 2 - cell_len(part)
            self._emit([(pre, "dim"), (" " * sw + " ", ""), (lane, "dim"), (" " + " " * (gap // 2), ""),
                        (part, "dim italic"), (" " * (gap - gap // 2) + " ", ""), (lane, "dim")])

    def close(self, stats) -> None:
        if self.hidden:
            self._plain(shown_line(self.shown, self.hidden, self.lang), "yellow")
        self._plain(capture_line(stats, self.lang), "dim")
        for line in skipped_lines(stats, self.lang):
            self._plain(line, "dim")


def _rpad(s: str, width: int, right: bool = False) -> str:
    gap = max(0, width - cell_len(s))
    return " " * gap + s if right else s + " " * gap

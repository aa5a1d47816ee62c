"""A standalone SVG picture of the ladder (``--format svg``), written as plain text.

The content is the terminal ladder's (`conversation.build`): the client's and the
server's lanes, one arrow per drawn packet — slanted downwards, because a segment
arrives a little after it leaves — labelled with tcpdump's flags and relative
numbers, anomaly marks in red on the arrow, each side's state beside its own lane
when it changes, folded data phases as grey bands, and the notes (plus the
lessons with ``--explain``) to the right of the server's lane. Several
connections are stacked in one picture; since the picture's height is known only
at the end, the connections are kept (at most ``--limit`` of them) and the
document is written by `close()`.

No dependency and no browser: the SVG is hand-written, monospace text, sizes
estimated from terminal cells (a CJK character is two cells). Every packet's
arrow is a ``<line class="arrow ...">`` inside a ``<g class="packet"
data-frame="N">``, so tools and tests can count and find them.
"""
from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from rich.cells import cell_len

from ..prose.teach import lesson_lines
from .conversation import NBSP, Arrow, Fold, build, wrap
from .text import capture_line, shown_line, skipped_lines
from .view import View

FONT = 12
CW = 7.3               # px per terminal cell at FONT
LH = 15                # line height
X_TIME, X_FRAME = 12, 128
X_C, X_S = 270, 640    # the client's and the server's lanes
X_NOTE = X_S + 118
NOTE_CELLS = 70
WIDTH = int(X_NOTE + NOTE_CELLS * CW + 20)
SLANT = 12
COLOR = ("#0b7a99", "#a03088")      # client -> server, server -> client
RED, AMBER, GREY, INK = "#c62828", "#b26a00", "#777777", "#222222"
FLAG_COLOR = {"S": "#2e7d32", "S.": "#2e7d32", "F": "#9a6b00", "F.": "#9a6b00", "FP.": "#9a6b00",
              "R": RED, "R.": RED}


def _t(s: str) -> str:
    return escape(s.replace(NBSP, " "))


def text(x: float, y: float, s: str, fill: str = INK, anchor: str = "start", cls: str = "",
         weight: str = "") -> str:
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    c = f' class="{cls}"' if cls else ""
    w = f' font-weight="{weight}"' if weight else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" fill="{fill}"{a}{c}{w}>{_t(s)}</text>'


class SvgRenderer(View):
    def __init__(self, out, **view):
        super().__init__(**view)
        self.out = out
        self.parts: list[str] = []
        self.y = 20.0

    def flow(self, flow) -> None:
        if not self.take():
            return
        conv = build(flow, self.lang, self.notes, self.explain, self.unfold, self.max_packets)
        svg, h = draw(conv, self.y, self.lang)
        self.parts.append(svg)
        self.y += h + 30

    def close(self, stats) -> None:
        y = self.y
        tail = []
        lines = ([shown_line(self.shown, self.hidden, self.lang)] if self.hidden else []) \
            + [capture_line(stats, self.lang)] + skipped_lines(stats, self.lang)
        for line in lines:
            tail.append(text(X_TIME, y, line, GREY))
            y += LH
        height = int(y + 10)
        w = self.out.write
        w('<?xml version="1.0" encoding="UTF-8"?>\n')
        w(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
          f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
          f'font-size="{FONT}" xml:space="preserve">\n')
        w("<title>tcpflow-explain ladder</title>\n")
        w("<defs>\n")
        for name, color in (("c2s", COLOR[0]), ("s2c", COLOR[1]), ("rst", RED)):
            w(f'<marker id="head-{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
              f'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>\n')
        w("</defs>\n")
        w(f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>\n')
        for p in self.parts:
            w(p)
        w("\n".join(tail) + "\n</svg>\n")


def draw(conv, y0: float, lang: str = "en") -> tuple[str, float]:
    """One connection as an SVG group starting at y0; returns (svg text, height)."""
    zh = lang == "zh"
    names = ("客户端", "服务端") if zh else ("client", "server")
    out: list[str] = [f'<g class="connection" data-id="{conv.flow.id}">']
    y = y0 + LH
    out.append(text(X_TIME, y, conv.title[0], INK, weight="bold"))
    y += LH
    out.append(text(X_TIME, y, conv.title[1].strip(), GREY))
    y += LH * 2
    out.append(text(X_C, y, f"{names[0]} {conv.client}", COLOR[0], "middle", weight="bold"))
    out.append(text(X_S, y, f"{names[1]} {conv.server}", COLOR[1], "middle", weight="bold"))
    out.append(text(X_TIME, y, "时间" if zh else "time", GREY))
    out.append(text(X_FRAME, y, "#", GREY, "end"))
    y += LH
    lane_top = y - 4
    out.append(text(X_C - 8, y + 8, conv.init[0], COLOR[0], "end"))
    out.append(text(X_S + 8, y + 8, conv.init[1], COLOR[1]))
    y += LH
    body: list[str] = []
    for x in conv.items:
        if isinstance(x, Fold):
            lines = wrap(x.text, int((X_S - X_C - 20) / CW))
            h = LH * len(lines) + 10
            body.append(f'<g class="fold" data-frames="{x.first_frame}-{x.last_frame}">')
            body.append(f'<rect x="{X_C - 6}" y="{y:.1f}" width="{X_S - X_C + 12}" height="{h}" rx="4" '
                        f'fill="#eeeeee" stroke="#bbbbbb" stroke-dasharray="3 3"/>')
            body.append(text(X_TIME, y + LH, f"{x.t:.6f}", GREY))
            for i, line in enumerate(lines):
                body.append(text((X_C + X_S) / 2, y + LH * (i + 1), line, GREY, "middle", cls="fold-text"))
            body.append("</g>")
            y += h + 8
            continue
        body.append(_packet(x, y, lang))
        y += _packet_height(x, lang)
    lane_bottom = y + 4
    lanes = [f'<line class="lane" x1="{X_C}" y1="{lane_top:.1f}" x2="{X_C}" y2="{lane_bottom:.1f}" '
             f'stroke="{COLOR[0]}" stroke-width="1.5" opacity="0.55"/>',
             f'<line class="lane" x1="{X_S}" y1="{lane_top:.1f}" x2="{X_S}" y2="{lane_bottom:.1f}" '
             f'stroke="{COLOR[1]}" stroke-width="1.5" opacity="0.55"/>']
    out += lanes + body
    y += LH
    out.append(text(X_C - 8, y, conv.final[0], COLOR[0], "end", weight="bold"))
    out.append(text(X_S + 8, y, conv.final[1], COLOR[1], weight="bold"))
    y += LH * 2
    for line in conv.verdict:
        body_ = line.lstrip(" ")
        ind = len(line) - len(body_)
        for i, part in enumerate(wrap(body_, int((WIDTH - 30) / CW) - ind)):
            out.append(text(X_TIME + CW * (ind if i == 0 else ind + 2), y, part, INK))
            y += LH
    if conv.lessons:
        out.append(text(X_TIME + CW * 2, y, "讲解：" if zh else "lessons:", GREY))
        y += LH
        for t in conv.lessons:
            for i, part in enumerate(wrap(t, int((WIDTH - 30) / CW) - 6)):
                out.append(text(X_TIME + CW * (4 if i == 0 else 6), y, ("- " if i == 0 else "") + part, GREY))
                y += LH
    out.append("</g>\n")
    return "\n".join(out), y - y0


def _note_lines(x: Arrow, lang: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    if x.note:
        lines += [(s, INK) for s in wrap(x.note, NOTE_CELLS)]
    for _, msg in x.messages:
        lines += [(s, RED if x.bad else AMBER) for s in wrap("⚠ " + msg, NOTE_CELLS)]
    for line in lesson_lines(x.teach, lang, width=NOTE_CELLS):
        lines += [(s, GREY) for s in (wrap(line, NOTE_CELLS) if cell_len(line) > NOTE_CELLS else [line])]
    return lines


def _label_fits(x: Arrow) -> bool:
    marks = ", ".join(m for _, m in x.marks)
    return cell_len(x.label) + (cell_len(marks) + 3 if marks else 0) <= (X_S - X_C - 16) / CW


def _packet_height(x: Arrow, lang: str) -> float:
    base = 36 + (LH if x.marks and not _label_fits(x) else 0)
    return max(base, LH * len(_note_lines(x, lang)) + 10)


def _packet(x: Arrow, y: float, lang: str) -> str:
    d = x.dir
    color = RED if x.reset else COLOR[d]
    marker = "rst" if x.reset else ("c2s" if d == 0 else "s2c")
    x1, x2 = (X_C, X_S) if d == 0 else (X_S, X_C)
    y1, y2 = y + 16, y + 16 + SLANT
    dash = ' stroke-dasharray="7 4"' if x.resend else ""
    width = "2.5" if x.reset else "1.6"
    cls = "arrow " + ("c2s" if d == 0 else "s2c") + (" resend" if x.resend else "") + (" reset" if x.reset else "")
    g = [f'<g class="packet" data-frame="{x.frame}">',
         f'<line class={quoteattr(cls)} x1="{x1}" y1="{y1:.1f}" x2="{x2 - (4 if d == 0 else -4)}" '
         f'y2="{y2:.1f}" stroke="{color}" stroke-width="{width}"{dash} marker-end="url(#head-{marker})"/>',
         text(X_TIME, y + 22, f"{x.t:.6f}", GREY),
         text(X_FRAME, y + 22, f"#{x.frame}", GREY, "end")]
    mid = (X_C + X_S) / 2
    marks = ", ".join(m for _, m in x.marks)
    fill = FLAG_COLOR.get(x.flags, color)
    mcolor = RED if x.bad else AMBER
    if marks and _label_fits(x):
        start = mid - (cell_len(x.label) + 3 + cell_len(marks)) * CW / 2
        g.append(text(start, y + 11, x.label, fill))
        g.append(text(start + (cell_len(x.label) + 1) * CW, y + 11, "⚠ " + marks, mcolor))
    else:
        g.append(text(mid, y + 11, x.label, fill, "middle"))
        if marks:
            g.append(text(mid, y + 16 + SLANT + 14, "⚠ " + marks, mcolor, "middle"))
    if x.states[0]:
        g.append(text(X_C - 8, y + 16 + (SLANT if d == 1 else 0) + 4, x.states[0], COLOR[0], "end", weight="bold"))
    if x.states[1]:
        g.append(text(X_S + 8, y + 16 + (SLANT if d == 0 else 0) + 4, x.states[1], COLOR[1], weight="bold"))
    for i, (line, fill_) in enumerate(_note_lines(x, lang)):
        g.append(text(X_NOTE, y + 12 + LH * i, line, fill_, cls="note"))
    g.append("</g>")
    return "\n".join(g)

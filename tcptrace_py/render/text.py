"""Plain, deterministic text: the timeline when piped or with --format text.

Notes come in the language of ``--lang``; with ``--explain`` the lessons of
`teach.py` follow each packet's note (indented two more columns) and the
connection's verdict; with ``--ascii`` typographic characters become ASCII.
"""
from __future__ import annotations

from ..teach import lesson_lines as _lesson_text
from .timeline import asciify, header_lines, lesson_lines, rows, verdict_lines
from .view import View

ARROW = ("C->S", "S->C")


class TextRenderer(View):
    def __init__(self, out, **view):
        super().__init__(**view)
        self.out = out

    def _w(self, s: str) -> None:
        self.out.write(asciify(s) if self.ascii else s)

    def flow(self, flow) -> None:
        if self.take():
            self.out.write(self.fragment(flow))

    def put(self, text: str | None) -> None:
        """A --jobs worker's fragment, in its turn (None: the worker knew it was past --limit)."""
        if self.take():
            self.out.write(text)

    def fragment(self, flow) -> str:
        """The whole text of one connection (no state: a --jobs worker calls it)."""
        out: list[str] = []
        w = out.append
        zh = self.lang == "zh"
        w("\n".join(header_lines(flow, self.lang)) + "\n\n")
        n = len(flow.packets)
        first, last = self.window(n)
        prev = -1
        notes = self.notes
        for i, r in rows(flow, first, last, lang=self.lang, explain=self.explain and notes):
            if i != prev + 1:
                k = i - prev - 1
                w(f"         … 省略了 {k} 个包（--max-packets 0 显示全部）…\n" if zh else
                  f"         … {k} packets not shown (--max-packets 0 shows all) …\n")
            prev = i
            line = (f"  #{r.frame:<6} {r.t:>11.6f}  {ARROW[r.dir]}  [{r.flags}]  seq {r.seq}"
                    + (f"  ack {r.ack}" if r.ack else "")
                    + f"  win {r.win}  len {r.length}")
            w(f"{line:<76} {r.client}/{r.server}\n")
            if r.options:
                w(f"           options [{r.options}]\n")
            if notes and r.note:
                w(f"           {r.note}\n")
            for kind, msg in r.anomalies:
                if kind in ("rst", "connection_refused") or (notes and msg in r.note):
                    continue
                w(f"           ! {kind}: {msg}\n")
            if r.teach:
                for t in _lesson_text(r.teach, self.lang, self.ascii):
                    w(f"             {t}\n")
        w("\n" + "\n".join(verdict_lines(flow, self.lang)) + "\n")
        if self.explain and notes:
            lessons = lesson_lines(flow, self.lang)
            if lessons:
                w(("  讲解：\n" if zh else "  lessons:\n") + "".join(f"    - {t}\n" for t in lessons))
        w("\n")
        text = "".join(out)
        return asciify(text) if self.ascii else text

    def close(self, stats) -> None:
        w = self._w
        if self.hidden:
            w(shown_line(self.shown, self.hidden, self.lang) + "\n")
        w(capture_line(stats, self.lang) + "\n")
        for line in skipped_lines(stats, self.lang):
            w(line + "\n")


def shown_line(shown: int, hidden: int, lang: str = "en") -> str:
    if lang == "zh":
        return (f"完整显示了 {shown + hidden} 个连接中的 {shown} 个（--limit）。--all 显示全部连接，"
                f"--flow ID 只显示一个，--format json 输出全部内容。")
    return (f"Showed {shown} of {shown + hidden} connections in full "
            f"(--limit). Use --all for every connection, --flow ID for one, "
            f"or --format json for everything.")


def capture_line(stats, lang: str = "en") -> str:
    if lang == "zh":
        return (f"{stats.path}: {stats.format}，{stats.frames} 帧，{stats.tcp_packets} 个 TCP 包，"
                f"{stats.flows} 个连接")
    return (f"{stats.path}: {stats.format}, {stats.frames} frames, {stats.tcp_packets} TCP packets, "
            f"{stats.flows} connection{'' if stats.flows == 1 else 's'}")


def skipped_lines(stats, lang: str = "en") -> list[str]:
    sk = stats.skipped
    out = []
    zh = lang == "zh"
    if sk.not_tcp:
        out.append(("  不是 TCP，已跳过：" if zh else "  not TCP, skipped: ")
                   + ", ".join(f"{k} ×{v}" for k, v in sorted(sk.not_tcp.items())))
    if sk.undecodable:
        out.append(("  无法解码：" if zh else "  could not be decoded: ") + ", ".join(
            (f"{k} ×{v}（第一个：第 {sk.examples.get(k)} 帧）" if zh else
             f"{k} ×{v} (first: frame {sk.examples.get(k)})") for k, v in sorted(sk.undecodable.items())))
    return out

"""Mermaid sequence diagrams (``--format mermaid``): one ``sequenceDiagram`` per connection.

The content is the terminal ladder's (`conversation.build`): a ``participant``
for the client and one for the server, labelled with their addresses; one
message per drawn packet, labelled with its frame number and tcpdump's flags and
relative numbers (``#1 [S] seq=0``); each state change as a note beside its own
side (``Note left of C`` for the client, ``Note right of S`` for the server);
anomalies as marks on the message and a ``Note over C,S`` with their message;
each folded data phase as a grey ``rect`` holding one note. Plain data and ACKs
are solid arrows (``->>``), retransmission-like packets dotted (``-->>``), resets
end in a cross (``-x``). The per-packet notes and lessons are added with
``--explain`` (a diagram with every note is too tall to read; the ladder and the
timeline carry them by default).

Several connections give several diagrams, one after the other, each starting
with its own ``%% connection N`` comment and ``sequenceDiagram`` line; select one
with ``--flow ID`` to get a single diagram for ``mmdc`` or a Markdown block.

Escaping. In label text Mermaid ends a statement at ``;`` and a newline, reads
``#name;`` / ``#123;`` as an entity, treats ``<...>`` as HTML, and ``%%`` as a
comment. So `escape` writes ``#`` as ``#35;``, ``;`` as ``#59;``, ``<``/``>`` as
``#lt;``/``#gt;`` and ``%`` as ``#37;``; a line break becomes ``<br/>``. A colon
is safe after the first one of a message or note (the first ends the sender and
receiver), and in a participant alias or title, which run to the end of the line;
an alias or text never starts with ``wrap:``/``nowrap:``, which Mermaid reads as
a directive. `check()` is the grammar of everything this module writes, run by
the tests on every sample capture (and by Mermaid's own parser when node is there).
"""
from __future__ import annotations

import re

from ..core.scans import describe
from ..prose.teach import ConfirmTable
from .conversation import NBSP, Fold, build, wrap
from .text import capture_line, shown_line
from .view import View

ACTORS = ("C", "S")
NOTE_WIDTH = 60


def escape(text: str) -> str:
    """Label text as Mermaid takes it (see the module docstring)."""
    out = []
    for ch in text.replace(NBSP, " "):
        if ch == "#":
            out.append("#35;")
        elif ch == ";":
            out.append("#59;")
        elif ch == "<":
            out.append("#lt;")
        elif ch == ">":
            out.append("#gt;")
        elif ch == "%":
            out.append("#37;")
        elif ch in "\r\n":
            out.append(" ")
        else:
            out.append(ch)
    s = "".join(out).strip()
    if re.match(r"(?i)(no)?wrap:", s):
        s = "\u200b" + s
    return s or "\u200b"


def multiline(text: str, width: int = NOTE_WIDTH) -> str:
    """Escaped text wrapped with <br/> line breaks."""
    return "<br/>".join(escape(x) for x in wrap(text, width))


class MermaidRenderer(View):
    def __init__(self, out, **view):
        super().__init__(**view)
        self.out = out

    def flow(self, flow) -> None:
        if self.shown and (self.limit is None or self.shown < self.limit):
            self.out.write("\n")
        if not self.take():
            return
        conv = build(flow, self.lang, self.notes, self.explain, self.unfold, self.max_packets)
        self.out.write("\n".join(diagram(conv, self.lang, self.explain and self.notes)) + "\n")

    def close(self, stats) -> None:
        if self.hidden:
            self.out.write(f"\n%% {shown_line(self.shown, self.hidden, self.lang)}\n")
        if not self.shown:
            # a document with no diagram is not Mermaid: an empty one that says so
            none = "没有 TCP 连接" if self.lang == "zh" else "No TCP connection to draw"
            self.out.write(f"sequenceDiagram\n    title {escape(none)}\n")
        self.out.write(f"%% {capture_line(stats, self.lang)}\n")
        for f in stats.scans.findings():
            self.out.write(f"%% {describe(f, self.lang)}\n")


def diagram(conv, lang: str = "en", explain: bool = False) -> list[str]:
    zh = lang == "zh"
    c, s = ACTORS
    names = ("客户端", "服务端") if zh else ("client", "server")
    out = [f"%% connection {conv.flow.id}", "sequenceDiagram",
           f"    title {escape(conv.title[0].replace(' -> ', ' → '))}",
           f"    participant {c} as {escape(names[0] + ' ' + conv.client)}",
           f"    participant {s} as {escape(names[1] + ' ' + conv.server)}",
           f"    Note left of {c}: {escape(conv.init[0])}",
           f"    Note right of {s}: {escape(conv.init[1])}"]
    last = list(conv.init)
    for x in conv.items:
        if isinstance(x, Fold):
            out += ["    rect rgb(238, 238, 238)",
                    f"    Note over {c},{s}: {multiline(x.text)}",
                    "    end"]
            continue
        src, dst = ACTORS[x.dir], ACTORS[1 - x.dir]
        arrow = "-x" if x.reset else "-->>" if x.resend else "->>"
        label = f"#{x.frame} {x.label}"
        if x.marks:
            label += " ⚠ " + ", ".join(m for _, m in x.marks)
        out.append(f"    {src}{arrow}{dst}: {escape(label)}")
        if x.states[0]:
            out.append(f"    Note left of {c}: {escape(x.states[0])}")
            last[0] = x.states[0]
        if x.states[1]:
            out.append(f"    Note right of {s}: {escape(x.states[1])}")
            last[1] = x.states[1]
        if explain and x.note:
            out.append(f"    Note over {c},{s}: {multiline(x.note)}")
        for kind, msg in (x.messages if explain else x.anomalies):
            out.append(f"    Note over {c},{s}: {multiline('⚠ ' + msg)}")
        if explain:
            for t in x.teach:
                text = " / ".join(t.sentences(lang)) if isinstance(t, ConfirmTable) else t
                out.append(f"    Note over {c},{s}: {multiline(text)}")
    if conv.final[0] != last[0]:
        out.append(f"    Note left of {c}: {escape(conv.final[0])}")
    if conv.final[1] != last[1]:
        out.append(f"    Note right of {s}: {escape(conv.final[1])}")
    for line in conv.verdict:
        out.append(f"    %% {line.strip()}")
    return out


# --- the grammar of what this module writes ------------------------------------------------

_TEXT = r"(?:[^#;<>%\n\r]|#(?:[a-zA-Z]+|\d+);|<br/>)+"
_ID = r"[A-Za-z][A-Za-z0-9_]*"
_STATEMENTS = [
    ("title", re.compile(rf"title ({_TEXT})$")),
    ("participant", re.compile(rf"participant ({_ID}) as ({_TEXT})$")),
    ("message", re.compile(rf"({_ID})(->>|-->>|-x|--x|-\)|--\))({_ID}): ({_TEXT})$")),
    ("note", re.compile(rf"Note (?:over ({_ID})(?:,({_ID}))?|(?:left|right) of ({_ID})): ({_TEXT})$")),
    ("rect", re.compile(r"rect rgba?\(\d{1,3}, ?\d{1,3}, ?\d{1,3}(?:, ?[\d.]+)?\)$")),
    ("end", re.compile(r"end$")),
]


def check(text: str) -> list[str]:
    """Problems with a Mermaid text that should hold sequence diagrams; [] when it is fine.

    The grammar (the subset this module writes):

        document   := { blank | comment } diagram { diagram }
        diagram    := "sequenceDiagram" NL { statement | blank | comment }
        statement  := "title" SP text
                    | "participant" SP ID SP "as" SP text
                    | ID arrow ID ":" SP text             arrow := ->> | -->> | -x | --x | -) | --)
                    | "Note" SP ("over" SP ID ["," ID] | ("left"|"right") SP "of" SP ID) ":" SP text
                    | "rect" SP "rgb(" n "," n "," n ")"  ...  "end"   (balanced)
        comment    := "%%" rest of line
        text       := one or more characters other than ; # < > % and newline, entities #name; #123;,
                      or the line break <br/>

    and: every actor is a declared participant, declared before it is used; a
    text does not start with a wrap:/nowrap: directive; each diagram declares two
    participants and has at least one message, but for the empty diagram (a title only) that
    stands for a capture with no connection to draw.
    """
    problems: list[str] = []
    diagrams = 0
    depth = 0
    declared: set[str] = set()
    messages = 0
    in_diagram = False

    def end_diagram(n: int) -> None:
        if in_diagram:
            if depth:
                problems.append(f"line {n}: rect without end")
            if not declared and not messages:
                return                  # the empty diagram
            if len(declared) != 2:
                problems.append(f"line {n}: a diagram declares {len(declared)} participants, not 2")
            if not messages:
                problems.append(f"line {n}: a diagram without messages")

    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("%%"):
            continue
        if line == "sequenceDiagram":
            end_diagram(n)
            diagrams += 1
            in_diagram, depth, declared, messages = True, 0, set(), 0
            continue
        if not in_diagram:
            problems.append(f"line {n}: statement before sequenceDiagram: {line!r}")
            continue
        for kind, rx in _STATEMENTS:
            m = rx.match(line)
            if m:
                break
        else:
            problems.append(f"line {n}: not in the grammar: {line!r}")
            continue
        groups = [g for g in m.groups() if g]
        if kind in ("title", "participant", "message", "note"):
            txt = groups[-1]
            if re.match(r"(?i)\s*(no)?wrap:", txt):
                problems.append(f"line {n}: text starts with a wrap directive")
        if kind == "participant":
            if groups[0] in declared:
                problems.append(f"line {n}: participant {groups[0]} declared twice")
            declared.add(groups[0])
        elif kind == "message":
            messages += 1
            for actor in (groups[0], groups[2]):
                if actor not in declared:
                    problems.append(f"line {n}: actor {actor} used before it is declared")
        elif kind == "note":
            for actor in groups[:-1]:
                if actor not in declared:
                    problems.append(f"line {n}: actor {actor} used before it is declared")
        elif kind == "rect":
            depth += 1
        elif kind == "end":
            depth -= 1
            if depth < 0:
                problems.append(f"line {n}: end without rect")
                depth = 0
    end_diagram(n if text else 0)
    if not diagrams:
        problems.append("no sequenceDiagram")
    return problems

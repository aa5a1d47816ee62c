"""conversation: one connection as the pictures draw it — arrows, state changes, folds.

The terminal ladder (`ladder.py`), the Mermaid sequence diagram (`mermaid.py`) and
the SVG picture (`svg.py`) show the same content, built here once:

* one `Arrow` per drawn packet: its direction, tcpdump's flags with relative
  seq/ack and length as the label (``[S] seq=0``, ``[S.] seq=0 ack=1``,
  ``[P.] 1:98 ack=1 len=97``, ``[.] ack=98``), short anomaly marks for the arrow
  (``retransmission``, ``dup ACK #2``, ``RST`` ...), the new state of each side
  when it changed, the note and (with ``--explain``) the lessons;
* one `Fold` for each stretch of a long data phase that is not drawn: how many
  packets, data segments and bytes, and which anomalies it hides.

Folding (unless ``unfold``): a *data run* is a stretch of packets without SYN,
FIN or RST that change neither side's state. A run longer than `FOLD_MIN` keeps
its first `HEAD` and last `TAIL` packets and every packet with a notable anomaly
(up to `MAX_NOTABLE` per run; beyond that they are counted in the fold), and folds
each remaining gap of at least `MIN_GAP` packets. If more than ``max_packets``
arrows remain, the middle of them folds too, as the text timeline does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rich.cells import cell_len

from ..core import anomaly_kinds
from ..prose.explain import endpoint_str
from ..core.records import FIN, RST, SYN, flag_letters
from .timeline import header_lines, lesson_lines, rows, verdict_lines

NBSP = "\u00a0"      # keeps a number with its unit when a fold line wraps
FOLD_MIN = 8        # a data run longer than this folds
HEAD, TAIL = 2, 2   # packets kept at each end of a folded run
MIN_GAP = 3         # never fold fewer packets than this
MAX_NOTABLE = 10    # notable packets kept visible per run
QUIET = anomaly_kinds.QUIET                   # not notable
RESEND = anomaly_kinds.RESENDS
BAD = anomaly_kinds.RED_IN_PICTURES
PLURAL = anomaly_kinds.PLURAL


def mark_text(kind: str, detail, lang: str) -> str:
    k = anomaly_kinds.KINDS.get(kind)
    en, zh = k.label if k is not None else (kind.replace("_", " "), kind.replace("_", " "))
    s = zh if lang == "zh" else en
    if kind == "duplicate_ack" and isinstance(detail, tuple) and detail[0] is not None:
        s += f" #{detail[0]}"
    return s


def anomaly_text(kind: str, detail, message: str, lang: str) -> str:
    """'kind: message', without repeating a kind the message already starts with."""
    low = message.lower()
    mark = mark_text(kind, detail, lang)
    if low.startswith(kind.replace("_", " ")) or low.startswith(mark.lower().split(" #")[0]):
        return message
    return f"{mark}{'：' if lang == 'zh' else ': '}{message}"


def arrow_label(p) -> str:
    """tcpdump's flags with relative numbers: '[S] seq=0', '[P.] 1:98 ack=1 len=97', '[.] ack=98'."""
    parts = [f"[{flag_letters(p.flags)}]"]
    if p.len:
        parts.append(f"{p.rseq}:{(p.rseq + p.len) & 0xFFFFFFFF}")
    elif p.flags & (SYN | FIN | RST) or p.rack is None:
        parts.append(f"seq={p.rseq}")
    if p.rack is not None:
        parts.append(f"ack={p.rack}")
    if p.len:
        parts.append(f"len={p.len}")
    return " ".join(parts)


def human_bytes(n: int, lang: str = "en") -> str:
    if n < 10000:
        return f"{n}{NBSP}字节" if lang == "zh" else f"{n}{NBSP}bytes"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{NBSP}{unit}"
    return f"{n}{NBSP}bytes"  # pragma: no cover


@dataclass(slots=True)
class Arrow:
    frame: int
    t: float
    dir: int                     # 0 client -> server, 1 server -> client
    flags: str                   # tcpdump letters, e.g. "S.", "P.", "R."
    label: str                   # '[P.] 1:98 ack=1 len=97'
    marks: list                  # [(kind, short text)] drawn on the arrow
    states: tuple                # (client state, server state) after the packet, None where unchanged
    note: str
    messages: list               # [(kind, text)] anomaly messages the note does not already say
    anomalies: list              # [(kind, text)] every anomaly message (for pictures without notes)
    teach: list                  # lessons: str or teach.ConfirmTable
    resend: bool                 # a retransmission-like packet (drawn dashed)
    reset: bool                  # carries RST
    bad: bool                    # a notable problem (drawn red)


@dataclass(slots=True)
class Fold:
    first_frame: int
    last_frame: int
    t: float
    packets: int
    data: int                    # data segments
    nbytes: int
    acks: int                    # pure ACKs
    anomalies: dict              # kind -> count
    text: str                    # the summary line, in the chosen language


@dataclass
class Conversation:
    flow: object
    title: list                  # header lines
    client: str                  # address:port
    server: str
    init: tuple                  # initial states (client, server)
    final: tuple                 # final states
    items: list = field(default_factory=list)   # Arrow | Fold, in capture order
    verdict: list = field(default_factory=list)
    lessons: list = field(default_factory=list)
    folded: bool = False

    @property
    def arrows(self) -> list:
        return [x for x in self.items if isinstance(x, Arrow)]


def visible(flow, unfold: bool = False, max_packets: int | None = None) -> list[bool]:
    """Which packets are drawn (see the module docstring)."""
    pk = list(flow.packets)     # drawn whole: read once (a long log is on disk, packetlog)
    n = len(pk)
    vis = [True] * n
    if unfold:
        return vis
    before = flow.init_states
    run: list[int] = []
    runs: list[list[int]] = []
    for i, p in enumerate(pk):
        plain = (not p.flags & (SYN | FIN | RST) and p.orig_state is before[0] and p.resp_state is before[1])
        if plain:
            run.append(i)
        elif run:
            runs.append(run)
            run = []
        before = (p.orig_state, p.resp_state)
    if run:
        runs.append(run)
    for run in runs:
        if len(run) <= FOLD_MIN:
            continue
        notable = [i for i in run if pk[i].anomalies and any(k not in QUIET for k in pk[i].anomalies)]
        if len(notable) > MAX_NOTABLE:
            notable = []
        keep = set(run[:HEAD]) | set(run[-TAIL:]) | set(notable)
        for i in run:
            if i not in keep:
                vis[i] = False
    _unhide_short_gaps(vis)
    if max_packets and sum(vis) > max_packets:
        shown = [i for i in range(n) if vis[i]]
        head = max_packets * 2 // 3
        tail = max_packets - head
        for i in shown[head:len(shown) - tail]:
            vis[i] = False
        _unhide_short_gaps(vis)
    return vis


def _unhide_short_gaps(vis: list[bool]) -> None:
    i, n = 0, len(vis)
    while i < n:
        if vis[i]:
            i += 1
            continue
        j = i
        while j < n and not vis[j]:
            j += 1
        if j - i < MIN_GAP:
            for k in range(i, j):
                vis[k] = True
        i = j


def fold_summary(pk: list, lang: str = "en") -> Fold:
    data = nbytes = 0
    counts: dict[str, int] = {}
    for p in pk:
        if p.len:
            data += 1
            nbytes += p.len
        if p.anomalies:
            for k in p.anomalies:
                counts[k] = counts.get(k, 0) + 1
    acks = len(pk) - data
    a, b = pk[0].frame, pk[-1].frame
    if lang == "zh":
        parts = [f"{data} 个数据段（{human_bytes(nbytes, lang)}）" if data else "",
                 f"{acks} 个纯 ACK" if acks else ""]
        parts += [f"{mark_text(k, None, lang)} ×{n}" for k, n in sorted(counts.items())]
        text = f"… 第 {a}–{b} 帧折叠了 {len(pk)} 个包：" + "，".join(x for x in parts if x) + " …"
    else:
        parts = [f"{data}{NBSP}data{NBSP}segment{'s' if data != 1 else ''} ({human_bytes(nbytes)})" if data else "",
                 f"{acks}{NBSP}ACK{'s' if acks != 1 else ''}" if acks else ""]
        for k, n in sorted(counts.items()):
            m = mark_text(k, None, lang)
            parts.append(f"{n}{NBSP}{PLURAL.get(m, m) if n > 1 else m}")
        text = f"… {len(pk)} packets folded (frames {a}–{b}): " + ", ".join(x for x in parts if x) + " …"
    return Fold(a, b, 0.0, len(pk), data, nbytes, acks, counts, text)


def build(flow, lang: str = "en", notes: bool = True, explain: bool = False, unfold: bool = False,
          max_packets: int | None = None) -> Conversation:
    """The conversation of one connection, ready to draw."""
    pk = list(flow.packets)     # drawn whole: read once (a long log is on disk, packetlog)
    vis = visible(flow, unfold, max_packets)
    conv = Conversation(
        flow=flow, title=header_lines(flow, lang), client=endpoint_str(flow.orig), server=endpoint_str(flow.resp),
        init=(flow.init_states[0].value, flow.init_states[1].value),
        final=(flow.ends[0].state.value, flow.ends[1].state.value),
        verdict=verdict_lines(flow, lang),
        lessons=lesson_lines(flow, lang) if explain and notes else [],
    )
    built = {i: r for i, r in rows(flow, lang=lang, explain=explain and notes, show=lambda i: vis[i])}
    t0 = flow.first_ts
    i, n = 0, len(pk)
    while i < n:
        if not vis[i]:
            j = i
            while j < n and not vis[j]:
                j += 1
            f = fold_summary(pk[i:j], lang)
            f.t = pk[i].ts - t0
            conv.items.append(f)
            conv.folded = True
            i = j
            continue
        p, r = pk[i], built[i]
        an = p.anomalies or {}
        marks = [(k, mark_text(k, v, lang)) for k, v in an.items() if k != "rst" or "connection_refused" not in an]
        every = [(k, anomaly_text(k, v, m, lang)) for (k, m), v in zip(r.anomalies, an.values())]
        messages = [(k, t) for (k, t), (_, m) in zip(every, r.anomalies)
                    if k not in ("rst", "connection_refused") and m not in r.note] if notes else []
        conv.items.append(Arrow(
            frame=p.frame, t=r.t, dir=p.dir, flags=r.flags, label=arrow_label(p), marks=marks,
            states=(r.client if r.changed[0] else None, r.server if r.changed[1] else None),
            note=r.note if notes else "", messages=messages, anomalies=every, teach=r.teach or [],
            resend=any(k in RESEND for k in an), reset=bool(p.flags & RST),
            bad=any(k in BAD for k in an),
        ))
        i += 1
    return conv


# --- text helpers shared by the ladder and the SVG -------------------------------------

_NO_BREAK_BEFORE = set("，。；：、）》」』！？,.;:)]") | {"…"}
_NO_BREAK_AFTER = set("（《「『“")


def _tokens(text: str) -> list[str]:
    """Words, spaces, and single wide (CJK) characters, which may break anywhere."""
    out: list[str] = []
    cur = ""
    for ch in text:
        if ch == " ":
            if cur:
                out.append(cur)
            cur = ""
            out.append(" ")
        elif cell_len(ch) == 2 or ch in "，。；：、（）“”":
            if cur:
                out.append(cur)
                cur = ""
            if (ch in _NO_BREAK_BEFORE and out and out[-1] != " ") or (out and out[-1][-1] in _NO_BREAK_AFTER):
                out[-1] += ch
            else:
                out.append(ch)
        else:
            if not cur and out and out[-1][-1] in _NO_BREAK_AFTER:
                cur = out.pop()
            cur += ch
    if cur:
        out.append(cur)
    return out


def wrap(text: str, width: int) -> list[str]:
    """Wrap text to `width` terminal cells; breaks at spaces, or between CJK characters."""
    width = max(width, 8)
    lines: list[str] = []
    cur, cw = "", 0
    for tok in _tokens(text):
        tw = cell_len(tok)
        if tok == " ":
            if cur:
                cur += " "
                cw += 1
            continue
        if cw + tw > width and cur.strip():
            lines.append(cur.rstrip())
            cur, cw = "", 0
        while tw > width:                       # a word longer than a line: cut it
            take, tc = "", 0
            for ch in tok:
                if tc + cell_len(ch) > width - cw:
                    break
                take += ch
                tc += cell_len(ch)
            lines.append((cur + take).rstrip())
            cur, cw = "", 0
            tok = tok[len(take):]
            tw = cell_len(tok)
        cur += tok
        cw += tw
    if cur.strip():
        lines.append(cur.rstrip())
    return lines or [""]

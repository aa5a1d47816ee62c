"""teach: the deeper lessons behind the notes, shown with ``--explain``.

The one-line notes of `explain.py` say *what* a packet did. The lessons here say
*why*, the way the TCP notes this project started from teach it:

* after each step of the three-way handshake, what each side has now confirmed
  about itself and its peer (own sending, own receiving, peer's sending, peer's
  receiving) — the tables of the notes, as a `ConfirmTable` — and why the third
  step is needed;
* why the numbers are what they are: a SYN or FIN consumes one sequence number
  (ack = ISN + 1), data does not (Ack = Seq + bytes, never + 1 for data);
* on close: who is the active closer, why four steps (or three with a combined
  FIN+ACK, or crossing FINs), why the active closer waits 2×MSL in TIME_WAIT;
* on anomalies: what probably happened and what to check next (each kind's lesson is declared
  with the kind, in core/anomaly_kinds.py; the RST lessons, which depend on the state, are here).

Each lesson is given once per connection where it first applies (the rule for
ACK numbers is taught on the first ACK of data in each direction, later ACKs get
the one-line sum), so a long capture does not repeat a paragraph per packet.

`packet_lessons(ex, pkt, before)` reads the `Explainer`'s plan of the flow (close
steps, FIN positions, where each data segment ends) and returns a list of lines
(str) and tables (`ConfirmTable`); `flow_lessons(ex)` the lessons for the whole
connection, shown under its verdict. `lesson_lines(...)` turns both into text.
"""
from __future__ import annotations

from rich.cells import cell_len

from ..core.anomaly_kinds import KINDS, RESENDS
from ..core.records import ACK, FIN, RST, SYN, State

# what each side has confirmed after handshake step 1, 2, 3:
# (own sending, own receiving, peer's sending, peer's receiving)
CONFIRMED = {
    1: {"client": (0, 0, 0, 0), "server": (0, 1, 1, 0)},
    2: {"client": (1, 1, 1, 1), "server": (0, 1, 1, 0)},
    3: {"client": (1, 1, 1, 1), "server": (1, 1, 1, 1)},
}
ASPECTS = {
    "en": ("own sending", "own receiving", "peer's sending", "peer's receiving"),
    "zh": ("己方发送正常", "己方接收正常", "对方发送正常", "对方接收正常"),
}
SHORT = {
    "en": ("own send", "own recv", "peer send", "peer recv"),
    "zh": ("己方发送", "己方接收", "对方发送", "对方接收"),
}
SIDES = {"en": {"client": "client", "server": "server"}, "zh": {"client": "客户端", "server": "服务端"}}


def pad(s: str, width: int, right: bool = False) -> str:
    """Pad to a width in terminal cells (a CJK character takes two)."""
    gap = max(0, width - cell_len(s))
    return " " * gap + s if right else s + " " * gap


class ConfirmTable:
    """What each side has confirmed after handshake step `step` (1-3)."""

    __slots__ = ("step",)

    def __init__(self, step: int):
        self.step = step

    def title(self, lang: str) -> str:
        if lang == "zh":
            return f"第 {self.step} 次握手后，双方各自确认了什么（✓ = 已确认正常）："
        return f"after handshake step {self.step}, what each side has confirmed (✓ = confirmed working):"

    def grid(self, lang: str, ascii: bool = False) -> list[str]:
        yes, no = ("Y", "-") if ascii else ("✓", "·")
        heads = SHORT.get(lang, SHORT["en"])
        name_w = 8
        col_w = max(cell_len(h) for h in heads) + 2
        lines = [pad("", name_w) + "".join(pad(h, col_w) for h in heads).rstrip()]
        for side in ("client", "server"):
            marks = CONFIRMED[self.step][side]
            cells = "".join(pad(" " * ((cell_len(h) - 1) // 2) + (yes if m else no), col_w)
                            for h, m in zip(heads, marks))
            lines.append((pad(SIDES[lang if lang in SIDES else "en"][side], name_w) + cells).rstrip())
        title = self.title(lang)
        if ascii:
            title = title.replace("✓", "Y")
        return [title] + lines

    def width(self, lang: str) -> int:
        return max(cell_len(x) for x in self.grid(lang)[1:])

    def sentences(self, lang: str) -> list[str]:
        asp = ASPECTS.get(lang, ASPECTS["en"])
        out = []
        for side in ("client", "server"):
            marks = CONFIRMED[self.step][side]
            yes = [a for a, m in zip(asp, marks) if m]
            no = [a for a, m in zip(asp, marks) if not m]
            name = SIDES[lang if lang in SIDES else "en"][side]
            if lang == "zh":
                if not yes:
                    out.append(f"第 {self.step} 次握手后，{name}：什么都还无法确认（{'、'.join(no)}都未确认）")
                else:
                    s = f"第 {self.step} 次握手后，{name}已确认：" + "、".join(a + " ✓" for a in yes)
                    if no:
                        s += "；尚未确认：" + "、".join(no)
                    out.append(s)
            else:
                if not yes:
                    out.append(f"after step {self.step} the {name} has confirmed nothing yet "
                               f"(not {', '.join(no)})")
                else:
                    s = f"after step {self.step} the {name} has confirmed: " + ", ".join(a + " ✓" for a in yes)
                    if no:
                        s += "; not yet: " + ", ".join(no)
                    out.append(s)
        return out

    def __str__(self) -> str:
        return " / ".join(self.sentences("en"))


def lesson_lines(items, lang: str = "en", ascii: bool = False, width: int | None = None) -> list[str]:
    """Lessons as text lines: tables as a grid when it fits in `width` cells, else as sentences."""
    out: list[str] = []
    for it in items:
        if isinstance(it, ConfirmTable):
            if width is None or it.width(lang) <= width:
                out.extend(it.grid(lang, ascii))
            else:
                out.extend(it.sentences(lang))
        else:
            out.append(it)
    return out


# --- per packet --------------------------------------------------------------------------

def packet_lessons(ex, pkt, before) -> list:
    """The lessons for one packet (see the module docstring)."""
    L = ex.L
    f = pkt.flags
    d = pkt.dir
    flow = ex.flow
    me, peer, sb, sa, pb, pa, an = ex.context(pkt, before)
    out: list = []
    once = ex._taught

    def first(key) -> bool:
        if key in once:
            return False
        once.add(key)
        return True

    role = {v: k for k, v in ex.close_frames.items()}.get(pkt.frame)

    if f & RST:
        out += _rst_lessons(ex, pkt, sb, an, me)
    elif f & SYN and not f & ACK:
        end = flow.ends[d]
        retrans = end.syn_frame is not None and end.syn_frame != pkt.frame
        if retrans:
            if first("syn_again"):
                out.append(L("What probably happened: the first SYN or the SYN-ACK was lost, or the server was too "
                             "busy to answer (full SYN or accept queue); the client waits about 1 s, then doubles "
                             "the wait each time. Check: can the client reach the server at all (ping, `nc -vz`), "
                             "does a firewall silently DROP SYNs, is the server's listen backlog full.",
                             "可能的原因：第一个 SYN 或 SYN-ACK 丢了，或者服务端太忙没有应答（SYN 队列或 accept 队列满）；"
                             "客户端先等约 1 秒，之后每次等待时间加倍。下一步检查：客户端能否到达服务端（ping、`nc -vz`），"
                             "是否有防火墙静默丢弃（DROP）SYN，服务端的 listen 队列是否已满。"))
        elif d == 0 and first("hs1"):
            out.append(ConfirmTable(1))
            out.append(L("The client can confirm nothing yet: it has sent a SYN but heard nothing back. "
                         "When the SYN arrives, the server learns that its own receiving works and that the "
                         "client's sending works.",
                         "客户端此时什么都无法确认：它发出了 SYN，但还没有收到任何回应。"
                         "服务端收到 SYN 后可以确认：自己接收正常，对方（客户端）发送正常。"))
            out.append(L(f"Why these numbers: the ISN {pkt.seq} is picked at random, so segments of an old "
                         "connection on the same ports (or forged ones) do not fit this one; the tools print "
                         f"numbers relative to it, so the SYN is seq 0. The SYN carries no data but consumes one "
                         f"sequence number, like one byte: the client's first data byte is ISN + 1 = "
                         f"{(pkt.seq + 1) & 0xFFFFFFFF}, relative 1.",
                         f"为什么是这些数字：初始序列号 ISN {pkt.seq} 是随机选的，这样同一端口上旧连接的报文段"
                         "（或伪造的报文段）对不上这个连接；工具显示的是相对于 ISN 的相对序列号，所以 SYN 是 seq 0。"
                         "SYN 不携带数据，但要消耗一个序列号（就像一个字节）：客户端的第一个数据字节是 ISN + 1 = "
                         f"{(pkt.seq + 1) & 0xFFFFFFFF}，即相对序列号 1。"))
    elif f & SYN:
        end = flow.ends[d]
        if end.syn_frame is not None and end.syn_frame != pkt.frame:
            if first("synack_again"):
                out.append(L(f"What probably happened: the {peer} did not acknowledge the SYN-ACK in time — the "
                             f"SYN-ACK or the final ACK was lost. Check for loss between the two hosts.",
                             f"可能的原因：{peer}没有及时确认 SYN-ACK——SYN-ACK 或第三次握手的 ACK 丢了。"
                             "下一步检查两台主机之间是否丢包。"))
        elif d == 1 and first("hs2"):
            peer_isn = flow.ends[0].isn
            out.append(ConfirmTable(2))
            out.append(L("The SYN-ACK answers the client's SYN, so the client now knows all four: its SYN got "
                         "there (own sending and the server's receiving work) and an answer came back (the "
                         "server's sending and its own receiving work). The server still cannot know whether "
                         "its SYN-ACK arrived.",
                         "SYN-ACK 是对客户端 SYN 的回答，所以客户端现在四项都确认了：自己的 SYN 到达了对方"
                         "（己方发送正常、对方接收正常），并且收到了回答（对方发送正常、己方接收正常）。"
                         "服务端仍然无法知道自己的 SYN-ACK 是否到达。"))
            if peer_isn is not None and pkt.rack is not None:
                out.append(L(f"Why ack {pkt.rack}: the client's ISN is {peer_isn} and its SYN consumed one number, "
                             f"so the next number the server expects is {peer_isn} + 1 = {pkt.ack_raw} "
                             f"(relative 0 + 1 = {pkt.rack}). An ACK number always names the next sequence number "
                             f"expected. The server picks its own ISN {pkt.seq}, independent of the client's.",
                             f"为什么确认号是 {pkt.rack}：客户端的 ISN 是 {peer_isn}，它的 SYN 消耗了一个序列号，"
                             f"所以服务端期望的下一个序列号是 {peer_isn} + 1 = {pkt.ack_raw}（相对序列号 0 + 1 = {pkt.rack}）。"
                             f"确认号总是表示期望收到的下一个序列号。服务端另选自己的 ISN {pkt.seq}，与客户端的无关。"))
        elif d == 0 and first("simopen"):
            out.append(L("Simultaneous open: both sides sent a SYN; each answers the other's SYN with a "
                         "SYN-ACK, so four segments open the connection instead of three.",
                         "同时打开：双方都发出了 SYN，各自用 SYN-ACK 回答对方的 SYN，所以建立连接用了四个报文段而不是三个。"))
    else:
        if pb is State.SYN_RECEIVED and pa is State.ESTABLISHED and d == 0 and first("hs3"):
            out.append(ConfirmTable(3))
            out.append(L("Why a third step: only this ACK tells the server that its own sending and the "
                         "client's receiving work — the two boxes step 2 could not fill. Each side must see "
                         "its own SYN acknowledged, and the client's SYN was acknowledged by step 2, the "
                         "server's only now.",
                         "为什么需要第三次握手：只有这个 ACK 能让服务端确认“己方发送正常”和“对方接收正常”——"
                         "第 2 次握手后还空着的两格。每一方都必须看到自己的 SYN 被确认：客户端的 SYN 在第 2 次握手时"
                         "被确认，服务端的 SYN 直到现在才被确认。"))
            out.append(L("It also protects against old duplicates: a SYN delayed in the network could arrive "
                         "after its connection is long gone; with only two steps the server would open a "
                         "connection nobody wants and hold resources for it. With three, the server waits for "
                         "the client's ACK, which never comes for a stale SYN (the client answers it with RST).",
                         "它还能防止历史重复报文：一个在网络中滞留的旧 SYN 可能在它的连接早已结束后才到达；"
                         "如果只有两次握手，服务端就会为它建立一个没人要的连接，白白占用资源。有了第三次握手，"
                         "服务端要等客户端的 ACK，而对过期的 SYN 客户端不会确认（它会回 RST）。"))
            out.append(L(f"Why these numbers: ack {pkt.rack} = the server's ISN + 1 (relative 0 + 1), because "
                         f"the server's SYN consumed one number; seq {pkt.rseq} = the client's ISN + 1, the "
                         "number of its first data byte. This third segment may already carry data; the first "
                         "two normally do not.",
                         f"为什么是这些数字：确认号 ack {pkt.rack} = 服务端 ISN + 1（相对 0 + 1），因为服务端的 SYN "
                         f"消耗了一个序列号；seq {pkt.rseq} = 客户端 ISN + 1，即它第一个数据字节的序号。"
                         "第三次握手可以携带数据，前两次一般不可以。"))
        # data: tcpdump's range notation, once per direction
        if pkt.len and not _is_resend(an) and first(("data", d)):
            end = (pkt.rseq + pkt.len) & 0xFFFFFFFF
            out.append(L(f"seq {pkt.rseq}:{end} is an end-exclusive range, as tcpdump prints it: bytes "
                         f"{pkt.rseq}–{end - 1}, {pkt.len} bytes. The {me}'s next segment starts at {end}, and "
                         f"the {peer} will acknowledge these bytes with ack {end} (= {pkt.rseq} + {pkt.len}).",
                         f"seq {pkt.rseq}:{end} 是 tcpdump 的写法，不含终点：第 {pkt.rseq}–{end - 1} 字节，共 "
                         f"{pkt.len} 字节。{me}的下一个报文段从 {end} 开始，{peer}会用确认号 ack {end}"
                         f"（= {pkt.rseq} + {pkt.len}）来确认这些字节。"))
        # FIN and its ACK
        if f & FIN:
            out += _fin_lessons(ex, pkt, role, me, peer, sb, sa, pb, pa, first)
        elif role in ("ack_a", "ack_b"):
            out += _fin_ack_lessons(ex, pkt, role, me, peer, sa, pa, first)
    out += _state_lessons(ex, pkt, before, first)
    # the ACK number of data: Ack = Seq + bytes
    if f & ACK and not f & (SYN | RST) and pkt.rack is not None:
        seg = ex.data_ends[1 - d].get(pkt.rack)
        prev = ex.prev_ack.get(pkt.frame)
        if seg is not None and prev != pkt.rack:
            rseq, n, frame = seg
            cum = prev is not None and prev != rseq and ((rseq - prev) & 0xFFFFFFFF) < 0x80000000
            if first(("ackrule", d)):
                out.append(L(f"Ack = Seq + bytes: frame {frame} started at seq {rseq} and carried {n} bytes, so "
                             f"ack = {rseq} + {n} = {pkt.rack}, the next byte the {me} expects. For data there is "
                             "no extra + 1 (the often-quoted 'Ack = Seq + bytes + 1' is wrong): only SYN and FIN "
                             "consume a sequence number of their own.",
                             f"确认号 = 序列号 + 字节数：第 {frame} 帧从 seq {rseq} 开始，携带 {n} 字节，所以 "
                             f"ack = {rseq} + {n} = {pkt.rack}，即{me}期望的下一个字节。数据不再额外 + 1"
                             "（常见的“Ack = Seq + 字节数 + 1”是错的）：只有 SYN 和 FIN 才各自占用一个序列号。"))
            else:
                out.append(L(f"ack {pkt.rack} = seq {rseq} + {n} bytes (frame {frame})",
                             f"确认号 {pkt.rack} = seq {rseq} + {n} 字节（第 {frame} 帧）"))
            if cum and first(("cumulative", d)):
                out.append(L(f"The ACK is cumulative: it acknowledges every byte before {pkt.rack} at once, "
                             f"including the segments before frame {frame}.",
                             f"确认是累积的：它一次确认了 {pkt.rack} 之前的所有字节，包括第 {frame} 帧之前的报文段。"))
    # anomalies: what probably happened, what to check next (once per kind)
    for kind in an:
        text = _anomaly_lesson(ex, kind, me, peer)
        if text and first(("anomaly", kind)):
            out.append(text)
    return out


def _is_resend(an) -> bool:
    return any(k in an for k in RESENDS)


def _rst_lessons(ex, pkt, sb, an, me) -> list:
    L = ex.L
    if "connection_refused" in an:
        port = ex.flow.resp[1]
        return [L(f"What probably happened: the SYN reached the host, but no program listens on port {port} "
                  "(or a firewall rule answers with a reset). Check: is the server running and listening on "
                  "that address and port (`ss -ltnp`), is it bound to 127.0.0.1 only, is there a REJECT rule.",
                  f"可能的原因：SYN 到达了主机，但端口 {port} 上没有程序在监听（或防火墙规则用 RST 拒绝）。"
                  "下一步检查：服务端程序是否在运行、是否在这个地址和端口上监听（`ss -ltnp`），"
                  "是否只绑定了 127.0.0.1，是否有 REJECT 规则。")]
    return [L(f"What probably happened: the {me}'s application aborted the connection — it closed with "
              "SO_LINGER set to 0, closed while unread data was still in its receive buffer (then the kernel "
              "sends RST instead of FIN), or crashed — or a firewall or load balancer reset it. An RST needs no "
              "answer and leaves no TIME_WAIT; data still in flight is lost. Check the application's logs at "
              "that moment.",
              f"可能的原因：{me}的应用程序异常终止了连接——设置了 SO_LINGER 为 0 后关闭、接收缓冲区里还有未读数据时"
              "关闭（此时内核发 RST 而不是 FIN），或者程序崩溃——也可能是防火墙或负载均衡器重置了连接。"
              "RST 不需要应答，也没有 TIME_WAIT；还在路上的数据会丢失。下一步查看那一刻的应用程序日志。")]


def _fin_lessons(ex, pkt, role, me, peer, sb, sa, pb, pa, first) -> list:
    L = ex.L
    out = []
    fin_at = (pkt.rseq + pkt.len) & 0xFFFFFFFF
    kind = ex.close_kind
    if role == "fin_a" and first("fin_a"):
        out.append(L(f"Active close: the {me} sent the first FIN, so it is the active closer and will end in "
                     f"TIME_WAIT; the {peer} is the passive closer (CLOSE_WAIT, then LAST_ACK, then CLOSED). A "
                     f"FIN says only \"I have nothing more to send\": the {me} can still receive until the "
                     f"{peer} closes too (half-close). The FIN consumes one sequence number, so its ACK will be "
                     f"{fin_at} + 1 = {(fin_at + 1) & 0xFFFFFFFF}.",
                     f"主动关闭：{me}先发出 FIN，所以它是主动关闭方，最后会进入 TIME_WAIT；{peer}是被动关闭方"
                     f"（CLOSE_WAIT，然后 LAST_ACK，然后 CLOSED）。FIN 只表示“我没有数据要发了”：在{peer}也关闭之前，"
                     f"{me}仍然可以接收数据（半关闭）。FIN 消耗一个序列号，所以对它的确认号将是 {fin_at} + 1 = {(fin_at + 1) & 0xFFFFFFFF}。"))
    elif role == "fin_b" and kind == "three" and first("fin_b"):
        out.append(L(f"Why three steps here: when the {peer}'s FIN arrived the {me} had nothing more to send, "
                     f"so the ACK of that FIN (held back a moment by delayed ACK) rode on the {me}'s own FIN: "
                     f"steps 2 and 3 of the four-way close merged into one segment. ack {pkt.rack} = the "
                     f"{peer}'s FIN seq {ex.fin_rel[1 - pkt.dir]} + 1.",
                     f"为什么这里只有三步：{peer}的 FIN 到达时，{me}已经没有数据要发，于是对那个 FIN 的 ACK"
                     f"（因延迟确认稍等了一下）搭在{me}自己的 FIN 上一起发出：四次挥手的第 2、3 步合并成了一个报文段。"
                     f"确认号 ack {pkt.rack} = {peer}的 FIN 序列号 {ex.fin_rel[1 - pkt.dir]} + 1。"))
    elif role == "fin_b" and kind == "simultaneous" and first("fin_b"):
        out.append(L("Simultaneous close: both sides sent a FIN before seeing the other's, so both are active "
                     "closers. Each goes FIN_WAIT_1 → CLOSING (the peer's FIN arrived before the ACK of its own) "
                     "→ TIME_WAIT when its FIN is acknowledged, and both wait 2×MSL.",
                     "同时关闭：双方都在看到对方的 FIN 之前发出了自己的 FIN，所以双方都是主动关闭方。"
                     "各自经历 FIN_WAIT_1 → CLOSING（对方的 FIN 先于对自己 FIN 的确认到达）→ 自己的 FIN 被确认后进入 "
                     "TIME_WAIT，双方都要等待 2×MSL。"))
    elif role == "fin_b" and first("fin_b"):
        out.append(L(f"Why four steps: TCP is full-duplex and each direction is closed on its own. The ACK of "
                     f"the {peer}'s FIN came from the {me}'s kernel at once; the {me}'s own FIN comes only when "
                     "its application has finished sending and calls close(), so the two usually travel "
                     f"separately. This FIN also consumes one number: its ACK will be {(fin_at + 1) & 0xFFFFFFFF}.",
                     f"为什么是四次挥手：TCP 是全双工的，两个方向要分别关闭。对{peer} FIN 的 ACK 由{me}的内核立即发出；"
                     f"而{me}自己的 FIN 要等它的应用程序发完数据、调用 close() 才发出，所以两者通常分开发送。"
                     f"这个 FIN 同样消耗一个序列号：对它的确认号将是 {(fin_at + 1) & 0xFFFFFFFF}。"))
    return out


def _fin_ack_lessons(ex, pkt, role, me, peer, sa, pa, first) -> list:
    L = ex.L
    out = []
    fin = ex.fin_rel[1 - pkt.dir]
    if role == "ack_a" and ex.close_kind == "four" and first("ack_a"):
        out.append(L(f"ack {pkt.rack} = the {peer}'s FIN seq {fin} + 1: a FIN consumes one sequence number, like "
                     f"a SYN. The {me}'s kernel acknowledges at once, but its application may still have data to "
                     f"send: the {me} stays in CLOSE_WAIT until it calls close(), and meanwhile the connection is "
                     "half-closed (data can still flow from it to the peer).",
                     f"确认号 ack {pkt.rack} = {peer}的 FIN 序列号 {fin} + 1：FIN 和 SYN 一样消耗一个序列号。"
                     f"{me}的内核立即确认，但它的应用程序可能还有数据要发：{me}停留在 CLOSE_WAIT，直到调用 close()；"
                     "在此期间连接是半关闭的（数据仍可从它流向对方）。"))
    return out


def _state_lessons(ex, pkt, before, first) -> list:
    """TIME_WAIT and the passive closer's CLOSED, at the packet that causes them."""
    L = ex.L
    out = []
    after = (pkt.orig_state, pkt.resp_state)
    tw = [s for s in (0, 1) if after[s] is State.TIME_WAIT and before[s] is not State.TIME_WAIT]
    if tw and first("time_wait"):
        side = ex.who(tw[0]) if len(tw) == 1 else L("both sides", "双方")
        out.append(L(f"Why the {side} now waits 2×MSL in TIME_WAIT: MSL, the maximum segment lifetime, is the "
                     "longest a segment can survive in the network. One MSL for the final ACK to reach the peer, "
                     "and one MSL for a retransmitted FIN to come back if that ACK was lost — so the active closer "
                     "can still answer it. Waiting also lets stray segments of this connection die out before the "
                     "same addresses and ports can be used again. (Linux waits a fixed 60 s.)",
                     f"为什么{side}现在要在 TIME_WAIT 等待 2×MSL：MSL 是报文最大生存时间，即报文段在网络中能存在的最长时间。"
                     "一个 MSL 保证最后的 ACK 能到达对方，另一个 MSL 保证如果这个 ACK 丢了，对方重传的 FIN 还能到达——"
                     "这样主动关闭方还能再次回应。等待也让这个连接残留在网络中的报文段全部消失，之后同样的地址和端口"
                     "才能再次使用。（Linux 固定等待 60 秒。）"))
    closed = [s for s in (0, 1) if after[s] is State.CLOSED and before[s] is State.LAST_ACK]
    if closed and first("passive_closed"):
        c = ex.who(closed[0])
        out.append(L(f"The passive closer (the {c}) goes to CLOSED as soon as the ACK of its FIN arrives; only "
                     "the active closer waits in TIME_WAIT.",
                     f"被动关闭方（{c}）一收到对自己 FIN 的 ACK 就进入 CLOSED；只有主动关闭方需要在 TIME_WAIT 等待。"))
    return out


def _anomaly_lesson(ex, kind, me, peer) -> str | None:
    """What probably happened and what to check next: the kind's lesson (anomaly_kinds)."""
    k = KINDS.get(kind)
    if k is None or k.lesson is None or k.scope != "packet":
        return None
    return ex.L(*k.lesson).format(me=me, peer=peer)


# --- the whole connection ---------------------------------------------------------------

def _close_path(flow, d: int) -> str:
    """The states endpoint `d` went through from the first FIN on: 'ESTABLISHED → FIN_WAIT_1 → TIME_WAIT'."""
    path: list[str] = []
    before = flow.init_states[d]
    started = False
    for p in flow.packets:
        if not started and p.flags & FIN and not p.flags & RST:
            started = True
            path.append(before.value)
        st = p.orig_state if d == 0 else p.resp_state
        if started and st.value != path[-1]:
            path.append(st.value)
        before = st
    return " → ".join(path)


def flow_lessons(ex) -> list[str]:
    """Lessons for the whole connection, shown under its verdict."""
    L = ex.L
    flow = ex.flow
    v = flow.ended
    out: list[str] = []
    if v is None:
        return out
    names = {"orig": 0, "resp": 1}
    if v.ended == "graceful" and v.closer in names:
        a = names[v.closer]
        if ex.close_kind == "simultaneous":
            out.append(L("Both sides were active closers (their FINs crossed): both end in TIME_WAIT.",
                         "双方都是主动关闭方（两个 FIN 交叉）：双方最后都进入 TIME_WAIT。"))
        else:
            steps = {"three": L("three segments (FIN+ACK combined)", "三个报文段（FIN 与 ACK 合并）"),
                     "four": L("four segments", "四个报文段")}.get(ex.close_kind, "")
            pa, pb = _close_path(flow, a), _close_path(flow, 1 - a)
            out.append(L(f"Active closer: the {ex.who(a)} (sent the first FIN): {pa}; passive closer: the "
                         f"{ex.who(1 - a)}: {pb}. The close took {steps}.",
                         f"主动关闭方：{ex.who(a)}（先发出 FIN）：{pa}；被动关闭方：{ex.who(1 - a)}：{pb}。"
                         f"这次挥手用了{steps}。"))
    elif v.ended == "half_closed" and v.closer in names:
        a = names[v.closer]
        out.append(L(f"Half-closed: the {ex.who(a)} finished sending (FIN), the {ex.who(1 - a)} had not yet; "
                     "capture longer to see the rest of the close.",
                     f"半关闭：{ex.who(a)}已经发完（FIN），{ex.who(1 - a)}还没有；抓包时间再长一些才能看到挥手的其余部分。"))
    elif v.ended == "open":
        out.append(L("The connection was still open when the capture stopped; capture longer to see its end.",
                     "抓包停止时连接仍然打开；抓包时间再长一些才能看到它的结束。"))
    for a in flow.anomalies:
        k = KINDS.get(a.kind)
        if k is not None and k.lesson is not None and k.scope == "flow":
            out.append(L(*k.lesson))
    return out

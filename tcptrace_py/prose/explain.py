"""explain: the plain-language notes, built only for what is printed.

`Explainer(flow, lang)` walks a finished flow's packets once to learn its shape
(which FIN closed first, whether the close took three or four segments or the
FINs crossed, where each direction's FIN sits, which data segment ends where),
then `note(pkt, before)` says what one packet did, the way a teacher walks
through a tcpdump listing, `anomaly_message(...)` says what an anomaly means in
words, and `teach(pkt, before)` adds the deeper lessons of `teach.py` (what each
side has confirmed after each handshake step, why the numbers are what they are,
why four steps and 2×MSL, what to check after an anomaly).

Numbers follow the rules the notes teach: SYN and FIN each consume one sequence
number; data bytes are numbered from 1 after the SYN; an ACK number is the next
byte expected, so "ack 98" means bytes 1-97 arrived (Ack = Seq + bytes).

Languages: ``en`` (default) and ``zh``. Each sentence is written in both
languages at the place it is used (`Explainer.L(en, zh)`), so a reviewer sees the
two side by side — except the anomaly messages, which are declared with each anomaly
kind in `core/anomaly_kinds.py` and filled in here with the packet's numbers; the
Chinese follows the terms of the TCP notes this project started from (三次握手, 四次挥手,
主动关闭, 被动关闭, 半关闭, 序列号, 确认号).
"""
from __future__ import annotations

from ..core.anomaly_kinds import KINDS, RETRANSMISSION_CHECK, RETRANSMISSIONS, text
from ..core.decode import addr_str, format_options, parse_options
from ..core.records import ACK, FIN, RST, SYN, Packet, State
from ..core.records import States as S

WHO = ("client", "server")
# the sentence added to the note of a packet cut short by the snaplen (en, zh), and as a second part
CUT = ("the capture kept only the start of this packet (snaplen); the length comes from the IP header",
       "抓包只保存了这个包的开头（snaplen）；长度取自 IP 首部")
CUT_NOTE = ("; " + CUT[0], "；" + CUT[1])
WHO_ZH = ("客户端", "服务端")
LANGS = ("en", "zh")


def who(d: int, lang: str = "en") -> str:
    return (WHO_ZH if lang == "zh" else WHO)[d]


def endpoint_str(ep: tuple) -> str:
    a = addr_str(ep[0])
    return f"[{a}]:{ep[1]}" if ":" in a else f"{a}:{ep[1]}"


def fmt_dt(sec: float) -> str:
    if sec < 0.001:
        return f"{sec * 1e6:.0f} µs"
    if sec < 1:
        return f"{sec * 1e3:.1f} ms"
    return f"{sec:.3f} s"


def byte_range(start: int, n: int, lang: str = "en") -> str:
    if lang == "zh":
        return f"第 {start} 字节" if n == 1 else f"第 {start}–{start + n - 1} 字节"
    return f"byte {start}" if n == 1 else f"bytes {start}–{start + n - 1}"


def _after(a: int, b: int) -> bool:
    """a >= b in 32-bit serial arithmetic."""
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


class Explainer:
    def __init__(self, flow, lang: str = "en"):
        self.flow = flow
        self.lang = lang if lang in LANGS else "en"
        self.zh = self.lang == "zh"
        self.close_steps: dict[int, str] = {}
        self.close_total = 0
        self.close_kind = None            # "four", "three", "simultaneous" or None
        self.close_frames: dict[str, int] = {}   # role -> frame: fin_a, ack_a, fin_b, ack_b
        self.fin_rel: list[int | None] = [None, None]   # relative seq of each direction's FIN
        self.data_ends: tuple[dict, dict] = ({}, {})     # per dir: end rel seq -> (rseq, len, frame)
        self.prev_ack: dict[int, int | None] = {}        # frame -> the previous ACK its sender sent
        self._taught: set = set()
        self._lessons_ready = False
        self._scan()
        self._plan_close()

    def L(self, en: str, zh: str) -> str:
        """The sentence in the explainer's language."""
        return zh if self.zh else en

    def who(self, d: int) -> str:
        return who(d, self.lang)

    def br(self, start: int, n: int) -> str:
        return byte_range(start, n, self.lang)

    # -- one pass over the packets ------------------------------------------------------
    def _scan(self) -> None:
        """Where each direction's first FIN sits, and the close's roles (`_close_roles`): one
        pass over the packets (a long connection's may be read back from disk, packetlog)."""
        fin = self.fin_rel
        first = ack_a = fin_b_pkt = last = None
        a = 0
        fin_a = fin_b = 0
        for p in self.flow.packets:
            f = p.flags
            if f & FIN and not f & RST and fin[p.dir] is None:
                fin[p.dir] = (p.rseq + p.len) & 0xFFFFFFFF
            if first is None:
                if f & FIN and not f & RST:
                    first = p
                    a = p.dir
                    fin_a = (p.seq + p.len + (1 if f & SYN else 0)) & 0xFFFFFFFF
                continue
            if last is not None and ack_a is not None:
                if fin[0] is not None and fin[1] is not None:
                    break
                continue
            if p.dir != a and f & ACK and ack_a is None and _after(p.ack_raw, fin_a + 1):
                ack_a = p
            if p.dir != a and f & FIN and not f & RST and fin_b_pkt is None:
                fin_b_pkt = p
                fin_b = (p.seq + p.len) & 0xFFFFFFFF
            if fin_b_pkt is not None and last is None and p.dir == a and f & ACK and p is not fin_b_pkt:
                if _after(p.ack_raw, fin_b + 1):
                    last = p
        self._roles = (first, ack_a, fin_b_pkt, last)

    def _scan_for_lessons(self) -> None:
        """What only the lessons need (built on first use: JSON notes never pay for it)."""
        last_ack: list[int | None] = [None, None]
        for p in self.flow.packets:
            self.prev_ack[p.frame] = last_ack[p.dir]
            if p.rack is not None:
                last_ack[p.dir] = p.rack
            if p.len and not p.flags & SYN:
                self.data_ends[p.dir].setdefault((p.rseq + p.len) & 0xFFFFFFFF, (p.rseq, p.len, p.frame))
        self._lessons_ready = True

    # -- the shape of the close ------------------------------------------------------
    def _plan_close(self) -> None:
        """Number the close segments: 1/4..4/4, 1/3..3/3 with a combined FIN+ACK, or
        1/4..4/4 in time order when the two FINs cross (simultaneous close)."""
        first, ack_a, fin_b_pkt, last = self._close_roles()
        if first is None:
            return
        steps = self.close_steps
        roles = {"fin_a": first, "ack_a": ack_a, "fin_b": fin_b_pkt, "ack_b": last}
        self.close_frames = {k: v.frame for k, v in roles.items() if v is not None}
        if fin_b_pkt is not None and ack_a is fin_b_pkt:
            self.close_kind, self.close_total = "three", 3
            steps[first.frame] = "close 1/3"
            steps[fin_b_pkt.frame] = "close 2/3"
            if last is not None:
                steps[last.frame] = "close 3/3"
        elif fin_b_pkt is not None and (ack_a is None or ack_a.frame > fin_b_pkt.frame):
            # the second FIN left before the first one was acknowledged: the FINs crossed
            self.close_kind, self.close_total = "simultaneous", 4
            seq = sorted((p for p in (first, fin_b_pkt, last, ack_a) if p is not None), key=lambda p: p.frame)
            for i, p in enumerate(seq, 1):
                steps[p.frame] = f"close {i}/4"
        else:
            self.close_kind, self.close_total = "four", 4
            steps[first.frame] = "close 1/4"
            if ack_a is not None:
                steps[ack_a.frame] = "close 2/4"
            if fin_b_pkt is not None:
                steps[fin_b_pkt.frame] = "close 3/4"
            if last is not None:
                steps[last.frame] = "close 4/4"

    def _close_roles(self) -> tuple:
        """(first FIN, the ACK of it, the other side's FIN, the ACK of that), None where missing
        (found by `_scan`)."""
        return self._roles

    def step_label(self, frame: int) -> str | None:
        s = self.close_steps.get(frame)
        if s is None or not self.zh:
            return s
        return "四次挥手 " + s.split()[1] if self.close_total == 4 else "挥手 " + s.split()[1]

    # -- one packet ---------------------------------------------------------------------
    def context(self, pkt: Packet, before: tuple[State, State]):
        """(me, peer, sender before, sender after, peer before, peer after, anomalies) of a packet."""
        d = pkt.dir
        sa = pkt.orig_state if d == 0 else pkt.resp_state
        pa = pkt.resp_state if d == 0 else pkt.orig_state
        return self.who(d), self.who(1 - d), before[d], sa, before[1 - d], pa, pkt.anomalies or {}

    def note(self, pkt: Packet, before: tuple[State, State]) -> str:
        if not pkt.flags & 0x07 and not pkt.anomalies:
            plain = self._plain_note(pkt, before)
            if plain is not None:
                return plain + CUT_NOTE[self.zh] if pkt.cut else plain
        return self._note(pkt, before)

    def _note(self, pkt: Packet, before: tuple[State, State]) -> str:
        f = pkt.flags
        d = pkt.dir
        flow = self.flow
        me, peer, sb, sa, pb, pa, an = self.context(pkt, before)
        parts: list[str] = []
        step = self.step_label(pkt.frame)

        if f & RST:
            if "connection_refused" in an:
                port = (flow.resp if d == 1 else flow.orig)[1]
                parts.append(self.L(f"{me} refuses the connection: nothing accepts connections on port "
                               f"{port}, so the SYN is answered with RST",
                               f"{me}拒绝连接：端口 {port} 上没有程序在监听（accept），所以用 RST 回答 SYN"))
            else:
                was = self.L(f" (it was {sb.value})", f"（之前处于 {sb.value}）") if sb is not S.UNKNOWN else ""
                parts.append(self.L(f"{me} aborts the connection with RST{was}; both sides drop it at once, "
                               "without the FIN exchange and without TIME_WAIT",
                               f"{me}用 RST 异常终止连接{was}；双方立即丢弃连接，没有 FIN 挥手，也没有 TIME_WAIT"))
            if pkt.len:
                parts.append(self.L(f"the RST carries {pkt.len} bytes of data", f"这个 RST 还携带了 {pkt.len} 字节数据"))
        elif f & SYN and not f & ACK:
            end = flow.ends[d]
            if _is_retrans(an) or (end.syn_frame is not None and end.syn_frame != pkt.frame):
                first = end.syn_frame
                dt = fmt_dt(pkt.ts - end.syn_ts)
                parts.append(self.L(f"{me} sends its SYN again (first sent in frame {first}, "
                               f"{dt} earlier): no SYN-ACK arrived in time",
                               f"{me}重发 SYN（第一次在第 {first} 帧发出，{dt} 之前）：没有及时收到 SYN-ACK"))
            elif d == 1:
                parts.append(self.L(f"{me} sends its own SYN (ISN {pkt.seq}) instead of a SYN-ACK: "
                               "both sides are opening at once (simultaneous open)",
                               f"{me}没有回 SYN-ACK，而是发出自己的 SYN（ISN {pkt.seq}）：双方同时打开连接"))
            else:
                parts.append(self.L(f"handshake 1/3: {me} asks to open a connection, ISN {pkt.seq}; "
                               "the SYN consumes one sequence number, so the client's first data byte will be 1",
                               f"三次握手 1/3：{me}请求建立连接，初始序列号 ISN {pkt.seq}；"
                               "SYN 消耗一个序列号，所以客户端的第一个数据字节将是 1"))
            parts.append(self._syn_opts(pkt))
            if pkt.len:
                parts.append(self._syn_data(pkt, an))
        elif f & SYN:
            end = flow.ends[d]
            peer_end = flow.ends[1 - d]
            if end.synack_frame is not None and end.synack_frame != pkt.frame:
                parts.append(self.L(f"{me} repeats its SYN-ACK (first sent in frame {end.synack_frame}): "
                               f"the {peer}'s SYN or the final ACK went missing",
                               f"{me}重发 SYN-ACK（第一次在第 {end.synack_frame} 帧发出）：{peer}的 SYN 或第三次握手的 ACK 丢了"))
            else:
                if peer_end.isn is not None:
                    why = self.L(f"ack {pkt.rack} = {peer}'s ISN {peer_end.isn} + 1, "
                            "because the SYN consumed one sequence number",
                            f"确认号 ack {pkt.rack} = {peer}的 ISN {peer_end.isn} + 1，因为 SYN 消耗了一个序列号")
                else:
                    why = self.L(f"ack {pkt.rack}: the {peer}'s SYN itself was not captured",
                            f"确认号 ack {pkt.rack}：{peer}的 SYN 本身没有被抓到")
                if d == 1:
                    parts.append(self.L(f"handshake 2/3: {me} accepts, picks its own ISN {pkt.seq}, and acknowledges "
                                   f"the {peer}'s SYN ({why})",
                                   f"三次握手 2/3：{me}同意建立连接，选出自己的初始序列号 ISN {pkt.seq}，"
                                   f"并确认{peer}的 SYN（{why}）"))
                else:
                    parts.append(self.L(f"simultaneous open: {me} accepts, picks its own ISN {pkt.seq}, and acknowledges "
                                   f"the {peer}'s SYN ({why})",
                                   f"同时打开：{me}同意建立连接，ISN {pkt.seq}，并确认{peer}的 SYN（{why}）"))
            parts.append(self._syn_opts(pkt))
            if pkt.len:
                parts.append(self.L(f"the SYN-ACK carries {pkt.len} bytes of data", f"这个 SYN-ACK 携带了 {pkt.len} 字节数据"))
        else:
            if pb is S.SYN_RECEIVED and pa is S.ESTABLISHED:
                if d == 0:
                    parts.append(self.L(f"handshake 3/3: {me} acknowledges the {peer}'s SYN (ack {pkt.rack}); "
                                   "both sides are now ESTABLISHED",
                                   f"三次握手 3/3：{me}确认{peer}的 SYN（确认号 ack {pkt.rack}）；双方都进入 ESTABLISHED"))
                else:
                    parts.append(self.L(f"simultaneous open completes: {me} acknowledges the {peer}'s SYN "
                                   f"(ack {pkt.rack}); both sides are now ESTABLISHED",
                                   f"同时打开完成：{me}确认{peer}的 SYN（确认号 ack {pkt.rack}）；双方都进入 ESTABLISHED"))
                if pkt.len:
                    parts.append(self.L(f"the same segment already carries data: {self.br(pkt.rseq, pkt.len)}",
                                   f"同一个报文段已经携带数据：{self.br(pkt.rseq, pkt.len)}"))
            elif f & FIN:
                parts.append(self._fin_note(pkt, step, me, peer, sb, sa, pb, pa))
            elif step is not None and pkt.len == 0:
                parts.append(self._close_ack_note(pkt, step, me, peer, sa, pb, pa))
            elif pkt.len:
                parts.append(self._data_note(pkt, me, an))
                if step is not None:
                    parts.append(self._close_ack_note(pkt, step, me, peer, sa, pb, pa, on_data=True))
            else:
                parts.append(self._ack_note(pkt, me, peer, an))
        if pkt.cut:
            parts.append(CUT[self.zh])
        return self._join([p for p in parts if p])

    def _plain_note(self, pkt: Packet, before) -> str | None:
        """The most common notes — data, or an ACK, with nothing else to say — written in one
        language only; None for anything else. The same text as the general path gives."""
        if pkt.frame in self.close_steps:
            return None
        d = pkt.dir
        if before[1 - d] is S.SYN_RECEIVED and (pkt.resp_state if d == 0 else pkt.orig_state) is S.ESTABLISHED:
            return None
        me = (WHO_ZH if self.zh else WHO)[d]
        if pkt.len:
            return self._sends(me, pkt.rseq, pkt.len)
        rack = pkt.rack
        if rack is None or rack <= 1:
            return None
        fin = self.fin_rel[1 - d]
        if fin is not None and rack == (fin + 1) & 0xFFFFFFFF:
            return None
        return self._acks(me, rack)

    def _join(self, parts) -> str:
        return ("；" if self.zh else "; ").join(parts)

    def _fin_note(self, pkt, step, me, peer, sb, sa, pb, pa) -> str:
        data = self.L(f"it also carries {self.br(pkt.rseq, pkt.len)}; ",
                 f"它还携带了{self.br(pkt.rseq, pkt.len)}；") if pkt.len else ""
        fin_at = (pkt.rseq + pkt.len) & 0xFFFFFFFF
        lbl = (f"{step}: " if not self.zh else f"{step}：") if step else ""
        if sa is S.FIN_WAIT_1 and sb is not S.FIN_WAIT_1:
            return self.L(f"{lbl}{data}{me} is done sending and closes first (active close): FIN at seq {fin_at}, "
                     "which consumes one sequence number",
                     f"{lbl}{data}{me}数据发送完毕，先关闭（主动关闭）：FIN 的序列号 seq {fin_at}，FIN 消耗一个序列号")
        if sb is S.FIN_WAIT_1 or (sa is sb and sa in (S.LAST_ACK, S.CLOSING, S.TIME_WAIT)):
            return self.L(f"{data}{me} sends its FIN again (retransmission): the {peer} has not acknowledged it yet",
                     f"{data}{me}重发 FIN（重传）：{peer}还没有确认它")
        if sa is S.CLOSING and sb is S.CLOSE_WAIT:
            return self.L(f"{lbl}{data}{me} sends its FIN before the {peer}'s FIN reached it: the two FINs cross "
                     "(simultaneous close); both sides go to CLOSING and wait for the ACK of their FIN",
                     f"{lbl}{data}{me}在{peer}的 FIN 到达之前发出了自己的 FIN：两个 FIN 在途中交叉（同时关闭）；"
                     "双方都进入 CLOSING，等待对方确认自己的 FIN")
        if pb is S.FIN_WAIT_1 and pa is S.TIME_WAIT:
            return self.L(f"{lbl}{data}{me} acknowledges the {peer}'s FIN (ack {pkt.rack}) and sends its own FIN "
                     f"in the same segment (FIN+ACK combined), so the close takes three segments, not four",
                     f"{lbl}{data}{me}确认{peer}的 FIN（确认号 ack {pkt.rack}），并在同一个报文段里发出自己的 FIN"
                     "（FIN 与 ACK 合并），所以这次挥手只用了三个报文段，而不是四个")
        if sa is S.LAST_ACK:
            return self.L(f"{lbl}{data}{me} is done sending too and sends its FIN (passive close); it waits in "
                     f"LAST_ACK for the {peer}'s ACK",
                     f"{lbl}{data}{me}也发送完毕，发出自己的 FIN（被动关闭）；进入 LAST_ACK 等待{peer}的 ACK")
        if pa is S.CLOSING:
            return self.L(f"{lbl}{data}{me}'s FIN crosses the {peer}'s FIN (simultaneous close): both sides are in "
                     "CLOSING until each FIN is acknowledged",
                     f"{lbl}{data}{me}的 FIN 与{peer}的 FIN 交叉（同时关闭）：双方都处于 CLOSING，直到各自的 FIN 被确认")
        return self.L(f"{data}{me} sends FIN at seq {fin_at}", f"{data}{me}发出 FIN，序列号 seq {fin_at}")

    def _close_ack_note(self, pkt, step, me, peer, sa, pb, pa, on_data: bool = False) -> str:
        fin = self.fin_rel[1 - pkt.dir]
        eq = self.L(f" = FIN's seq {fin} + 1", f" = FIN 的序列号 {fin} + 1") if fin is not None else ""
        lbl = f"{step}: " if not self.zh else f"{step}："
        if on_data:
            lbl += self.L("its ACK field also closes: ", "它的确认号同时完成挥手：")
        if pb is S.FIN_WAIT_1 and pa is S.FIN_WAIT_2:
            return self.L(f"{lbl}{me} acknowledges the {peer}'s FIN (ack {pkt.rack}{eq}); the "
                     f"connection is half-closed: the {me} may still send, the {peer} waits in FIN_WAIT_2",
                     f"{lbl}{me}确认{peer}的 FIN（确认号 ack {pkt.rack}{eq}）；连接进入半关闭："
                     f"{me}仍可以发送数据，{peer}在 FIN_WAIT_2 中等待")
        if pa is S.CLOSED and pb is S.LAST_ACK:
            tw = self.L(f"; {me} enters TIME_WAIT and will wait 2×MSL before forgetting the connection, so that a "
                   f"lost final ACK can be repeated and old segments die out",
                   f"；{me}进入 TIME_WAIT，要等待 2×MSL 才忘掉这个连接，这样最后的 ACK 丢了还能重发，"
                   "网络中的旧报文段也会消失") if sa is S.TIME_WAIT else ""
            return self.L(f"{lbl}{me} acknowledges the {peer}'s FIN (ack {pkt.rack}); the {peer} is CLOSED{tw}",
                     f"{lbl}{me}确认{peer}的 FIN（确认号 ack {pkt.rack}）；{peer}进入 CLOSED{tw}")
        if pb is S.CLOSING and pa is S.TIME_WAIT:
            return self.L(f"{lbl}{me} acknowledges the {peer}'s FIN (ack {pkt.rack}{eq}); the {peer} moves from "
                     "CLOSING to TIME_WAIT",
                     f"{lbl}{me}确认{peer}的 FIN（确认号 ack {pkt.rack}{eq}）；{peer}从 CLOSING 进入 TIME_WAIT")
        return self.L(f"{lbl}{me} acknowledges the {peer}'s FIN (ack {pkt.rack})",
                 f"{lbl}{me}确认{peer}的 FIN（确认号 ack {pkt.rack}）")

    def _data_note(self, pkt, me, an) -> str:
        for k in RETRANSMISSION_CHECK:
            if k in an:
                return self.anomaly_message(pkt, k, an[k])
        if "zero_window_probe" in an:
            return self.anomaly_message(pkt, "zero_window_probe", None)
        if "keep_alive" in an:
            return self.anomaly_message(pkt, "keep_alive", None)
        return self._sends(me, pkt.rseq, pkt.len)

    def _ack_note(self, pkt, me, peer, an) -> str:
        for k in ("duplicate_ack", "zero_window_probe", "keep_alive", "keep_alive_ack", "zero_window_probe_ack",
                  "window_update"):
            if k in an:
                return self.anomaly_message(pkt, k, an[k])
        if pkt.rack is None:
            return self.L(f"{me} sends a segment without the ACK flag", f"{me}发出一个没有 ACK 标志的报文段")
        if "zero_window" in an:
            return self.anomaly_message(pkt, "zero_window", None)
        fin = self.fin_rel[1 - pkt.dir]
        if fin is not None and pkt.rack == (fin + 1) & 0xFFFFFFFF:
            return self.L(f"{me} acknowledges the {peer}'s FIN again (ack {pkt.rack} = FIN's seq {fin} + 1)",
                     f"{me}再次确认{peer}的 FIN（确认号 ack {pkt.rack} = FIN 的序列号 {fin} + 1）")
        if pkt.rack <= 1:
            return self.L(f"{me} acknowledges nothing new (ack {pkt.rack})", f"{me}没有确认新的数据（确认号 ack {pkt.rack}）")
        return self._acks(me, pkt.rack)

    def _sends(self, me: str, rseq: int, n: int) -> str:
        if self.zh:
            return f"{me}发送{byte_range(rseq, n, 'zh')}（{n} 字节）"
        if n == 1:
            return f"{me} sends byte {rseq} (1 bytes)"
        return f"{me} sends bytes {rseq}–{rseq + n - 1} ({n} bytes)"     # (byte_range, written in)

    def _acks(self, me: str, rack: int) -> str:
        k = rack - 1
        if self.zh:
            return (f"{me}确认收到第 {k} 字节及之前的全部数据，下一个期望的是第 {rack} 字节"
                    f"（确认号 ack {rack} = 1 + 已收到的 {k} 字节）")
        return (f"{me} acknowledges everything up to byte {k} and expects byte {rack} next "
                f"(ack {rack} = 1 + {k} bytes received)")

    # -- anomalies ----------------------------------------------------------------------
    def anomaly_message(self, pkt: Packet, kind: str, detail) -> str:
        """What a per-packet anomaly means, in words: the registry's text (anomaly_kinds) with
        this packet's numbers filled in."""
        k = KINDS.get(kind)
        if k is None or k.scope != "packet":
            return kind.replace("_", " ")
        me = self.who(pkt.dir)
        peer = self.who(1 - pkt.dir)
        lang = self.lang
        if k.in_retransmission_check:
            if pkt.len:
                rng = self.br(pkt.rseq, pkt.len)
            elif pkt.flags & SYN:
                rng = self.L("its SYN", "它的 SYN")
            elif pkt.flags & FIN:
                rng = self.L("its FIN", "它的 FIN")
            else:
                rng = self.L("nothing", "空报文段")
            first, dt = detail[:2] if isinstance(detail, tuple) else (None, None)
            if first and len(detail) > 2:      # the frame that first carried these very bytes
                since = self.L(f", first sent in frame {first}, {fmt_dt(dt)} earlier",
                          f"，第一次在第 {first} 帧发出，{fmt_dt(dt)}之前")
            else:
                since = self.L(f", {fmt_dt(dt)} after the highest segment so far (frame {first})",
                          f"，距目前最高的报文段（第 {first} 帧）{fmt_dt(dt)}") if first else ""
            why = ""
            info = pkt.info
            if isinstance(info, tuple) and info[0] == "maybe_duplicate":
                why = self.L(f"; it is identical to frame {info[1]}, and with no IP ID or timestamp that changes, "
                        "a copy made by the network cannot be told from a resend",
                        f"；它与第 {info[1]} 帧完全相同，又没有会变化的 IP ID 或时间戳，无法区分是网络复制的副本还是重发")
            elif isinstance(info, tuple) and info[0] == "resent_not_reordered":
                why = self.L("; tshark calls it out-of-order, but the capture saw these bytes before, so the sender "
                        "sent them again (a capture taken at the sender)",
                        "；tshark 称之为乱序，但抓包之前已见过这些字节，所以是发送方又发了一次（在发送端抓的包）")
            elif info == "sack_hole":
                why = self.L("; it fills the hole the receiver's SACK blocks reported", "；它填补了接收方 SACK 报告的空洞")
            cause = ""
            if kind == "retransmission":
                cause = (self.L("the first copy or its ACK was probably lost (timeout, RTO)",
                           "第一次发的包或它的 ACK 很可能丢了（超时重传，RTO）") if dt is None or dt >= 0.2 else
                         self.L("sent again quickly, before any timer could expire (a tail-loss probe or a resend "
                           "the receiver asked for)", "很快就重发了，早于任何超时（尾部丢失探测，或接收方要求的重发）"))
            return text(kind, lang, me=me, peer=peer, rng=rng, since=since, why=why, cause=cause)
        if kind == "lost_segment":
            lo, hi = detail if isinstance(detail, tuple) else (None, None)
            return text(kind, lang, me=me, peer=peer, n=(hi - lo) & 0xFFFFFFFF if lo is not None else 0)
        if kind == "duplicate_ack":
            n, of = detail if isinstance(detail, tuple) else (None, None)
            return text(kind, lang, me=me, peer=peer, n=n, of=of, rack=pkt.rack)
        if kind == "time_wait_reuse":
            old, dt = detail
            return text(kind, lang, me=me, peer=peer, old=old, dt=fmt_dt(dt))
        return text(kind, lang, kind == "zero_window_probe" and pkt.len > 0, me=me, peer=peer, detail=detail,
                    win=pkt.win)

    def flow_anomaly_message(self, a) -> str:
        """A flow-level finding (records.Anomaly) in the explainer's language."""
        if not self.zh:
            return a.message
        o, r = self.flow.ends
        k = a.kind
        ev = self.flow.evicted
        d = a.dir if a.dir is not None else 0
        if k == "syn_unanswered":
            n = f"（共发出 {o.pkts} 个 SYN）" if o.pkts > 1 else ""
            until = "直到抓包结束" if ev is None else f"直到第 {ev[0]} 帧被提前报告时"
            return text(k, "zh", frame=a.frame, by=until, count=n)
        if k in ("data_unacked", "ack_of_unsent"):
            import re
            m = re.search(r"(\d+) bytes" if k == "data_unacked" else r"byte (\d+)", a.message)
            n = m.group(1) if m else "?"
            return text(k, "zh", n=n, byte=n, who=WHO_ZH[d], other=WHO_ZH[1 - d])
        if k == "not_closed":
            return text(k, "zh", ev is not None, states=f"客户端 {o.state.value}，服务端 {r.state.value}")
        if k == "evicted":
            return text(k, "zh", frame=a.frame, open=ev[1])
        if k in KINDS:      # a text that names only the frame and the two sides
            try:
                return text(k, "zh", frame=a.frame, who=WHO_ZH[d], other=WHO_ZH[1 - d])
            except (KeyError, IndexError):
                pass
        return a.message

    # -- deeper lessons (teach.py) -------------------------------------------------------
    def teach(self, pkt: Packet, before: tuple[State, State]) -> list:
        """Teaching lines for one packet (strings, or a teach.ConfirmTable)."""
        from . import teach
        if not self._lessons_ready:
            self._scan_for_lessons()
        return teach.packet_lessons(self, pkt, before)

    def _syn_opts(self, pkt: Packet) -> str:
        if not pkt.options:
            return self.L("no options", "没有选项")
        words = []
        for k, v in parse_options(pkt.options):
            if k == "mss":
                words.append(f"MSS {v}")
            elif k == "wscale":
                words.append(self.L(f"window scale {v} (×{1 << min(v, 14)})", f"窗口扩大因子 {v}（×{1 << min(v, 14)}）"))
            elif k == "sackOK":
                words.append(self.L("SACK permitted", "允许 SACK"))
            elif k == "TS":
                words.append(self.L("timestamps", "时间戳"))
            elif k == "tfo":
                words.append(self.L("TCP Fast Open cookie" if v else "TCP Fast Open cookie request",
                                    "TCP Fast Open cookie" if v else "TCP Fast Open cookie 请求"))
            elif k == "mptcp":
                words.append("MPTCP")
        if not words:
            return ""
        return self.L("offers " + ", ".join(words), "提供选项：" + "、".join(words))

    def _syn_data(self, pkt: Packet, an) -> str:
        if "syn_with_data" in an:
            return self.L(f"the SYN carries {pkt.len} bytes of data without a Fast Open cookie (unusual)",
                          f"SYN 携带了 {pkt.len} 字节数据，却没有 Fast Open cookie（不常见）")
        return self.L(f"TCP Fast Open: the SYN already carries {pkt.len} bytes of data",
                      f"TCP Fast Open：SYN 已经携带了 {pkt.len} 字节数据")


def _is_retrans(an) -> bool:
    return any(k in an for k in RETRANSMISSIONS)


def describe_open(flow, lang: str = "en") -> str:
    v = flow.ended
    o, r = flow.ends
    zh = lang == "zh"
    if v.opened == "handshake":
        if zh:
            rtt = f"，握手往返时间 {fmt_dt(flow.irtt)}" if flow.irtt is not None else ""
            return f"通过完整的三次握手建立{rtt}"
        rtt = f", handshake RTT {fmt_dt(flow.irtt)}" if flow.irtt is not None else ""
        return f"opened with a complete three-way handshake{rtt}"
    if v.opened == "handshake_no_ack":
        return ("看到了 SYN 和 SYN-ACK，但没有看到三次握手的最后一个 ACK" if zh else
                "SYN and SYN-ACK seen, but the handshake's final ACK was never seen")
    if v.opened == "refused":
        return "连接被拒绝：SYN 得到的回答是 RST" if zh else "connection refused: the SYN was answered with RST"
    if v.opened == "syn_unanswered":
        n = o.pkts
        if zh:
            return f"SYN 无应答：直到抓包结束都没有 SYN-ACK（发出了 {n} 个 SYN）"
        return f"SYN unanswered: no SYN-ACK by the end of the capture ({n} SYN{'s' if n > 1 else ''} sent)"
    if v.opened == "partial_handshake":
        return ("抓包从 SYN-ACK 开始：客户端的 SYN 没有被抓到" if zh else
                "the capture starts at the SYN-ACK: the client's SYN was not captured")
    if zh:
        how = {"first": "它发出了抓到的第一个包", "port": "另一端使用知名端口"}
        return (f"抓包从连接中途开始（没有看到 SYN）；推测客户端是 {endpoint_str(flow.orig)}，"
                f"因为{how.get(flow.oriented_by, flow.oriented_by)}")
    how = {"first": "it sent the first captured packet", "port": "the other side uses a well-known port"}
    return (f"the capture starts mid-connection (no SYN seen); client guessed as "
            f"{endpoint_str(flow.orig)} because {how.get(flow.oriented_by, flow.oriented_by)}")


def describe_end(flow, lang: str = "en") -> str:
    v = flow.ended
    o, r = flow.ends
    zh = lang == "zh"
    name = {"orig": who(0, lang), "resp": who(1, lang), None: "?"}
    if v.ended == "graceful":
        if zh:
            return f"双方都用 FIN 正常关闭；{name[v.closer]}先关闭（主动关闭）"
        return f"closed gracefully with FIN on both sides; the {name[v.closer]} closed first (active close)"
    if v.ended in ("reset", "refused"):
        e = o if v.closer == "orig" else r
        if zh:
            return f"被{name[v.closer]}重置（第 {e.rst_frame} 帧的 RST）"
        return f"reset by the {name[v.closer]} (RST in frame {e.rst_frame})"
    if v.ended == "half_closed":
        if zh:
            return f"半关闭：{name[v.closer]}发出了 FIN，但抓包结束时连接还没有完全关闭"
        return (f"half-closed: the {name[v.closer]} sent FIN, but the connection was not fully closed "
                f"when the capture ended")
    if v.ended == "unanswered":
        return "从未建立" if zh else "never opened"
    return "抓包结束时仍然打开" if zh else "still open when the capture ended"


def opts_text(pkt: Packet) -> str:
    return format_options(pkt.options) if pkt.options else ""

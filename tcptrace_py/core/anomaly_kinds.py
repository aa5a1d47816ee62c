"""anomaly_kinds: every anomaly id, declared once, with every fact the program knows about it.

To add an anomaly (three files): (1) declare an `AnomalyKind` in `_ALL` below — id, severity,
label, README rule, English and Chinese text (fields {me}, {peer}, {detail}, {detail[0]}, ...),
lesson if any; (2) emit it in `detectors.py`: `pkt.add_anomaly(id, detail)` for a packet,
`_found(id, ...)` in `finish_flow` for a connection (Chinese fields other than {frame}, {who},
{other}: `Explainer.flow_anomaly_message`); (3) test it on a built capture (tests/trace.py).
Then regenerate the README's table and severity list: `write_readme("README.md")` (tests/test_registry.py
fails until they match). The id is stable API and is also the name JSON output uses.

Texts are `str.format` templates, (English, Chinese). Per-packet anomalies (`scope="packet"`)
are formatted by `Explainer.anomaly_message` with {me} and {peer} (the sender and the other
side, in the reader's language) and the fields named in the kind's comment; flow-level ones
(`scope="flow"`) by `detectors.finish_flow` (English, the message JSON carries) and
`Explainer.flow_anomaly_message` (Chinese). `text_alt` is a second wording for one case of the
kind (said where it is declared).
"""
from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "warning", "error")
TONES = ("quiet", "plain", "concern", "alarm")


@dataclass(frozen=True, slots=True)
class AnomalyKind:
    """One anomaly kind.

    * severity: for ``--fail-on info|warning|error`` and the README's severity list.
    * label: the short mark drawn on an arrow (ladder, Mermaid, SVG), (en, zh); `plural` the
      English mark for several, where the fold lines count them.
    * rule: the README table's description of when it is reported.
    * text / text_alt: the one-line message, (en, zh) templates.
    * lesson: what `--explain` adds the first time the kind appears, (en, zh), {me}/{peer}.
    * tone: how loudly renderers show it — "quiet" (never a reason to keep a packet visible in
      a fold), "plain", "concern" (red in the pictures), "alarm" (red in the pictures and the
      rich table).
    * resend: "retransmission" (the sender sent bytes again), "reorder" (out of order: tshark
      decides it in the same check as retransmissions), "probe" (keep-alive, zero-window probe:
      old bytes sent again on purpose), or None.
    * note_tells: the packet's note already says it all (the text listing prints no "!" line).
    """

    id: str
    severity: str
    scope: str                       # "packet" or "flow"
    label: tuple[str, str]
    rule: str
    text: tuple[str, str]
    text_alt: tuple[str, str] | None = None
    lesson: tuple[str, str] | None = None
    plural: str | None = None
    tone: str = "plain"
    resend: str | None = None
    note_tells: bool = False

    @property
    def is_retransmission(self) -> bool:
        """Counted as a retransmission (--max-retransmission-rate, a SYN "sent again")."""
        return self.resend == "retransmission"

    @property
    def in_retransmission_check(self) -> bool:
        """One of the labels of tshark's retransmission check (retransmissions and out-of-order),
        the ones `detectors.refine` relabels and names the first copy for."""
        return self.resend in ("retransmission", "reorder")

    @property
    def drawn_as_resend(self) -> bool:
        """Old bytes sent again (retransmissions and probes): drawn dashed, taught as no new data."""
        return self.resend in ("retransmission", "probe")

    @property
    def notable(self) -> bool:
        """Keeps its packet visible in a folded data run."""
        return self.tone != "quiet"

    @property
    def red_in_pictures(self) -> bool:
        return self.tone in ("concern", "alarm")

    @property
    def red_in_table(self) -> bool:
        return self.tone == "alarm"


K = AnomalyKind

# Shared texts (one lesson serves two kinds).
_REUSE_LESSON = (
    "A new connection on the same addresses and ports: the host accepts it when the new ISN or "
    "timestamps are higher than the old connection's. Frequent reuse suggests a client with a "
    "fixed source port, or a shortage of free ports.",
    "相同地址和端口上的新连接：当新的 ISN 或时间戳比旧连接大时，主机会接受它。"
    "频繁复用说明客户端使用了固定的源端口，或者可用端口不足。")
_AFTER_END_LESSON = (
    "A segment after the end of its sender's stream: a late retransmission, or a broken stack.",
    "在发送方数据流结束之后出现的报文段：迟到的重传，或者协议栈有问题。")
_UNACKED_LESSON = (
    "Data or a FIN never acknowledged although the receiver was seen later: the ACK may "
    "have been lost, or the capture missed it.",
    "数据或 FIN 一直没有被确认，尽管之后还看到了接收方：ACK 可能丢了，或者抓包漏掉了。")

# In README order. Fields of the per-packet texts beyond {me} and {peer} are in the comments.
_ALL = [
    # {rng} the bytes, {since} when first sent, {cause} why probably, {why} what the capture shows
    K("retransmission", "warning", "packet", ("retransmission", "重传"),
      "data (or SYN/FIN) that does not advance the sender's highest sequence number, and is none of the kinds below",
      ("retransmission: {me} sends {rng} again{since}; {cause}{why}", "重传：{me}再次发送{rng}{since}；{cause}{why}"),
      lesson=("Check next: the time since the first copy is the retransmission timeout (RTO). Repeated "
              "retransmissions mean loss on the path: look for drops (`ip -s link`, `nstat -az | grep -i "
              "retrans`), a congested link, or a filter silently dropping packets. If the capture was taken "
              "on the sender, the original may have been lost after the capture point.",
              "下一步检查：与第一份拷贝相隔的时间就是重传超时（RTO）。反复重传说明路径上有丢包：查看丢包统计"
              "（`ip -s link`、`nstat -az | grep -i retrans`）、是否有拥塞的链路或静默丢包的过滤规则。"
              "如果是在发送端抓的包，原始报文可能是在抓包点之后丢的。"),
      plural="retransmissions", tone="alarm", resend="retransmission"),
    # {rng}, {since}, {why}
    K("fast_retransmission", "warning", "packet", ("fast retransmission", "快速重传"),
      "a retransmission of exactly what the peer's ≥ 2 duplicate ACKs ask for, within 20 ms of the last of them",
      ("fast retransmission: {me} resends {rng} right after the {peer}'s duplicate ACKs asked for it{since}{why}",
       "快速重传：{peer}的重复 ACK 一再要求这段数据，{me}随即重发{rng}{since}{why}"),
      lesson=("What happened: three or more duplicate ACKs told the sender that a segment was lost, so it "
              "resent it at once instead of waiting for a timeout (fast retransmit). An occasional fast "
              "retransmit is normal under congestion; many of them mean a lossy link.",
              "发生了什么：三个或更多重复 ACK 告诉发送方有一个报文段丢了，于是它不等超时就立即重发（快速重传）。"
              "拥塞时偶尔的快速重传是正常的；频繁出现说明链路丢包严重。"),
      plural="fast retransmissions", tone="alarm", resend="retransmission"),
    # {rng}
    K("spurious_retransmission", "info", "packet", ("spurious retransmission", "伪重传"),
      "data the peer had already acknowledged, sent again",
      ("spurious retransmission: {me} resends {rng}, which the {peer} had already acknowledged (the ACK was late or lost)",
       "伪重传：{me}重发{rng}，而{peer}早已确认过（ACK 来晚了或丢了）"),
      lesson=("What happened: the first copy had arrived; the sender's timer fired too early or the ACK "
              "was lost. Check for loss on the reverse path and for sudden RTT spikes.",
              "发生了什么：第一份拷贝其实已经到达；发送方的定时器触发得太早，或者 ACK 丢了。"
              "下一步检查反方向是否丢包、RTT 是否突然变大。"),
      tone="concern", resend="retransmission"),
    # {rng}, {since}
    K("out_of_order", "warning", "packet", ("out of order", "乱序"),
      "data below the highest sequence number, arriving within the connection's first RTT (3 ms when unknown) of it",
      ("out of order: {rng} arrive after higher sequence numbers{since}; reordered in the network, or a quick retransmission",
       "乱序：{rng}在更高的序列号之后才到{since}；网络中发生了重排，或是一次很快的重传"),
      lesson=("What happened: segments took different paths or were reordered (link bonding, ECMP, "
              "a quick retransmission). TCP puts them back in order, but heavy reordering triggers "
              "needless fast retransmits.",
              "发生了什么：报文段走了不同的路径或被重排（链路聚合、ECMP、很快的重传）。"
              "TCP 会重新排好顺序，但严重的乱序会引起不必要的快速重传。"),
      tone="alarm", resend="reorder"),
    # {n} bytes missing
    K("lost_segment", "warning", "packet", ("previous segment lost", "前一段丢失"),
      "a segment starts beyond the highest sequence number seen: the bytes before it were not captured",
      ("previous segment not captured: {n} bytes before this one are missing (lost in the network, or dropped by the capture)",
       "前一个报文段没有抓到：这个报文段之前缺了 {n} 字节（在网络中丢失，或被抓包丢掉）"),
      lesson=("The gap is either a real loss (a retransmission should follow) or packets the capture "
              "missed: check whether tcpdump reported \"packets dropped by kernel\", and whether the capture "
              "saw both directions on the same link.",
              "这个缺口要么是真的丢包（之后应该有重传），要么是抓包漏掉了：检查 tcpdump 是否报告了"
              "“packets dropped by kernel”，以及抓包是否在同一条链路上看到了两个方向。"),
      tone="alarm"),
    K("ack_lost_segment", "info", "packet", ("ACKs unseen data", "确认了未抓到的数据"),
      "an ACK covers bytes the capture never saw",
      ("{me} acknowledges data the capture never saw (captured only in part, or asymmetric routing)",
       "{me}确认了抓包中从未出现的数据（只抓到一部分，或来回路径不同）"),
      lesson=("The receiver saw data the capture did not: the capture dropped it, or the traffic took "
              "another path (asymmetric routing, capture on only one of several links).",
              "接收方收到了抓包没有看到的数据：抓包丢掉了它，或者流量走了另一条路径（来回路径不同，只在多条链路中的一条上抓包）。"),
      tone="concern"),
    # {n} its number, {of} the frame it repeats, {rack} the ACK number
    K("duplicate_ack", "info", "packet", ("dup ACK", "重复 ACK"),
      "a pure ACK repeating the previous ACK, window and sequence number (numbered #1, #2, …, with the frame it repeats)",
      ("duplicate ACK #{n} (of frame {of}): {me} still expects byte {rack}, so a segment is missing or out of order",
       "重复 ACK #{n}（重复第 {of} 帧）：{me}仍在等第 {rack} 字节，说明有报文段丢失或乱序"),
      lesson=("Each duplicate ACK says \"I am still missing byte N\" while later segments keep arriving; "
              "with SACK it also lists what did arrive. Three of them make the sender retransmit at once "
              "(fast retransmit). Check for loss between the two hosts.",
              "每个重复 ACK 都在说“我还缺第 N 字节”，而后面的报文段还在陆续到达；有 SACK 时它还会列出已经收到的部分。"
              "三个重复 ACK 会让发送方立即重传（快速重传）。下一步检查两台主机之间是否丢包。"),
      plural="dup ACKs", tone="concern"),
    K("zero_window", "warning", "packet", ("zero window", "零窗口"),
      "the sender advertises a receive window of 0",
      ("{me}'s receive window is 0: its buffer is full, so the {peer} must stop sending",
       "{me}的接收窗口为 0：接收缓冲区满了，{peer}必须暂停发送"),
      lesson=("The {me}'s application is not reading fast enough: its socket receive buffer is full. "
              "Check that application (CPU, blocking calls, slow disk) and its buffer size; the {peer} "
              "will probe until the window opens again.",
              "{me}的应用程序读得不够快：套接字接收缓冲区满了。下一步检查这个应用程序（CPU、阻塞调用、慢磁盘）"
              "和它的缓冲区大小；{peer}会不断探测，直到窗口重新打开。"),
      plural="zero windows", tone="alarm"),
    # text_alt: the probe carries its one byte
    K("zero_window_probe", "info", "packet", ("zero-window probe", "零窗口探测"),
      "one byte at the next sequence number while the peer's window is 0",
      ("zero-window probe: {me} asks whether the {peer}'s window has opened",
       "零窗口探测：{me}询问{peer}的窗口是否已经打开"),
      text_alt=("zero-window probe: {me} sends one byte to ask whether the {peer}'s window has opened",
                "零窗口探测：{me}发送一个字节，询问{peer}的窗口是否已经打开"),
      lesson=("The sender asks from time to time whether the window has reopened; a long series of probes "
              "means the receiver is stuck.",
              "发送方不时询问窗口是否重新打开；长时间连续探测说明接收方卡住了。"),
      plural="zero-window probes", resend="probe"),
    K("zero_window_probe_ack", "info", "packet", ("probe answer", "探测应答"),
      "the answer to a zero-window probe, window still 0",
      ("{me} answers the zero-window probe: its window is still 0", "{me}回应零窗口探测：窗口仍为 0"),
      tone="quiet"),
    # {win} the new window
    K("window_update", "info", "packet", ("window update", "窗口更新"),
      "a pure ACK that only changes the window",
      ("window update: {me}'s receive window changes to {win}, nothing else new",
       "窗口更新：{me}的接收窗口变为 {win}，没有其他新内容"),
      lesson=("The receiver has read data from its buffer and announces more room; after a zero window this "
              "restarts the transfer.",
              "接收方从缓冲区读走了数据，通告有了更多空间；在零窗口之后，这会让传输重新开始。"),
      plural="window updates", tone="quiet"),
    K("window_full", "info", "packet", ("window full", "窗口已满"),
      "a segment that fills the peer's advertised window exactly",
      ("this segment fills the {peer}'s receive window completely", "这个报文段正好填满{peer}的接收窗口"),
      lesson=("The sender filled the receiver's whole window and must wait for an ACK: throughput is "
              "limited by the receiver's window (check window scaling and buffer sizes).",
              "发送方填满了接收方的整个窗口，必须等待 ACK：吞吐量受限于接收窗口（检查窗口扩大选项和缓冲区大小）。"),
      tone="quiet"),
    K("keep_alive", "info", "packet", ("keep-alive", "保活"),
      "0 or 1 byte one below the next sequence number",
      ("keep-alive: {me} probes whether the {peer} is still there (one byte before what it has acknowledged)",
       "保活（keep-alive）：{me}探测{peer}是否还在（序列号比已确认的位置少一）"),
      lesson=("A keep-alive checks that an idle connection is still alive (here it may also stand for a "
              "zero-window probe). Idle connections cut by a firewall or NAT show up as keep-alives that "
              "get no answer.",
              "保活探测检查空闲连接是否还活着（这里也可能是零窗口探测）。被防火墙或 NAT 切断的空闲连接，"
              "表现为得不到回应的保活探测。"),
      plural="keep-alives", resend="probe"),
    K("keep_alive_ack", "info", "packet", ("keep-alive answer", "保活应答"),
      "the answer to a keep-alive",
      ("{me} answers the keep-alive", "{me}回应保活探测"), tone="quiet"),
    # {detail} the earlier connection's id
    K("reused_ports", "info", "packet", ("ports reused", "端口复用"),
      "a SYN with a new ISN on a 4-tuple already used (a new connection), or a SYN-ACK with a new ISN",
      ("the same addresses and ports were used by connection {detail} before: a new connection starts",
       "相同的地址和端口之前被连接 {detail} 使用过：这是一个新连接"),
      lesson=_REUSE_LESSON),
    # {detail} the sender's state before; lessons: teach._rst_lessons
    K("rst", "error", "packet", ("RST", "RST 重置"),
      "a reset; the message says who sent it and in which state",
      ("{me} reset the connection (in state {detail})", "{me}重置了连接（当时处于 {detail}）"),
      tone="alarm", note_tells=True),
    K("connection_refused", "error", "packet", ("refused", "拒绝连接"),
      "a RST answering a SYN (nothing listening)",
      ("{me} refused the connection (RST answering a SYN)", "{me}拒绝了连接（用 RST 回答 SYN）"),
      tone="alarm", note_tells=True),
    # {frame} the SYN, {by} until when, {count} how many SYNs
    K("syn_unanswered", "error", "flow", ("SYN unanswered", "SYN 无应答"),
      "the client's SYN got no SYN-ACK by the end of the capture",
      ("the client's SYN (frame {frame}) got no SYN-ACK {by}{count}",
       "客户端的 SYN（第 {frame} 帧）{by}都没有收到 SYN-ACK{count}"),
      lesson=("What probably happened: the server is down or unreachable, or a firewall drops SYNs "
              "silently (no RST comes back). Check: `nc -vz HOST PORT` from the client, a capture on the "
              "server side, firewall DROP rules.",
              "可能的原因：服务端宕机或不可达，或者防火墙静默丢弃 SYN（没有 RST 返回）。"
              "下一步检查：在客户端执行 `nc -vz 主机 端口`，在服务端抓包，检查防火墙 DROP 规则。"),
      tone="alarm"),
    # {frame} the SYN-ACK
    K("synack_unanswered", "error", "flow", ("SYN-ACK unanswered", "SYN-ACK 无应答"),
      "the handshake's final ACK never came",
      ("the server's SYN-ACK (frame {frame}) was never acknowledged: the handshake's final ACK never came",
       "服务端的 SYN-ACK（第 {frame} 帧）一直没有被确认：三次握手的最后一个 ACK 没有出现"),
      lesson=("What probably happened: the SYN-ACK or the final ACK was lost, the client gave up, "
              "or the SYNs were forged (SYN flood). Check for loss on the way back to the client.",
              "可能的原因：SYN-ACK 或最后的 ACK 丢了，客户端放弃了，或者 SYN 是伪造的（SYN 洪泛）。"
              "下一步检查回到客户端方向上的丢包。"),
      tone="alarm"),
    # {n} bytes, {who} the sender, {other} the receiver
    K("data_unacked", "warning", "flow", ("data never ACKed", "数据未被确认"),
      "bytes never acknowledged, although the receiver was seen after they were sent",
      ("{n} bytes the {who} sent were never acknowledged, though the {other} was seen after they were sent",
       "{who}发送的 {n} 字节一直没有被确认，尽管之后还看到了{other}的报文"),
      lesson=_UNACKED_LESSON),
    # {frame} the FIN, {who}, {other}
    K("fin_unacked", "warning", "flow", ("FIN never ACKed", "FIN 未被确认"),
      "a FIN never acknowledged, although the peer was seen afterwards",
      ("the {who}'s FIN (frame {frame}) was never acknowledged, though the {other} was seen afterwards",
       "{who}的 FIN（第 {frame} 帧）一直没有被确认"),
      lesson=_UNACKED_LESSON),
    # {detail} the FIN's frame
    K("data_after_fin", "warning", "packet", ("data after FIN", "FIN 之后的数据"),
      "a sender's data beyond its own FIN",
      ("{me} sends data beyond its own FIN (frame {detail})", "{me}在自己的 FIN（第 {detail} 帧）之后还发送数据"),
      lesson=_AFTER_END_LESSON, tone="alarm"),
    # {detail} the RST's frame
    K("data_after_rst", "warning", "packet", ("data after RST", "RST 之后的数据"),
      "data sent after the connection was reset",
      ("{me} sends data after the connection was reset (RST in frame {detail})",
       "连接被重置（第 {detail} 帧的 RST）之后，{me}还在发送数据"),
      lesson=_AFTER_END_LESSON, tone="alarm"),
    # {detail} the payload length
    K("syn_with_data", "info", "packet", ("SYN with data", "SYN 带数据"),
      "a SYN carrying data without a TCP Fast Open cookie",
      ("the SYN carries {detail} bytes of data without a TCP Fast Open cookie",
       "SYN 携带了 {detail} 字节数据，却没有 TCP Fast Open cookie"),),
    # {detail} which combination
    K("invalid_flags", "error", "packet", ("invalid flags", "非法标志"),
      "SYN+FIN, SYN+RST, no flags at all, or FIN+PSH+URG (Xmas)",
      ("invalid flag combination: {detail}", "非法的标志位组合：{detail}"), tone="alarm"),
    # {who} the acknowledging side, {other} the peer, {byte} the highest byte acknowledged
    K("ack_of_unsent", "warning", "flow", ("ACKs unsent data", "确认了未发送的数据"),
      "an ACK of bytes beyond anything the peer was seen to send, not explained by a gap in the capture",
      ("the {who} acknowledges byte {byte} and before, beyond anything the {other} was seen to send "
       "(not explained by a capture gap)",
       "{who}确认了第 {byte} 字节及之前的数据，超出了抓包中{other}发送过的全部内容（不能用抓包缺口解释）")),
    # {detail}: (the segment's frame, the bytes of it acknowledged, its length)
    K("partial_ack", "info", "packet", ("partial ACK", "部分确认"),
      "a new ACK that ends inside a segment the peer sent as one, and at the edge of no other (the segment "
      "was taken in pieces: TSO/GSO at a capture on the sender, or a middlebox that resegments)",
      ("partial ACK: {me} acknowledges {detail[1]} of the {detail[2]} bytes the {peer} sent in frame {detail[0]}: "
       "the segment reached it in smaller pieces (TSO/GSO at a capture on the sender, or a middlebox that resegments)",
       "部分确认：{peer}在第 {detail[0]} 帧发出的 {detail[2]} 字节，{me}只确认了其中 {detail[1]} 字节："
       "这个报文段是分成更小的几段到达的（在发送端抓包时的 TSO/GSO，或者中间设备重新分段）"),
      tone="quiet"),     # a capture taken above TSO has one per ACK: no reason to unfold them
    # {detail} the frame it copies
    K("duplicate", "info", "packet", ("network duplicate", "网络复制"),
      "the very same segment again, copied by the network, not resent by the host "
      "(see [Where we differ from tshark](#where-we-differ-from-tshark-on-purpose))",
      ("a second copy of frame {detail} (same IP ID and bytes): duplicated in the network, not resent by {me}",
       "第 {detail} 帧的第二份拷贝（IP ID 和内容相同）：是网络复制的，不是{me}重发的")),
    # {states} both sides' states; text_alt: the connection was reported early (--max-open)
    K("not_closed", "warning", "flow", ("not closed", "未关闭"),
      "the capture ended with the connection still open",
      ("the capture ended with the connection still open ({states})", "抓包结束时连接仍然打开（{states}）"),
      text_alt=("the connection was still open when it was reported early ({states})", "被提前报告时连接仍然打开（{states}）")),
    # {frame} when, {open} how many connections were open
    K("evicted", "info", "flow", ("reported early", "提前报告"),
      "reported before it ended: more connections were open than `--max-open` allows, and this one was "
      "among those that had to go first (see `--max-open`)",
      ("reported early, at frame {frame}: {open} connections were open, more than --max-open allows, and it "
       "was among those to go first (see --max-open); a later packet of its 4-tuple starts a new record",
       "在第 {frame} 帧被提前报告：当时有 {open} 个连接处于打开状态，超过了 --max-open 的上限，而这个连接属于"
       "最先被报告的那一批（见 --max-open）；这个四元组之后的报文会开始一条新的记录")),
    # {old} the earlier connection, {dt} how long after its close
    K("time_wait_reuse", "info", "packet", ("reuse within 2×MSL", "2×MSL 内复用"),
      "a new SYN on the same 4-tuple within 2×MSL (240 s) of the previous connection's close",
      ("a new SYN on the same addresses and ports only {dt} after connection {old} closed "
       "(within 2×MSL, while the old one may still be in TIME_WAIT)",
       "连接 {old} 关闭后仅 {dt}，相同地址和端口上又来了新的 SYN（在 2×MSL 之内，旧连接可能还在 TIME_WAIT）"),
      lesson=_REUSE_LESSON),
    # {detail} what the state machine did not expect
    K("unexpected_segment", "warning", "packet", ("unexpected", "意外的报文段"),
      "a segment the state machine does not expect in the endpoint's state (the message says which)",
      ("unexpected segment for the state machine: {detail}", "状态机没有预料到的报文段：{detail}"),
      lesson=("The state machine did not expect this segment here: packets may be missing from the "
              "capture, or an endpoint misbehaves.",
              "状态机没有预料到这里会出现这个报文段：可能抓包缺了一些包，或者某一端的行为不正常。"),
      tone="alarm"),
]

KINDS: dict[str, AnomalyKind] = {k.id: k for k in _ALL}
del _ALL

# Views the hot paths read (sets and tuples, in registry order).
SEVERITY: dict[str, str] = {k.id: k.severity for k in KINDS.values()}
RETRANSMISSIONS = tuple(k.id for k in KINDS.values() if k.is_retransmission)
RETRANSMISSION_CHECK = tuple(k.id for k in KINDS.values() if k.in_retransmission_check)
RESENDS = frozenset(k.id for k in KINDS.values() if k.drawn_as_resend)
QUIET = frozenset(k.id for k in KINDS.values() if not k.notable)
RED_IN_PICTURES = frozenset(k.id for k in KINDS.values() if k.red_in_pictures)
RED_IN_TABLE = frozenset(k.id for k in KINDS.values() if k.red_in_table)
NOTE_TELLS = frozenset(k.id for k in KINDS.values() if k.note_tells)
PLURAL: dict[str, str] = {k.label[0]: k.plural for k in KINDS.values() if k.plural}


def text(kind: str, lang: str, alt: bool = False, **fields) -> str:
    """The kind's message in `lang` ("en" or "zh"), its template filled with `fields`."""
    k = KINDS[kind]
    pair = k.text_alt if alt and k.text_alt is not None else k.text
    return pair[lang == "zh"].format(**fields)


# --- the README's anomaly section, generated from the registry ----------------------------

TABLE_START = "| id | rule |\n|---|---|\n"
SEVERITY_START = "Anomaly severities: "


def readme_table() -> str:
    """The README's anomaly table ("| id | rule |"), one row per kind in registry order."""
    return TABLE_START + "".join(f"| `{k.id}` | {k.rule} |\n" for k in KINDS.values())


def severity_paragraph() -> str:
    """The README's list of severities: the errors and the infos by name, the warnings as the rest."""
    import textwrap

    def names(sev: str) -> str:
        return ", ".join(f"`{k.id}`" for k in KINDS.values() if k.severity == sev)
    text = f"{SEVERITY_START}`error` — {names('error')}; `info` — {names('info')}; `warning` — all others."
    return textwrap.fill(text, 100, break_on_hyphens=False, break_long_words=False) + "\n"


def write_readme(path: str) -> bool:
    """Rewrite the table and the severity list in the README at `path`; True if it changed."""
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    new = doc
    for start, body in ((TABLE_START, readme_table()), (SEVERITY_START, severity_paragraph())):
        a = new.index(start)
        b = new.index("\n\n", a) + 1
        new = new[:a] + body + new[b:]
    if new != doc:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != doc


"""--summary: one row per connection, as a rich table on a terminal or plain columns when piped.
With ``ascii`` (``--ascii``) the rows are ASCII (``rst x2``, ``36us``) and so is the table's box."""
from __future__ import annotations

from ..prose.explain import endpoint_str, fmt_dt
from .timeline import asciify


def fmt_ms(sec) -> str:
    return "-" if sec is None else fmt_dt(sec).replace(" ", "")


def row(flow) -> list[str]:
    v = flow.ended
    o, r = flow.ends
    an = ",".join(f"{k}×{n}" for k, n in sorted(v.anomaly_counts.items())) or "-"
    return [str(flow.id), endpoint_str(flow.orig), endpoint_str(flow.resp), f"{v.duration:.3f}s",
            f"{v.orig_pkts}/{v.resp_pkts}", f"{v.orig_bytes}/{v.resp_bytes}", fmt_ms(flow.irtt),
            v.opened, v.ended + (f"({v.closer})" if v.closer else ""), f"{o.state.value}/{r.state.value}",
            v.conn_state, an]


HEAD = ["id", "client", "server", "duration", "pkts c/s", "bytes c/s", "hs-rtt", "opened", "ended",
        "final c/s", "zeek", "anomalies"]
WIDTHS = [4, 21, 21, 9, 11, 15, 8, 17, 15, 23, 5, 0]   # plain columns: fixed, so rows can stream


def line(cells) -> str:
    return " ".join(c.ljust(w) for c, w in zip(cells, WIDTHS)).rstrip() + "\n"


class SummaryRenderer:
    def __init__(self, out, rich: bool = False, ascii: bool = False):
        self.out = out
        self.rows: list[list[str]] = []
        self.rich = rich
        self.ascii = ascii
        self.widths = [len(h) for h in HEAD]
        if not rich:
            self._line(HEAD)

    def _line(self, cells) -> None:
        self.out.write(self._a(line(cells)))

    def _a(self, text: str) -> str:
        return asciify(text) if self.ascii else text

    def flow(self, flow) -> None:
        cells = row(flow)
        if self.rich:
            self.rows.append(cells)
        else:
            self._line(cells)

    def fragment(self, flow) -> str:
        """One plain row (no state: a --jobs worker calls it)."""
        return self._a(line(row(flow)))

    def put(self, text: str) -> None:
        self.out.write(text)

    def close(self, stats) -> None:
        from .text import capture_line, skipped_lines
        a = self._a
        if self.rich:
            from rich import box
            from rich.table import Table
            from rich.text import Text

            from .term import QuietConsole
            t = Table(header_style="bold", box=box.ASCII if self.ascii else box.HEAVY_HEAD)
            for h in HEAD:
                t.add_column(h, overflow="fold")
            for cells in self.rows:
                t.add_row(*[Text(a(c), style="red" if i == 11 and c != "-" else "") for i, c in enumerate(cells)])
            c = QuietConsole(highlight=False)
            c.print(t)
            c.print(Text(a(capture_line(stats)), style="dim"))
            return
        self.out.write(a(capture_line(stats)) + "\n")
        for line in skipped_lines(stats):
            self.out.write(a(line) + "\n")

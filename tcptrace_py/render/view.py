"""What the human-facing renderers (text, rich, ladder, Mermaid, SVG) share: the view options,
which connections are shown in full (`--limit`), and how a long timeline folds (`--max-packets`)."""
from __future__ import annotations


class View:
    def __init__(self, limit: int | None = 20, max_packets: int | None = 60, notes: bool = True,
                 lang: str = "en", explain: bool = False, ascii: bool = False, unfold: bool = False,
                 **_ignored):
        self.limit = limit
        self.max_packets = max_packets
        self.notes = notes
        self.lang = lang
        self.explain = explain
        self.ascii = ascii
        self.unfold = unfold
        self.shown = 0
        self.hidden = 0

    def take(self) -> bool:
        """Count a connection: True when it is shown in full, False when past the limit."""
        if self.limit is not None and self.shown >= self.limit:
            self.hidden += 1
            return False
        self.shown += 1
        return True

    def window(self, n: int) -> tuple[int | None, int | None]:
        """(first, last): show the first and the last packets of a long timeline, fold the middle."""
        mp = self.max_packets
        if mp and n > mp:
            return mp * 2 // 3, mp - mp * 2 // 3
        return None, None

"""Render the seed capture's terminal ladder with rich and save it as docs/ladder-seed.svg.

    python docs/make_screenshot.py

The picture in the README ("Ladder diagrams and explanations") is exactly what
`tcpflow-explain --ladder sample_pcaps/seed-8090.pcap` draws on a 100-column
colour terminal: rich records the console (`Console(record=True)`) and writes the
recording as SVG (`save_svg`). Run it again after a change to the ladder or the
notes, and look at the image before committing it.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from tcptrace_py.core.capture import CaptureReader  # noqa: E402
from tcptrace_py.core.pipeline import Analyzer  # noqa: E402
from tcptrace_py.render.ladder import LadderRenderer  # noqa: E402

CAPTURE = "sample_pcaps/seed-8090.pcap"
OUT = ROOT / "docs" / "ladder-seed.svg"
WIDTH = 100


def main(out: Path | None = None) -> None:
    out = out or OUT
    os.chdir(ROOT)
    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", highlight=False, emoji=False)
    renderer = LadderRenderer(io.StringIO(), rich=True, console=console)
    az = Analyzer(keep_packets=True)
    for flow in az.run(CaptureReader(CAPTURE)):
        renderer.flow(flow)
    renderer.close(az.stats)
    console.save_svg(str(out), title=f"tcpflow-explain --ladder {CAPTURE}")
    print("wrote", out)


if __name__ == "__main__":
    main()

"""--junit FILE: a JUnit XML report, one test case per connection, failures carrying rule and frame.

Written as the common JUnit XML format that Jenkins, GitLab and GitHub test reporters read:
<testsuite name tests failures errors skipped time timestamp hostname><properties/>
<testcase name classname time><failure message type>details</failure></testcase>
<system-out/><system-err/></testsuite>.

The report is UTF-8 XML whatever it names: a capture path with bytes that are not UTF-8 has
them written \\xNN, and characters XML 1.0 cannot hold (control characters) are written the
same way (`_xml`).
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import socket
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

from ..policy import endpoints
from .sink import safe_text

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(s: str) -> str:
    """Text XML 1.0 can hold, in UTF-8."""
    s = safe_text(s)
    return _NOT_XML.sub(lambda m: "\\x%02x" % ord(m.group()) if m.group() < "\x80" else
                        "\\u%04x" % ord(m.group()), s)


def escape(s: str) -> str:
    return _escape(_xml(s))


def quoteattr(s: str) -> str:
    return _quoteattr(_xml(s))


class JunitReport:
    def __init__(self, capture: str):
        self.capture = capture
        self.cases: list[str] = []
        self.failures = 0
        self.total_time = 0.0

    def flow(self, flow, violations) -> None:
        self.add(self.case(flow, violations))

    def case(self, flow, violations) -> tuple[str, bool, float]:
        """One connection's test case: (XML, failed, duration). No state: a --jobs worker calls it."""
        v = flow.ended
        name = f"connection {flow.id}: {endpoints(flow)}"
        cls = "tcpflow-explain." + os.path.basename(self.capture).replace(" ", "_")
        dur = max(0.0, v.duration)
        head = f'  <testcase name={quoteattr(name)} classname={quoteattr(cls)} time="{dur:.6f}"'
        if not violations:
            return head + "/>", False, dur
        first = violations[0]
        msg = f"{first.rule}" + (f" at frame {first.frame}" if first.frame else "") + f": {first.message}"
        body = "\n".join(x.line() for x in violations)
        return (f"{head}>\n    <failure message={quoteattr(msg)} type={quoteattr(first.rule)}>"
                f"{escape(body)}</failure>\n  </testcase>", True, dur)

    def add(self, case: tuple[str, bool, float]) -> None:
        xml, failed, dur = case
        self.total_time += dur
        self.failures += failed
        self.cases.append(xml)

    def write(self, path: str) -> None:
        ts = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        host = socket.gethostname() or "localhost"
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               f'<testsuite name={quoteattr("tcpflow-explain " + self.capture)} tests="{len(self.cases)}" '
               f'failures="{self.failures}" errors="0" skipped="0" time="{self.total_time:.6f}" '
               f'timestamp="{ts}" hostname={quoteattr(host)}>\n  <properties/>\n'
               + "".join(c + "\n" for c in self.cases)
               + "  <system-out/>\n  <system-err/>\n</testsuite>\n")
        with open(path, "w", encoding="utf-8") as f:
            f.write(xml)

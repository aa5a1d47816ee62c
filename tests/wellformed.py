"""Every output mode's result is well formed: one parser per mode, used by the fuzz, bad-input and golden tests.

`assert_well_formed(mode, output)` raises AssertionError naming the mode and the first fault:

* ``json``: one document that ``json.loads`` reads, with the contract's top-level keys;
* ``jsonl``: every line a JSON object with a ``type``; the ``capture`` and ``totals`` lines present
  (the run finished) unless ``complete=False``;
* ``svg``, ``junit``: XML that parses (``junit`` also validates against ``tests/data/junit.xsd`` when
  lxml is installed);
* ``mermaid``: the documented grammar (``render.mermaid.check``) on every diagram;
* ``text``, ``summary``, ``ladder``, ``rich`` and any other plain-text mode: text (no NUL, no Python
  traceback), every line ended.

An empty output is well formed only where the mode allows it (text modes of a capture with no TCP).
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from tcptrace_py.render import mermaid

XSD = Path(__file__).resolve().parent / "data" / "junit.xsd"
JSON_KEYS = ("schema", "flows", "capture", "totals")
TEXT_MODES = ("text", "summary", "ladder", "rich", "explain", "zh", "ascii")


def _text(output) -> str:
    if isinstance(output, (bytes, bytearray)):
        try:
            return bytes(output).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AssertionError(f"output is not UTF-8: {exc}") from None
    return output


def _json(text: str, mode: str) -> None:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise AssertionError(f"{mode}: not JSON ({exc}): {text[max(0, exc.pos - 40):exc.pos + 40]!r}"
                             if hasattr(exc, "pos") else f"{mode}: not JSON ({exc})") from None
    assert isinstance(doc, dict), f"{mode}: the document is not an object"
    for k in JSON_KEYS:
        assert k in doc, f"{mode}: the document has no {k!r}"
    assert isinstance(doc["flows"], list), f"{mode}: flows is not a list"
    for k in ("flows", "packets"):
        assert isinstance(doc["totals"].get(k), int), f"{mode}: totals.{k} is missing"


def _jsonl(text: str, mode: str, complete: bool) -> None:
    assert text == "" or text.endswith("\n"), f"{mode}: the last line is not ended"
    types = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise AssertionError(f"{mode}: line {n} is not JSON ({exc}): {line[:120]!r}") from None
        assert isinstance(rec, dict) and isinstance(rec.get("type"), str), f"{mode}: line {n} has no type"
        types.append(rec["type"])
    if complete:
        assert "capture" in types and "totals" in types, f"{mode}: no capture or totals line ({types[-3:]})"
        assert types.index("capture") < types.index("totals"), f"{mode}: totals before capture"


def _xml(text: str, mode: str) -> ET.Element:
    try:
        return ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raise AssertionError(f"{mode}: not XML ({exc})") from None


def _junit(text: str) -> None:
    root = _xml(text, "junit")
    assert root.tag in ("testsuites", "testsuite"), f"junit: root element is {root.tag}"
    try:
        from lxml import etree
    except ImportError:
        return
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.fromstring(text.encode("utf-8"))
    assert schema.validate(doc), f"junit: {schema.error_log.last_error}"


def _plain(text: str, mode: str) -> None:
    assert "\x00" not in text, f"{mode}: output holds a NUL"
    assert "Traceback (most recent call last)" not in text, f"{mode}: output holds a traceback"
    assert text == "" or text.endswith("\n"), f"{mode}: the last line is not ended"


def assert_well_formed(mode: str, output, complete: bool = True) -> None:
    """Raise AssertionError unless `output` (str or bytes) is a well-formed result of `mode`."""
    text = _text(output)
    if mode == "json":
        _json(text, mode)
    elif mode == "jsonl":
        _jsonl(text, mode, complete)
    elif mode == "svg":
        if text.strip():
            root = _xml(text, mode)
            assert root.tag.endswith("svg"), f"svg: root element is {root.tag}"
    elif mode == "junit":
        _junit(text)
    elif mode == "mermaid":
        faults = mermaid.check(text)
        assert faults == [], f"mermaid: {faults[:3]}"
    else:
        _plain(text, mode)


def mode_of(args) -> str:
    """The mode whose parser applies to a command line's standard output."""
    args = [str(a) for a in args]
    fmt = "text"
    for i, a in enumerate(args):
        if a in ("-f", "--format") and i + 1 < len(args):
            fmt = args[i + 1]
        elif a.startswith("--format="):
            fmt = a.split("=", 1)[1]
    if fmt in ("json", "jsonl", "svg", "mermaid"):
        return fmt
    return "text"

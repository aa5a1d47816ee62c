"""policy: rules a CI job checks captured traffic against, and selection of connections.

A `Policy` is built from command-line options or a TOML file (``--policy
ci.toml``) and evaluated per finished flow: `Policy.check(flow)` returns the
`Violation`s of that connection, each naming the rule, the frame that broke it and
what happened. A `Selection` says which connections are shown and checked.

TOML form (every key optional)::

    fail_on = ["rst", "syn_unanswered"]     # anomaly ids, or a severity: "info" | "warning" | "error"
    max_retransmission_rate = "1%"           # per connection: retransmitted data segments / data segments
    max_handshake_rtt = "200ms"
    require = ["handshake", "graceful-close"]

A file that cannot be used (unreadable, not UTF-8, not TOML, an unknown key, a value of
the wrong type or an unknown rule) is a `PolicyError` naming the file, the key and what
was expected: the CLI prints it as one line and exits 2.
"""
from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass, field

from .core.anomaly_kinds import RETRANSMISSIONS as RETRANS
from .core.anomaly_kinds import SEVERITIES, SEVERITY
from .core.decode import addr_str

REQUIREMENTS = ("handshake", "graceful-close", "closed", "no-anomalies")


class PolicyError(ValueError):
    """A policy that cannot be understood (bad value, unknown rule)."""


@dataclass(slots=True)
class Violation:
    flow: int
    rule: str
    frame: int | None
    message: str
    endpoints: str = ""

    def line(self) -> str:
        at = f" at frame {self.frame}" if self.frame else ""
        return f"connection {self.flow} ({self.endpoints}): {self.rule}{at}: {self.message}"


def parse_duration(text) -> float:
    """'200ms', '1.5s', '250us', or a number of seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(us|µs|ms|s)?\s*", str(text))
    if not m:
        raise PolicyError(f"not a duration: {text!r} (try 200ms or 1.5s)")
    scale = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, None: 1.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_rate(text) -> float:
    """'1%' or '0.01'."""
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%)?\s*", str(text))
    if not m:
        raise PolicyError(f"not a rate: {text!r} (try 1% or 0.01)")
    v = float(m.group(1))
    return v / 100 if m.group(2) else v


def _split(values) -> list[str]:
    out = []
    for v in values or ():
        out += [x.strip() for x in str(v).split(",") if x.strip()]
    return out


@dataclass
class Policy:
    fail_on: set[str] = field(default_factory=set)
    min_severity: str | None = None
    max_retransmission_rate: float | None = None
    max_handshake_rtt: float | None = None
    require: set[str] = field(default_factory=set)

    @property
    def active(self) -> bool:
        return bool(self.fail_on or self.min_severity or self.require
                    or self.max_retransmission_rate is not None or self.max_handshake_rtt is not None)

    @classmethod
    def build(cls, fail_on=(), max_retransmission_rate=None, max_handshake_rtt=None, require=(),
              base: "Policy | None" = None, names: dict[str, str] | None = None) -> "Policy":
        """Add these rules to `base` (or a new policy). `names` says how a message names each
        rule (the option by default: ``--fail-on``; a policy file says ``FILE: fail_on``)."""
        name = {**OPTIONS, **(names or {})}
        p = base or cls()
        for item in _split(fail_on):
            if item in SEVERITIES:
                if p.min_severity is None or SEVERITIES.index(item) < SEVERITIES.index(p.min_severity):
                    p.min_severity = item
            elif item in SEVERITY:
                p.fail_on.add(item)
            else:
                raise PolicyError(f"{name['fail_on']}: unknown anomaly or severity {item!r}")
        for item in _split(require):
            if item not in REQUIREMENTS:
                raise PolicyError(f"{name['require']}: unknown requirement {item!r} "
                                  f"(one of {', '.join(REQUIREMENTS)})")
            p.require.add(item)
        try:
            if max_retransmission_rate is not None:
                p.max_retransmission_rate = parse_rate(max_retransmission_rate)
        except PolicyError as exc:
            raise PolicyError(f"{name['max_retransmission_rate']}: {exc}") from None
        try:
            if max_handshake_rtt is not None:
                p.max_handshake_rtt = parse_duration(max_handshake_rtt)
        except PolicyError as exc:
            raise PolicyError(f"{name['max_handshake_rtt']}: {exc}") from None
        return p

    @classmethod
    def from_toml(cls, path: str) -> "Policy":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read the policy file ({exc.strerror or exc})") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise PolicyError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
                              f"a TOML policy file is UTF-8") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{path}: not valid TOML: {' '.join(str(exc).split())}") from None
        unknown = sorted(set(data) - set(FILE_KEYS))
        if unknown:
            raise PolicyError(f"{path}: unknown key(s) {', '.join(map(_key, unknown))} "
                              f"(expected {_KEY_LIST}, at the top level)")
        for key, value in data.items():
            if not FILE_KEYS[key][0](value):
                raise PolicyError(f"{path}: {key}: expected {FILE_KEYS[key][1]}, not {_toml_type(value)} "
                                  f"{_short(value)}")
        as_list = lambda v: [v] if isinstance(v, str) else list(v)
        return cls.build(as_list(data.get("fail_on", [])), data.get("max_retransmission_rate"),
                         data.get("max_handshake_rtt"), as_list(data.get("require", [])),
                         names={k: f"{path}: {k}" for k in FILE_KEYS})

    def check(self, flow) -> list[Violation]:
        out: list[Violation] = []
        v = flow.ended
        firsts = first_frames(flow)
        for kind, frame in sorted(firsts.items(), key=lambda kv: (kv[1] or 0, kv[0])):
            sev = SEVERITY.get(kind, "warning")
            if kind in self.fail_on or (self.min_severity and
                                        SEVERITIES.index(sev) >= SEVERITIES.index(self.min_severity)):
                n = v.anomaly_counts.get(kind, 1)
                out.append(Violation(flow.id, f"fail-on {kind}", frame,
                                     f"{n} × {kind} ({sev}): {anomaly_text(flow, kind)}"))
        if self.max_retransmission_rate is not None:
            data = flow.ends[0].data_pkts + flow.ends[1].data_pkts
            rex = sum(v.anomaly_counts.get(k, 0) for k in RETRANS)
            rate = rex / data if data else 0.0
            if rate > self.max_retransmission_rate:
                frame = min((firsts[k] for k in RETRANS if k in firsts), default=None)
                out.append(Violation(flow.id, "max-retransmission-rate", frame,
                                     f"{rex} of {data} data segments retransmitted ({rate:.1%} > "
                                     f"{self.max_retransmission_rate:.1%})"))
        if self.max_handshake_rtt is not None and flow.irtt is not None and flow.irtt > self.max_handshake_rtt:
            out.append(Violation(flow.id, "max-handshake-rtt", _handshake_frame(flow),
                                 f"handshake RTT {flow.irtt * 1e3:.1f} ms > {self.max_handshake_rtt * 1e3:.1f} ms"))
        if "handshake" in self.require and v.opened != "handshake":
            out.append(Violation(flow.id, "require handshake", flow.first_frame,
                                 f"the three-way handshake was not completed (opened: {v.opened})"))
        if "graceful-close" in self.require and v.ended != "graceful":
            frame = _end_frame(flow)
            out.append(Violation(flow.id, "require graceful-close", frame,
                                 f"not closed by FIN on both sides (ended: {v.ended})"))
        if "closed" in self.require and v.ended in ("open", "half_closed", "unanswered"):
            out.append(Violation(flow.id, "require closed", flow.last_frame,
                                 f"still {v.ended.replace('_', ' ')} when the capture ended"))
        if "no-anomalies" in self.require and v.anomaly_counts:
            frame = min((f for f in firsts.values() if f), default=None)
            out.append(Violation(flow.id, "require no-anomalies", frame,
                                 ", ".join(f"{k} ×{n}" for k, n in sorted(v.anomaly_counts.items()))))
        ep = endpoints(flow)
        for x in out:
            x.endpoints = ep
        return out


OPTIONS = {"fail_on": "--fail-on", "require": "--require",
           "max_retransmission_rate": "--max-retransmission-rate", "max_handshake_rtt": "--max-handshake-rtt"}


def _strings(v) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))


def _amount(v) -> bool:
    """A string for the parser, or a finite number >= 0 (TOML's booleans are not numbers here)."""
    if isinstance(v, str):
        return True
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


# each key of a policy file: (is the value of the right type, what it should be)
FILE_KEYS = {
    "fail_on": (_strings, 'a string or an array of strings: anomaly ids, or a severity '
                          '("info", "warning", "error")'),
    "max_retransmission_rate": (_amount, 'a rate: a string such as "1%", or a number >= 0 such as 0.01'),
    "max_handshake_rtt": (_amount, 'a duration: a string such as "200ms", or a number of seconds >= 0'),
    "require": (_strings, f"a string or an array of strings: {', '.join(REQUIREMENTS)}"),
}
_KEY_LIST = ", ".join(FILE_KEYS)


def _toml_type(v) -> str:
    """The TOML name of a value's type, with its article."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a float"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        inner = sorted({_toml_type(x) for x in v if not isinstance(x, str)})
        return "an array" + (f" holding {' and '.join(inner)}" if inner else "")
    return "a date or time"


def _short(v) -> str:
    """The value as TOML writes it, cut short."""
    text = _toml(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)     # a TOML basic string, escapes and all
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml(x)}" for k, x in v.items()) + "}"
    return repr(v) if isinstance(v, float) else str(v)


def _key(k: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted."""
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml(k)


def endpoints(flow) -> str:
    def one(e):
        a = addr_str(e[0])
        return f"[{a}]:{e[1]}" if ":" in a else f"{a}:{e[1]}"
    return f"{one(flow.orig)} -> {one(flow.resp)}"


def first_frames(flow) -> dict[str, int | None]:
    """The first frame of each anomaly kind of a flow (per-packet and flow-level)."""
    out = {k: v[1] for k, v in flow.counts.items()}
    for a in flow.anomalies:
        out.setdefault(a.kind, a.frame)
    return out


def anomaly_text(flow, kind: str) -> str:
    for a in flow.anomalies:
        if a.kind == kind:
            return a.message
    for p in flow.packets:
        if p.anomalies and kind in p.anomalies:
            from .prose.explain import Explainer
            return Explainer(flow).anomaly_message(p, kind, p.anomalies[kind])
    return kind.replace("_", " ")


def _handshake_frame(flow):
    for p in flow.packets:
        if p.orig_state.value == "ESTABLISHED" and p.resp_state.value == "ESTABLISHED":
            return p.frame
    return flow.first_frame


def _end_frame(flow):
    o, r = flow.ends
    for f in (o.rst_frame, r.rst_frame):
        if f is not None:
            return f
    return flow.last_frame


@dataclass
class Selection:
    """Which connections to show and check. Empty fields select everything."""

    ids: set[int] = field(default_factory=set)
    hosts: list = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    conn_states: set[str] = field(default_factory=set)
    anomalies: set[str] = field(default_factory=set)
    with_anomalies: bool = False
    head: int | None = None
    matched: int = 0

    @classmethod
    def build(cls, ids=(), hosts=(), ports=(), conn_states=(), anomalies=(), with_anomalies=False, head=None):
        s = cls(set(ids), [], set(), {c.upper() for c in _split(conn_states)}, set(_split(anomalies)),
                with_anomalies, head)
        for h in _split(hosts):
            try:
                s.hosts.append(ipaddress.ip_network(h, strict=False))
            except ValueError:
                raise PolicyError(f"--host: not an address or network: {h!r}") from None
        for p in _split(ports):
            if not p.isdigit() or not 0 <= int(p) <= 65535:
                raise PolicyError(f"--port: not a port number: {p!r}")
            s.ports.add(int(p))
        for a in s.anomalies:
            if a not in SEVERITY:
                raise PolicyError(f"--anomaly: unknown anomaly {a!r}")
        return s

    @property
    def exhausted(self) -> bool:
        return self.head is not None and self.matched >= self.head

    def __call__(self, flow) -> bool:
        if self.exhausted:
            return False
        return self.admit(self.match(flow))

    def admit(self, ok: bool) -> bool:
        """Count a connection that matched (`ok`) against --head; True if it is selected."""
        if self.exhausted:
            return False
        if ok:
            self.matched += 1
        return ok

    def match(self, flow) -> bool:
        """Every filter but --head (which depends on the connections before this one)."""
        if self.ids and flow.id not in self.ids:
            return False
        if self.ports and flow.orig[1] not in self.ports and flow.resp[1] not in self.ports:
            return False
        if self.hosts:
            addrs = [ipaddress.ip_address(flow.orig[0]), ipaddress.ip_address(flow.resp[0])]
            if not any(a in net for net in self.hosts for a in addrs if a.version == net.version):
                return False
        v = flow.ended
        if self.conn_states and v.conn_state not in self.conn_states:
            return False
        if self.anomalies and not (self.anomalies & set(v.anomaly_counts)):
            return False
        if self.with_anomalies and not v.anomaly_counts:
            return False
        return True

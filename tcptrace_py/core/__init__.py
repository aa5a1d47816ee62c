"""The analysis core: the only compiled part of tcpflow-explain (setup.py).

The stages, in the order a frame goes through them (`frames.Frames` is the loop):

    capture    the only reader: pcap, pcapng, gzip, stdin; yields raw frames
    decode     link layer -> IPv4/IPv6 -> TCP: one `records.Packet` per segment, or a counted reason
    flows      the bidirectional flow table: key, orig/resp, flow ids, 4-tuple reuse, eviction
    tracker    both endpoints' RFC 9293 states and the per-direction bookkeeping (its only owner)
    detectors  anomalies, read from the tracker's bookkeeping
    zeek       Zeek's conn_state and history
    summary    the per-connection verdict

`pipeline.Analyzer` runs them over a capture and hands finished connections out in order of
first packet; `scans` watches for SYN scans and floods across connections. Nothing here prints,
reads a clock or imports click or rich: time comes from packet timestamps.
"""


def kind() -> str:
    """'compiled' when the core's modules are the compiled ones, else 'pure Python'."""
    from importlib.machinery import EXTENSION_SUFFIXES

    from . import tracker
    return "compiled" if tracker.__file__.endswith(tuple(EXTENSION_SUFFIXES)) else "pure Python"

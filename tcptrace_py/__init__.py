"""tcpflow-explain: explains every TCP connection in a packet capture.

Python API::

    from tcptrace_py import analyze
    result = analyze("run.pcap")
    assert not result.flows_with("rst")
"""
__version__ = "0.1.0"

from .pipeline import Analysis, analyze  # noqa: E402

__all__ = ["analyze", "Analysis", "__version__"]

"""tcpflow-explain: explains every TCP connection in a packet capture.

Python API::

    from tcptrace_py import analyze
    result = analyze("run.pcap")
    assert not result.flows_with("rst")

The per-packet modules may be compiled (setup.py); `tcptrace_py.core.kind()` says which is in use, and
TCPFLOW_EXPLAIN_PURE=1 in the environment imports the pure-Python modules even where the
compiled ones are installed. Both give the same output.
"""
import os as _os
import sys as _sys

__version__ = "0.1.0"


def _use_pure_modules() -> None:
    """Make this package's directories find .py files only (no compiled extensions)."""
    from importlib.machinery import SOURCE_SUFFIXES, FileFinder, SourceFileLoader
    here = _os.path.dirname(__file__)
    for d, _subdirs, _files in _os.walk(here):
        _sys.path_importer_cache[d] = FileFinder(d, (SourceFileLoader, SOURCE_SUFFIXES))


if _os.environ.get("TCPFLOW_EXPLAIN_PURE", "") not in ("", "0"):
    _use_pure_modules()

from .core.pipeline import Analysis, analyze  # noqa: E402


__all__ = ["analyze", "Analysis", "__version__"]

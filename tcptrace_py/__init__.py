"""tcpflow-explain: explains every TCP connection in a packet capture.

Python API::

    from tcptrace_py import analyze
    result = analyze("run.pcap")
    assert not result.flows_with("rst")

The per-packet modules may be compiled (setup.py); `core()` says which is in use, and
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
    for d in (here, _os.path.join(here, "render")):
        _sys.path_importer_cache[d] = FileFinder(d, (SourceFileLoader, SOURCE_SUFFIXES))


if _os.environ.get("TCPFLOW_EXPLAIN_PURE", "") not in ("", "0"):
    _use_pure_modules()

from .pipeline import Analysis, analyze  # noqa: E402


def core() -> str:
    """'compiled' when the per-packet modules are the compiled ones, else 'pure Python'."""
    from importlib.machinery import EXTENSION_SUFFIXES

    from . import tracker
    return "compiled" if tracker.__file__.endswith(tuple(EXTENSION_SUFFIXES)) else "pure Python"


__all__ = ["analyze", "Analysis", "core", "__version__"]

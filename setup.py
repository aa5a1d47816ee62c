"""Build the compiled core: the per-packet modules, compiled with Cython when it can be done.

The same .py files are the pure-Python package; compiling them changes speed only, never output
(tests/test_compiled.py compares the two). Without a C compiler the build falls back to the pure
modules (each extension is optional), and TCPFLOW_EXPLAIN_PURE_BUILD=1 skips compiling.
"""
import os

from setuptools import setup

# pipeline.py stays interpreted: compiled, it saves under 3 % of the instructions of a run, and its generator
# lost the open connections when Ctrl-C arrived (nothing was reported after an interruption).
CORE = [
    "tcptrace_py/core/records.py", "tcptrace_py/core/packetlog.py", "tcptrace_py/core/capture.py",
    "tcptrace_py/core/decode.py", "tcptrace_py/core/flows.py", "tcptrace_py/core/tracker.py",
    "tcptrace_py/core/detectors.py", "tcptrace_py/core/zeek.py", "tcptrace_py/core/frames.py",
    "tcptrace_py/prose/explain.py",
    "tcptrace_py/render/jsonout.py", "tcptrace_py/render/text.py",
    "tcptrace_py/render/timeline.py", "tcptrace_py/render/summary.py",
]


def extensions():
    if os.environ.get("TCPFLOW_EXPLAIN_PURE_BUILD"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    exts = cythonize(CORE, language_level=3, quiet=True,
                     compiler_directives={"binding": False, "annotation_typing": False})
    for e in exts:
        e.optional = True       # no compiler: the pure module is used
    return exts


setup(ext_modules=extensions())

# Compiled-core declarations for text.py (see setup.py): the timeline's per-packet lines, with C types.
cimport cython
from tcptrace_py.core.records cimport Packet, flag_letters
from tcptrace_py.prose.explain cimport Explainer
from tcptrace_py.render.timeline cimport notable_options, options_text

cdef long SYN

@cython.locals(ex=Explainer, p=Packet, i=Py_ssize_t, n=Py_ssize_t, prev=Py_ssize_t, k=Py_ssize_t,
               zh=bint, t0=double, note=str, an=object, msgs=object, fr=str, t=str, fl=str, sq=str, ak=str,
               wl=str, st=str, a6=Py_ssize_t, a11=Py_ssize_t, states=tuple)
cpdef packet_lines(list out, flow, first, last, str lang, bint notes, bint explain, bint asc, object flush=*)

@cython.locals(x=double, us=cython.longlong)
cpdef str seconds6(double t)

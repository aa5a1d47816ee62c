# Compiled-core declarations for jsonout.py (see setup.py): the per-packet JSON writer, with C types.
cimport cython
from tcptrace_py.core.records cimport Packet
from tcptrace_py.prose.explain cimport Explainer

cdef long SYN

@cython.locals(ex=Explainer, p=Packet, out=list, s=str, ans=str, fr=str)
cpdef list packet_json(flow, bint notes=*, str head=*, object flush=*, object explainer=*)

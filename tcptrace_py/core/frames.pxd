# Compiled-core declarations for frames.py (see setup.py): the per-frame loop calls the decoder,
# the flow table and the tracker as C functions.
cimport cython
from tcptrace_py.core.decode cimport Decoder
from tcptrace_py.core.flows cimport Flow, FlowTable
from tcptrace_py.core.tracker cimport track
from tcptrace_py.core.capture cimport PcapRecords

cdef class Frames:
    cdef public object reader, it, on_new, on_expired, progress
    cdef public PcapRecords records
    cdef public Decoder decoder
    cdef public FlowTable table
    cdef public list pending
    cdef public long long every, frames, lt, lt_n
    cdef public dict lts
    cdef public bint has_first, has_last, ended
    cdef public double first_ts, last_ts, next_expire

    @cython.locals(n=long, cur=PcapRecords, lt=cython.longlong)
    cpdef bint step(self, long batch=*)
    @cython.locals(flow=Flow, d=long, started=cython.bint, table=FlowTable)
    cpdef _frame(self, long long frame, double ts, long long lt, bytes buf, Py_ssize_t off,
                      Py_ssize_t caplen, Py_ssize_t wire)
    cpdef _count_run(self)

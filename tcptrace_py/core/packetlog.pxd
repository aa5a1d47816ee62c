# Compiled-core declarations for packetlog.py (see setup.py): the tracker appends every kept packet.
cimport cython
from tcptrace_py.core.records cimport Packet, new_packet


cdef class _Spill:
    cdef public object f
    cdef public long long pid, end, live, held, per_log, budget, min_spill


cdef class PacketLog:
    cdef public _Spill sp
    cdef public list mem, chunks
    cdef public long long spilled

    @cython.locals(sp=_Spill, mem=list, n=Py_ssize_t)
    cpdef append(self, Packet p)
    cpdef spill(self)


cpdef tuple _row(Packet p)
@cython.locals(p=Packet)
cpdef Packet _packet(tuple row)

# Compiled-core declarations for flows.py (see setup.py): the connection record and the table, with C types.
cimport cython
from tcptrace_py.core.records cimport Packet, be32
from tcptrace_py.core.packetlog cimport PacketLog

cdef class Flow:
    cdef public object id, key, orig, resp
    cdef public bint orig_low
    cdef public tuple ends
    cdef public PacketLog packets
    cdef public bint keep
    cdef public double first_ts, last_ts
    cdef public long long first_frame, last_frame
    cdef public object oriented_by
    cdef public tuple init_states
    cdef public list anomalies
    cdef public object irtt, close_ts, zeek
    cdef public long long npkts
    cdef public object reused_from, ended
    cdef public dict counts
    cdef public object syn_ack_rtt, ack_rtt, first_fin_dir, rst_dir, ts_mru_syn, first_rtt, unsent_acks
    cdef public object evicted, files

cdef long _NPART
cpdef object endpoint_int(bytes addr, long port)
@cython.locals(h=cython.ulonglong, k1=cython.ulonglong, k2=cython.ulonglong, m=cython.ulonglong)
cpdef long mix(unsigned long long x, unsigned long long ports)

cdef class FlowTable:
    cdef public dict table
    cdef public long long next_id
    cdef public bint keep
    cdef public double grace
    cdef public object idle
    cdef public list recent
    cdef public set open_ids
    cdef public list _id_heap
    cdef public bint shard
    cdef public long long max_open

    @cython.locals(flow=Flow, low=bint)
    cpdef tuple lookup(self, Packet pkt)

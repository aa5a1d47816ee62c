# Compiled-core declarations for flows.py (see setup.py): the connection record, with C types.
cdef class Flow:
    cdef public object id, key, orig, resp
    cdef public tuple ends
    cdef public list packets
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

cpdef long mix(unsigned long long x, unsigned long long ports)

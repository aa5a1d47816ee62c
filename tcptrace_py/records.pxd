# Compiled-core declarations for records.py (see setup.py): C types for the packet's fields.
cdef class Packet:
    cdef public long long frame
    cdef public double ts
    cdef public object src, dst
    cdef public long sport, dport
    cdef public long long seq, ack_raw
    cdef public long flags, win_raw, len, hdr_len
    cdef public object options
    cdef public object ip_id   # None on IPv6
    cdef public long ttl
    cdef public bint cut, ipv6
    cdef public long csum
    cdef public object flow
    cdef public long dir
    cdef public long long rseq
    cdef public object rack
    cdef public long long win
    cdef public object orig_state, resp_state, ack_rtt, in_flight, anomalies, info

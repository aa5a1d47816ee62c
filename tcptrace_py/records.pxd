# Compiled-core declarations for records.py (see setup.py): C types for the packet's fields.
cimport cython

@cython.freelist(8192)
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

cpdef Packet new_packet(long long frame, double ts, object src, object dst, long sport, long dport,
                        long long seq, long long ack_raw, long flags, long win_raw, long length, long hdr_len,
                        object options, object ip_id, long ttl, bint cut, bint ipv6, long csum)
cdef void _fill(Packet p, long long frame, double ts, object src, object dst, long sport, long dport,
                long long seq, long long ack_raw, long flags, long win_raw, long length, long hdr_len,
                object options, object ip_id, long ttl, bint cut, bint ipv6, long csum) noexcept

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

cpdef str flag_letters(long flags)

cpdef Packet new_packet(long long frame, double ts, object src, object dst, long sport, long dport,
                        long long seq, long long ack_raw, long flags, long win_raw, long length, long hdr_len,
                        object options, object ip_id, long ttl, bint cut, bint ipv6, long csum)
cdef void _fill(Packet p, long long frame, double ts, object src, object dst, long sport, long dport,
                long long seq, long long ack_raw, long flags, long win_raw, long length, long hdr_len,
                object options, object ip_id, long ttl, bint cut, bint ipv6, long csum) noexcept

cdef class Endpoint:
    cdef public object state
    cdef public long long base
    cdef public object isn, syn_frame, syn_ts, fin_seq, fin_frame, rst_frame
    cdef public object wscale, mss
    cdef public bint sack_ok, ts_ok
    cdef public long win_scale
    cdef public long long nextseq
    cdef public double nextseq_ts
    cdef public long long nextseq_frame
    cdef public long long maxseqtobeacked, lastack
    cdef public double lastack_ts
    cdef public long long window
    cdef public long lastsegflags, dupacks
    cdef public long long lastnondupack
    cdef public long long pkts, bytes, data_pkts
    cdef public object last_ts, first_ts
    cdef public bint sent_any
    cdef public object seg_times
    cdef public long seg_head
    cdef public bint is_first_ack
    cdef public object sigs, last_ack_sig, last_opts, synack_frame
    cdef public long long max_ack
    cdef public bint syn_acked
    cdef public object fin_ts, last_ipid
    cdef public bint ipid_varies

cpdef long be16(bytes raw, Py_ssize_t p) except -1
@cython.locals(v=cython.ulonglong)
cpdef long long be32(bytes raw, Py_ssize_t p) except -1

@cython.locals(d=cython.longlong)
cpdef bint seq_gt(long long a, long long b)
cpdef bint seq_ge(long long a, long long b)


# Compiled-core declarations for tracker.py (see setup.py).
cimport cython
from tcptrace_py.records cimport Packet
from tcptrace_py.flows cimport Flow

cdef long long M
cdef long ACK, FIN, RST, SYN

cdef class Endpoint:
    cdef public object state, base, isn, syn_frame, syn_ts, fin_seq, fin_frame, rst_frame
    cdef public object wscale, mss
    cdef public bint sack_ok, ts_ok
    cdef public long win_scale
    cdef public object nextseq
    cdef public double nextseq_ts
    cdef public long long nextseq_frame
    cdef public object maxseqtobeacked, lastack
    cdef public double lastack_ts
    cdef public object window
    cdef public long lastsegflags, dupacks
    cdef public long long lastnondupack
    cdef public long long pkts, bytes, data_pkts
    cdef public object last_ts, first_ts
    cdef public bint sent_any
    cdef public object seg_times
    cdef public long seg_head
    cdef public bint is_first_ack
    cdef public object sigs, last_ack_sig, last_opts, synack_frame, max_ack
    cdef public bint syn_acked
    cdef public object fin_ts, last_ipid
    cdef public bint ipid_varies

@cython.locals(d=cython.longlong)
cpdef bint seq_gt(long long a, long long b)
cpdef bint seq_ge(long long a, long long b)

@cython.locals(snd=Endpoint, rcv=Endpoint, f=long, ts=double, n=long, changed=bint, i=cython.Py_ssize_t,
               nq=cython.Py_ssize_t)
cpdef track(Flow flow, Packet pkt, long d, analyze)

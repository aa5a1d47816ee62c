# Compiled-core declarations for zeek.py (see setup.py): the same code, with C types.
cimport cython
from tcptrace_py.core.records cimport Packet
from tcptrace_py.core.flows cimport Flow

cdef long long M
cdef long ACK, FIN, RST, SYN
cdef long INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET
cdef double ATTEMPT_DELAY, CLOSE_DELAY, HANDSHAKE_TIMEOUT, INACTIVITY_TIMEOUT
cdef long long TOO_LARGE_SEQ_DELTA, MAX_INITIAL_WINDOW, MAX_ABOVE_HOLE
cdef long MAX_HELD
cdef long _H_SYN, _H_FIN, _H_RST, _H_FINRST, _H_DATA, _H_ACK, _H_MULTI
cdef long _ORIG_SEEN, _RESP_SEEN

cdef class Endpoint:
    cdef public long dir
    cdef public bint is_orig
    cdef public long state, prev
    cdef public long long start, start64, last, last64, ack, ack64
    cdef public long fin_cnt
    cdef public long long fin_seq
    cdef public long rst_cnt
    cdef public bint did_close, did_eof
    cdef public long long h_syn, h_fin, h_rst
    cdef public long long rx_n, rx_t, w0_n, w0_t, gap_n, gap_t
    cdef public long long r_lrs, r_trim, r_hi
    cdef public object r_pend
    cdef public bint r_skip

    cpdef init_seq(self, long long start, long long span)
    cpdef bint no_data_acked(self)
    @cython.locals(size=cython.longlong)
    cpdef long long size(self, Endpoint peer)

cdef class Conn:
    cdef public tuple eps
    cdef public long orig_dir
    cdef public list hist
    cdef public long seen
    cdef public double start_time, last_time, timeout
    cdef public object attempt_at, delete_at
    cdef public bint is_partial
    cdef public long fps
    cdef public bint close_deferred, deferred_gen
    cdef public long long missed
    cdef public object pending, next, tail
    cdef public long long npkts

    cpdef long long _size(self, Endpoint e)
    cpdef flip(self)
    cpdef bint removed_before(self, double ts)
    @cython.locals(f=long, o=Endpoint, r=Endpoint, conn_orig=Endpoint, seq=cython.longlong)
    cpdef bint is_reuse(self, Packet pkt)

cdef _add(Conn c, Endpoint ep, str code)
cdef bint _check(Conn c, Endpoint ep, long bit, str code)
@cython.locals(st=long)
cdef _set_state(Conn c, Endpoint ep, Endpoint peer, long new)
@cython.locals(peer=Endpoint)
cdef _gap(Conn c, Endpoint ep, long long n)
@cython.locals(lrs=cython.longlong)
cdef _absorb(Endpoint ep)
cdef _undelivered(Conn c, Endpoint ep, long long up_to)
cdef _trim(Conn c, Endpoint ep, long long seq)
@cython.locals(upper=cython.longlong, acked=cython.longlong, trim=cython.longlong, lrs=cython.longlong,
               i=cython.Py_ssize_t)
cdef _data_sent(Conn c, Endpoint ep, long long seq, long long n)
@cython.locals(delivered=cython.longlong, last=cython.longlong, peer=Endpoint)
cdef bint _data_pending(Conn c, Endpoint ep)
cdef _check_eof(Conn c, Endpoint ep)
@cython.locals(due=cython.double)
cdef _connection_closed(Conn c, Endpoint ep, Endpoint peer, bint gen_event)
@cython.locals(do_close=cython.bint, gen=cython.bint, st=long)
cdef tuple _state_machine(Conn c, Endpoint ep, Endpoint peer, Packet pkt, long f, bint is_orig)
@cython.locals(f=long, ep=Endpoint, peer=Endpoint, is_orig=cython.bint, n=long, syn=long, fin=long,
               rst=long, ackf=long, seq=cython.longlong, fps=long, seg_len=cython.longlong, st=long,
               end=cython.longlong, last=cython.longlong, dl=cython.longlong, rel=cython.longlong,
               underflow=cython.bint, bit=long, rel_ack=cython.longlong, a=cython.longlong,
               da=cython.longlong, do_close=cython.bint, gen=cython.bint)
cdef _process(Conn c, Packet pkt, long d)
@cython.locals(syn=long, fin=long, rst=long, nb=long)
cdef _history_flags(Conn c, Endpoint ep, long f, long long rel, long n)
@cython.locals(c=Conn, f=long)
cpdef update(Flow flow, Packet pkt, long d)

# Compiled-core declarations for explain.py (see setup.py): C types for the notes written per packet.
cimport cython
from tcptrace_py.core.records cimport Packet

cdef long ACK, FIN, RST, SYN

cpdef str byte_range(long long start, long long n, str lang=*)
cpdef bint _after(long long a, long long b)

cdef class Explainer:
    cdef public object flow
    cdef public str lang
    cdef public bint zh
    cdef public dict close_steps
    cdef public long close_total
    cdef public object close_kind
    cdef public dict close_frames
    cdef public list fin_rel
    cdef public tuple data_ends
    cdef public dict prev_ack
    cdef public set _taught
    cdef public bint _lessons_ready

    cdef public tuple _roles

    @cython.locals(p=Packet, fin=list, first=Packet, ack_a=Packet, fin_b_pkt=Packet, last=Packet, a=long,
                   f=long, fin_a=cython.longlong, fin_b=cython.longlong)
    cpdef _scan(self)
    cpdef tuple _close_roles(self)
    cpdef str L(self, str en, str zh)
    cpdef str who(self, long d)
    cpdef str br(self, long long start, long long n)
    cpdef object step_label(self, long long frame)
    @cython.locals(d=long)
    cpdef tuple context(self, Packet pkt, tuple before)
    cpdef str note(self, Packet pkt, tuple before)
    @cython.locals(f=long, d=long)
    cpdef str _note(self, Packet pkt, tuple before)
    cpdef str _join(self, list parts)
    cpdef str _fin_note(self, Packet pkt, step, me, peer, sb, sa, pb, pa)
    cpdef str _close_ack_note(self, Packet pkt, step, me, peer, sa, pb, pa, bint on_data=*)
    cpdef str _data_note(self, Packet pkt, me, an)
    cpdef str _ack_note(self, Packet pkt, me, peer, an)
    cpdef str anomaly_message(self, Packet pkt, str kind, detail)
    cpdef str _syn_opts(self, Packet pkt)
    cpdef str _syn_data(self, Packet pkt, an)
    @cython.locals(d=long, fin=object)
    cpdef object _plain_note(self, Packet pkt, tuple before)
    cpdef str _sends(self, str me, long long rseq, long long n)
    @cython.locals(k=cython.longlong)
    cpdef str _acks(self, str me, long long rack)

# Compiled-core declarations for anomalies.py (see setup.py).
cimport cython
from tcptrace_py.core.records cimport Endpoint, Packet, seq_ge, seq_gt
from tcptrace_py.core.flows cimport Flow

cdef long long M
cdef long ACK, FIN, RST, SYN
cdef long KA, ZWP, URG_PSH_FIN
cdef double FAST_RETRANS_WINDOW, OOO_DEFAULT

@cython.locals(flags=long, seq=cython.longlong, ack=cython.longlong, seglen=long, win=long, ts=double, sfr=long,
               nextseq=cython.longlong,
               found=long, same=bint, ctl=long, advanced=bint, nxt=cython.longlong, shift=long)
cpdef analyze_segment(Packet pkt, Endpoint fwd, Endpoint rev, first_rtt)

@cython.locals(f=long, d=long, prev_ack=cython.longlong)
cpdef check_packet(Flow flow, Packet pkt, Endpoint snd, Endpoint rcv, before)

@cython.locals(n=long, key=cython.longlong, body=cython.ulonglong)
cpdef refine(Flow flow, Packet pkt, Endpoint snd, Endpoint rcv)

@cython.locals(ack=cython.longlong, n=cython.longlong, start=cython.longlong, into=cython.longlong, key=cython.longlong)
cpdef partial_ack(Packet pkt, Endpoint rcv)

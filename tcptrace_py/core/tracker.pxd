# Compiled-core declarations for tracker.py (see setup.py).
cimport cython
from tcptrace_py.core.records cimport Endpoint, Packet, seq_ge, seq_gt
from tcptrace_py.core.detectors cimport check_packet
from tcptrace_py.core.zeek cimport update as zeek_update
from tcptrace_py.core.decode cimport parse_options
from tcptrace_py.core.flows cimport Flow

cdef long long M
cdef long ACK, FIN, RST, SYN

cpdef str sender_event(Packet pkt, Endpoint snd, Endpoint peer)
cpdef object ack_event(Packet pkt, Endpoint rcv)
@cython.locals(f=long)
cpdef object transition(Endpoint sender, Endpoint receiver, Packet pkt)
cpdef _syn_options(Endpoint end, Packet pkt)

@cython.locals(snd=Endpoint, rcv=Endpoint, e0=Endpoint, e1=Endpoint, f=long, ts=double, n=long, changed=bint,
               i=cython.Py_ssize_t, nq=cython.Py_ssize_t, a=cython.longlong, ma=cython.longlong,
               fs=cython.longlong, end=cython.longlong, sent_ts=double, rtt=double)
cpdef track(Flow flow, Packet pkt, long d)

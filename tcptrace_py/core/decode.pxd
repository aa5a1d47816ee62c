# Compiled-core declarations for decode.py (see setup.py): the decoder's fast path reads the
# frame's bytes as C integers.
cimport cython
from tcptrace_py.core.records cimport Packet, be16, be32, new_packet
from tcptrace_py.core.flows cimport mix

cdef class Decoder:
    cdef public object skipped
    cdef public long long tcp
    cdef public dict frags
    cdef public list owned
    cdef public long me
    cdef public list load

    @cython.locals(o=Py_ssize_t, t=Py_ssize_t, tot=Py_ssize_t, avail=Py_ssize_t, doff=Py_ssize_t,
                   end=Py_ssize_t, length=Py_ssize_t, sport=long, dport=long,
                   seq=cython.longlong, ack=cython.longlong,
                   a=cython.ulonglong, b=cython.ulonglong, cp=cython.p_uchar)
    cpdef decode(self, long long frame, double ts, long lt, bytes buf, Py_ssize_t off, Py_ssize_t caplen,
                 Py_ssize_t wirelen)
    cpdef bint _foreign(self, bytes src, bytes dst, long sport, long dport)
    @cython.locals(w=long, i=Py_ssize_t)
    cpdef bint _mine(self, long p)

@cython.locals(i=Py_ssize_t, n=Py_ssize_t, kind=long, ln=long, v=Py_ssize_t, k=Py_ssize_t)
cpdef list parse_options(bytes raw)

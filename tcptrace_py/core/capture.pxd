# Compiled-core declarations for capture.py (see setup.py): the pcap record walk reads the record
# headers' bytes as C integers.
cimport cython

cdef class _Source:
    cdef public object f
    cdef public bytes buf
    cdef public Py_ssize_t pos
    cdef public long long base
    cdef public bint eof, close_f

cdef class PcapRecords:
    cdef public object reader
    cdef public _Source src
    cdef public bint big, limit_warned
    cdef public double unit, ts
    cdef public long long snaplen, linktype, frame
    cdef public Py_ssize_t off, caplen, wire

    cpdef object next(self)
    @cython.locals(buf=bytes, pos=Py_ssize_t, end=Py_ssize_t, sec=cython.longlong, frac=cython.longlong,
                   caplen=cython.longlong, wirelen=cython.longlong, frame=cython.longlong)
    cpdef object _next(self)

# Compiled-core declarations for timeline.py (see setup.py): the option helpers the text
# writer calls once per packet, as C functions.
from tcptrace_py.core.records cimport Packet

cpdef bint notable_options(bytes raw)
cpdef str options_text(Packet p, flow)

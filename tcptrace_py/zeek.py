"""zeek: Zeek's view of a connection — conn_state and history — kept per packet.

Interface used by the pipeline (see docs/reference/zeek-conn.md for the rules):

* ``update(flow, pkt, d)`` is called by tracker.track once per packet, after the
  tracker and the tshark-style analysis ran (``d`` 0 = orig->resp). It keeps its
  state in ``flow.zeek`` (created on the first call).
* ``conn_state(z)`` and ``z.history()`` give the final values when the flow ends.
"""


def update(flow, pkt, d) -> None:
    return None


def conn_state(z) -> str:
    return z.conn_state()

"""zeek: Zeek's conn_state and history for a flow (filled in per packet)."""


def conn_state(z) -> str:
    return z.conn_state()

#!/usr/bin/env python3
"""Regenerate the sample captures bundled with tcpflow-explain.

Run as root from anywhere:

    sudo python3 sample_pcaps/make_samples.py            # all captures
    sudo python3 sample_pcaps/make_samples.py seed-8090  # only some of them
    python3 sample_pcaps/make_samples.py --list          # print tcpdump listings
    python3 sample_pcaps/make_samples.py --update-readme # refresh README listings

Needs: python3 + dpkt, tcpdump, iproute2 (ip), nftables (nft), ethtool.

Two kinds of captures are produced:

* REAL captures: real Linux sockets (Python ``socket`` module) talk to each
  other and ``tcpdump -i <if> -w FILE -U`` records the traffic.  Traffic goes
  only to loopback (127.0.0.1 / ::1) or between two network namespaces that
  this script creates itself (``tpx-a`` 10.99.0.1 <-veth-> ``tpx-b``
  10.99.0.2) and deletes again afterwards.  Real captures keep real
  timestamps, so every run gives different timestamps / ISNs, but each
  capture is checked against the expected shape and retried until it matches.

* BUILT captures: frames are written with dpkt (Ethernet/IPv4/TCP with correct
  IP and TCP checksums) with fixed addresses, sequence numbers and
  timestamps, so they are byte-for-byte identical on every run.

``multi.pcapng`` is real traffic captured by tcpdump (which on Debian 12 can
only write classic pcap) and then rewritten, packet for packet with the
original timestamps and lengths, as pcapng by this script.
"""

import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# generic helpers
# ---------------------------------------------------------------------------


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Capture:
    """Run tcpdump for the duration of a ``with`` block."""

    def __init__(self, path, iface, bpf, snaplen=262144, netns=None):
        self.path = path
        cmd = ["tcpdump", "-i", iface, "-w", path, "-U", "--immediate-mode",
               "-nn", "-Z", "root", "-s", str(snaplen), bpf]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.cmd = cmd

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError("tcpdump did not start: %r" % line)
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        return False


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("peer closed after %d/%d bytes" % (len(buf), n))
        buf += d
    return buf


def recv_all(s):
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d


def listener(host, port, family=socket.AF_INET, rcvbuf=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((host, port))
    s.listen(8)
    return s


def port_in_use(port):
    """True if any TCP socket (any state, TIME_WAIT included) uses ``port``
    locally.  A SYN that reuses a TIME_WAIT 4-tuple carries the old peer's
    timestamp as TSecr, which would make the sample look odd."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    if int(line.split()[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def connect(host, port, cport=None, family=socket.AF_INET, opts=()):
    """Connect, binding to the fixed client port ``cport`` when possible.
    If that port is still busy (e.g. TIME_WAIT from a previous run) try
    cport+1000, cport+2000, ... and finally an ephemeral port."""
    cands = [cport + 1000 * i for i in range(8)] if cport else []
    cands = [p for p in cands if p < 65536 and not port_in_use(p)][:1]
    for p in cands + [0]:
        s = socket.socket(family, socket.SOCK_STREAM)
        for lvl, opt, val in opts:
            s.setsockopt(lvl, opt, val)
        try:
            if p:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", p))
            s.connect((host, port))
            return s
        except OSError as e:
            s.close()
            if p == 0 or isinstance(e, ConnectionRefusedError):
                raise
            log("  (client port %d unusable: %s; using an ephemeral port)" % (p, e))
    raise RuntimeError("unreachable")


def abort(s):
    """close() with SO_LINGER {1, 0}: the kernel sends RST instead of FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def thread(fn, *a):
    t = threading.Thread(target=fn, args=a, daemon=True)
    t.start()
    return t


# ---------------------------------------------------------------------------
# reading captures back (headers are parsed by hand so that snaplen-truncated
# frames work; payload length comes from the IP header)
# ---------------------------------------------------------------------------

FLAG_ORDER = [(0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."),
              (0x20, "U"), (0x40, "E"), (0x80, "W")]


class Pkt:
    def __init__(self, ts, src, dst, sport, dport, seq, ack, flags, win, plen):
        self.ts, self.src, self.dst = ts, src, dst
        self.sport, self.dport = sport, dport
        self.seq, self.ack, self.flags, self.win, self.plen = seq, ack, flags, win, plen

    @property
    def f(self):
        return "".join(ch for bit, ch in FLAG_ORDER if self.flags & bit)

    def has(self, ch):
        return ch in self.f

    def __repr__(self):
        return "%s:%d>%s:%d [%s] len %d" % (self.src, self.sport, self.dst,
                                            self.dport, self.f, self.plen)


def parse_frame(ts, buf):
    if len(buf) < 14:
        return None
    etype = struct.unpack("!H", buf[12:14])[0]
    b = buf[14:]
    if etype == 0x0800:
        ihl = (b[0] & 0x0F) * 4
        tot, proto = struct.unpack("!H", b[2:4])[0], b[9]
        src, dst = socket.inet_ntop(socket.AF_INET, b[12:16]), socket.inet_ntop(socket.AF_INET, b[16:20])
        l4len = tot - ihl
    elif etype == 0x86DD:
        ihl, proto = 40, b[6]
        l4len = struct.unpack("!H", b[4:6])[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, b[8:24]), socket.inet_ntop(socket.AF_INET6, b[24:40])
    else:
        return None
    if proto != 6:
        return None
    t = b[ihl:]
    sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", t[:16])
    return Pkt(ts, src, dst, sport, dport, seq, ack, flags, win, l4len - (off >> 4) * 4)


def read_pcap(path):
    import dpkt
    with open(path, "rb") as f:
        magic = f.read(4)
        f.seek(0)
        rd = dpkt.pcapng.Reader(f) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)
        out = []
        for ts, buf in rd:
            p = parse_frame(ts, buf)
            if p:
                out.append(p)
    return out


def conns(pkts):
    """Group packets into connections (a new SYN on a known 4-tuple starts a
    new connection)."""
    res, cur = [], {}
    for p in pkts:
        key = frozenset([(p.src, p.sport), (p.dst, p.dport)])
        if p.f == "S" and key in cur and any(q.f != "S" for q in cur[key]):
            del cur[key]
        if key not in cur:
            cur[key] = []
            res.append(cur[key])
        cur[key].append(p)
    return res


def listing(path):
    return subprocess.run(["tcpdump", "-nn", "-r", path], capture_output=True,
                          text=True).stdout


class ShapeError(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise ShapeError(msg)


def produce(name, make, check, tries=8):
    """Run ``make(tmp_path)`` until ``check(packets)`` is happy, then install
    the capture under sample_pcaps/."""
    final = os.path.join(HERE, name)
    tmpdir = tempfile.mkdtemp(prefix="tpx-")
    try:
        for attempt in range(1, tries + 1):
            tmp = os.path.join(tmpdir, name)
            if os.path.exists(tmp):
                os.unlink(tmp)
            try:
                make(tmp)
                pkts = read_pcap(tmp)
                check(pkts)
            except (ShapeError, OSError, EOFError) as e:
                log("  %s attempt %d: %s" % (name, attempt, e))
                time.sleep(1.0)
                continue
            shutil.copyfile(tmp, final)
            os.chmod(final, 0o644)
            log("%s: %d packets" % (name, len(pkts)))
            return
        raise SystemExit("could not produce %s" % name)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# 1. seed-8090.pcap  (real, loopback)
# ---------------------------------------------------------------------------

def _exact(prefix, filler, size, suffix=b""):
    need_len = size - len(prefix) - len(suffix)
    assert need_len >= 0
    return prefix + (filler * size)[:need_len] + suffix


SEED_REQ = _exact(b"GET /sample HTTP/1.1\r\nHost: 127.0.0.1:8090\r\n"
                  b"User-Agent: tcpflow-explain-sample\r\nX-Pad: ", b"x", 97, b"\r\n\r\n")
_SEED_HDR = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
_SEED_BODYLEN = 4029 - len(_SEED_HDR % 3900)
SEED_RESP = (_SEED_HDR % _SEED_BODYLEN) + (b"0123456789abcdef" * 300)[:_SEED_BODYLEN - 1] + b"\n"
assert len(SEED_REQ) == 97 and len(SEED_RESP) == 4029


def make_seed(path):
    srv = listener("127.0.0.1", 8090)

    def server():
        c, _ = srv.accept()
        for _ in range(2):
            recv_exact(c, 97)
            time.sleep(0.05)             # the pure ACK of the request goes first
            c.sendall(SEED_RESP)
        need(c.recv(100) == b"", "server expected EOF")
        c.close()                        # at once: FIN carries the ACK of the client FIN

    with Capture(path, "lo", "tcp port 8090"):
        t = thread(server)
        cl = connect("127.0.0.1", 8090, cport=47090)
        time.sleep(0.05)
        for _ in range(2):
            cl.sendall(SEED_REQ)
            recv_exact(cl, 4029)
            time.sleep(0.2)
        cl.close()
        t.join(5)
    srv.close()


def check_seed(pkts):
    need(len(pkts) == 14, "expected 14 packets, got %d" % len(pkts))
    cli = (pkts[0].src, pkts[0].sport)
    frm = ["C" if (p.src, p.sport) == cli else "S" for p in pkts]
    got = ["%s %s %d" % (d, p.f, p.plen) for d, p in zip(frm, pkts)]
    want = ["C S 0", "S S. 0", "C . 0", "C P. 97", "S . 0", "S P. 4029", "C . 0",
            "C P. 97", "S . 0", "S P. 4029", "C . 0", "C F. 0", "S F. 0", "C . 0"]
    need(got == want, "shape %s" % got)
    need(pkts[12].ack == (pkts[11].seq + 1) & 0xFFFFFFFF, "server FIN must ack client FIN")


# ---------------------------------------------------------------------------
# 2. reset-refused.pcap  (real, loopback)
# ---------------------------------------------------------------------------

def make_reset(path):
    srv = listener("127.0.0.1", 8092)

    def server():
        c, _ = srv.accept()
        recv_exact(c, 36)
        c.sendall(b"BUSY: closing this connection now\r\n")
        time.sleep(0.1)                  # let the client ACK the reply
        abort(c)                         # SO_LINGER {1,0} + close -> RST

    with Capture(path, "lo", "tcp port 8091 or tcp port 8092"):
        try:
            connect("127.0.0.1", 8091, cport=47091).close()
            raise ShapeError("port 8091 is not closed")
        except ConnectionRefusedError:
            pass
        time.sleep(0.1)
        t = thread(server)
        cl = connect("127.0.0.1", 8092, cport=47092)
        cl.sendall(b"HELLO tcpflow-explain reset sample\r\n")
        recv_exact(cl, 35)
        try:
            d = cl.recv(100)
            need(False, "client expected a reset, got %r" % d)
        except ConnectionResetError:
            pass
        cl.close()
        t.join(5)
    srv.close()


def check_reset(pkts):
    cs = conns(pkts)
    need(len(cs) == 2, "expected 2 connections, got %d" % len(cs))
    need([p.f for p in cs[0]] == ["S", "R."], "refused: %s" % cs[0])
    c2 = cs[1]
    need([p.f for p in c2[:3]] == ["S", "S.", "."], "handshake %s" % c2[:3])
    srv = (c2[1].src, c2[1].sport)
    need(c2[-1].has("R") and (c2[-1].src, c2[-1].sport) == srv, "last must be server RST")
    need(sum(1 for p in c2 if p.has("R")) == 1, "exactly one RST")
    need(not any(p.has("F") for p in c2), "no FIN expected")
    need(len(c2) <= 10, "too many packets")


# ---------------------------------------------------------------------------
# 3. client-abort.pcap  (real, loopback)
# ---------------------------------------------------------------------------

def make_client_abort(path):
    srv = listener("127.0.0.1", 8093)
    chunk = (b"server data chunk " * 200)[:2000]
    req = b"GET /big-download HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    result = {}

    def server():
        c, _ = srv.accept()
        recv_exact(c, len(req))
        c.sendall(chunk)
        time.sleep(0.05)
        c.sendall(chunk)
        time.sleep(0.2)                  # the client aborts meanwhile
        try:
            c.sendall(chunk)
            time.sleep(0.05)
            c.sendall(chunk)
            result["srv"] = "no error"
        except OSError as e:
            result["srv"] = type(e).__name__
        c.close()

    with Capture(path, "lo", "tcp port 8093"):
        t = thread(server)
        cl = connect("127.0.0.1", 8093, cport=47093)
        cl.sendall(req)
        recv_exact(cl, 2000)             # read the first chunk only
        time.sleep(0.1)                  # second chunk arrives, stays unread
        abort(cl)
        t.join(5)
    srv.close()
    log("  server after abort:", result.get("srv"))


def check_client_abort(pkts):
    cs = conns(pkts)
    need(len(cs) == 1, "one connection expected")
    c = cs[0]
    cli = (c[0].src, c[0].sport)
    need([p.f for p in c[:3]] == ["S", "S.", "."], "handshake")
    rst = [p for p in c if p.has("R")]
    need(len(rst) == 1 and (rst[0].src, rst[0].sport) == cli, "one client RST expected")
    need(c[-1] is rst[0], "RST must be last")
    need(sum(p.plen for p in c if (p.src, p.sport) != cli) == 4000, "4000 server bytes")
    need(not any(p.has("F") for p in c), "no FIN expected")


# ---------------------------------------------------------------------------
# 4. half-close.pcap  (real, loopback)
# ---------------------------------------------------------------------------

HC_REQ = b"SEND-ALL /report.txt\r\nno more data from client\r\n\r\n"


def make_half_close(path):
    srv = listener("127.0.0.1", 8094)

    def server():
        c, _ = srv.accept()
        req = recv_all(c)                # request, then EOF (client FIN)
        need(req == HC_REQ, "request %r" % req)
        for i in range(5):
            c.sendall(("chunk %d " % (i + 1)).encode() * 125)   # 1000 bytes
            time.sleep(0.025)
        c.close()

    with Capture(path, "lo", "tcp port 8094"):
        t = thread(server)
        cl = connect("127.0.0.1", 8094, cport=47094)
        cl.sendall(HC_REQ)
        time.sleep(0.02)
        cl.shutdown(socket.SHUT_WR)      # FIN, but keep reading
        data = recv_all(cl)
        need(len(data) == 5000, "client got %d" % len(data))
        cl.close()
        t.join(5)
    srv.close()


def check_half_close(pkts):
    cs = conns(pkts)
    need(len(cs) == 1, "one connection")
    c = cs[0]
    cli = (c[0].src, c[0].sport)
    fins = [(i, p) for i, p in enumerate(c) if p.has("F")]
    need(len(fins) == 2, "two FINs")
    (ic, fc), (iserv, fs) = fins
    need((fc.src, fc.sport) == cli and (fs.src, fs.sport) != cli, "client FIN first")
    data_after = [p for p in c[ic + 1:iserv] if p.plen > 0 and (p.src, p.sport) != cli]
    need(len(data_after) == 5, "5 server data segments after client FIN, got %d" % len(data_after))
    need(c[-1].f == "." and (c[-1].src, c[-1].sport) == cli, "final client ACK")


# ---------------------------------------------------------------------------
# 5. retransmission.pcap  (real, two network namespaces + veth, nft drops)
# ---------------------------------------------------------------------------

NS_A, NS_B = "tpx-a", "tpx-b"           # A = data sender (client), B = receiver
VETH_A, VETH_B = "tpxa0", "tpxb0"
IP_A, IP_B = "10.99.0.1", "10.99.0.2"

NFT_RULES = """
table inet tpx {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    ip saddr %(a)s tcp dport 5001 ip length > 100 numgen inc mod 1000000 == 4 counter drop comment "5th data segment of conn 1"
    ip saddr %(a)s tcp dport 5002 tcp flags & (syn | ack) == syn numgen inc mod 1000000 == 0 counter drop comment "first SYN of conn 2"
    ip saddr %(a)s tcp dport 5002 ip length > 100 numgen inc mod 1000000 == 0 counter drop comment "first data segment of conn 2"
  }
}
""" % {"a": IP_A}


def sh(*cmd, ns=None, check=True, **kw):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    return subprocess.run(cmd, check=check, **kw)


def netns_down():
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "del", ns, check=False, stderr=subprocess.DEVNULL)


def netns_up():
    netns_down()
    sh("ip", "netns", "add", NS_A)
    sh("ip", "netns", "add", NS_B)
    sh("ip", "link", "add", VETH_A, "netns", NS_A, "type", "veth", "peer", "name", VETH_B, "netns", NS_B)
    for ns, dev, ip in ((NS_A, VETH_A, IP_A), (NS_B, VETH_B, IP_B)):
        sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", ns=ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "addr", "add", ip + "/24", "dev", dev, ns=ns)
        # one MSS-sized segment per frame in the capture (no TSO/GSO super-frames)
        sh("ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", ns=ns,
           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        sh("ip", "link", "set", dev, "up", ns=ns)
    sh("nft", "-f", "-", ns=NS_B, input=NFT_RULES.encode())
    time.sleep(0.5)


RETX_REQ2 = b"POST /upload-small HTTP/1.1\r\nHost: 10.99.0.2\r\n\r\n" + b"p" * 150
RETX_RESP2 = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


def role_retx_server():
    """Runs inside namespace B."""
    s1 = listener(IP_B, 5001)
    s2 = listener(IP_B, 5002)
    print("READY", flush=True)
    c, _ = s1.accept()
    got = recv_all(c)
    c.close()
    c, _ = s2.accept()
    recv_exact(c, len(RETX_REQ2))
    c.sendall(RETX_RESP2)
    recv_all(c)
    c.close()
    print("SERVER got %d bytes on conn 1" % len(got), flush=True)


def role_retx_client():
    """Runs inside namespace A."""
    nd = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    # conn 1: 10 full segments back to back; the receiver's nft drops the 5th
    c = connect(IP_B, 5001, cport=41001, opts=nd)
    time.sleep(0.05)
    mss = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    c.sendall(bytes(range(256)) * (10 * mss // 256) + b"z" * (10 * mss % 256))
    time.sleep(0.3)
    c.sendall(b"e" * mss * 2)
    time.sleep(0.1)
    c.close()
    time.sleep(0.2)
    # conn 2: first SYN dropped (SYN retransmitted after 1 s), first data
    # segment dropped (retransmitted by the loss-probe/RTO timer)
    c = connect(IP_B, 5002, cport=41002, opts=nd)
    c.sendall(RETX_REQ2)
    recv_exact(c, len(RETX_RESP2))
    time.sleep(0.05)
    c.close()
    print("CLIENT done mss=%d" % mss, flush=True)


def make_retx(path):
    netns_up()
    srv = None
    try:
        srv = subprocess.Popen(["ip", "netns", "exec", NS_B, sys.executable, __file__,
                                "--role", "retx-server"], stdout=subprocess.PIPE, text=True)
        need(srv.stdout.readline().strip() == "READY", "server did not start")
        with Capture(path, VETH_A, "tcp", snaplen=96, netns=NS_A):
            sh(sys.executable, __file__, "--role", "retx-client", ns=NS_A, timeout=30,
               stdout=sys.stderr)
            srv.wait(10)
        log("  " + srv.stdout.read().strip())
        srv = None
        r = sh("nft", "list", "ruleset", ns=NS_B, capture_output=True, text=True)
        log("  nft counters: " + " | ".join(l.strip().split(" counter ")[1].split(" drop")[0]
                                            for l in r.stdout.splitlines() if "counter" in l))
        r = sh("nstat", "-az", "TcpRetransSegs", "TcpExtTCPFastRetrans", "TcpExtTCPLossProbes",
               "TcpExtTCPTimeouts", "TcpExtTCPSynRetrans", ns=NS_A, capture_output=True, text=True)
        log("  sender (namespace A) counters: " + ", ".join(
            " ".join(l.split()[:2]) for l in r.stdout.splitlines() if l.startswith("Tcp")))
    finally:
        if srv is not None and srv.poll() is None:
            srv.kill()
            srv.wait()
        netns_down()


def check_retx(pkts):
    cs = conns(pkts)
    need(len(cs) == 2, "two connections, got %d" % len(cs))
    c1, c2 = cs
    snd = (c1[0].src, c1[0].sport)
    data = [p for p in c1 if (p.src, p.sport) == snd and p.plen > 0]
    seqs = [p.seq for p in data]
    dup_seq = [s for s in set(seqs) if seqs.count(s) > 1]
    need(len(dup_seq) == 1, "one retransmitted segment in conn 1, got %d" % len(dup_seq))
    first = seqs.index(dup_seq[0])
    retx = len(seqs) - 1 - seqs[::-1].index(dup_seq[0])
    need(first == 4, "retransmitted segment should be the 5th (%d)" % first)
    i_first, i_retx = c1.index(data[first]), c1.index(data[retx])
    dupacks = [p for p in c1[i_first:i_retx] if (p.src, p.sport) != snd
               and p.ack == data[first].seq]
    need(len(dupacks) >= 3, "expected >=3 dup ACKs before the fast retransmit, got %d" % len(dupacks))
    need(c2[0].f == "S" and c2[1].f == "S" and c2[1].ts - c2[0].ts > 0.8, "SYN retransmission")
    d2 = [p for p in c2 if (p.src, p.sport) == (c2[0].src, c2[0].sport) and p.plen > 0]
    need(len(d2) == 2 and d2[0].seq == d2[1].seq, "request retransmission in conn 2")
    need(len(pkts) <= 60, "too many packets (%d)" % len(pkts))


# ---------------------------------------------------------------------------
# 6. zero-window.pcap  (real, loopback)
# ---------------------------------------------------------------------------

ZW_TOTAL = 48 * 1024


def make_zero_window(path):
    srv = listener("127.0.0.1", 8096, rcvbuf=4096)   # inherited by the child

    def server():
        c, _ = srv.accept()
        time.sleep(1.6)                  # do not read: window fills up, probes
        got = recv_all(c)
        need(len(got) == ZW_TOTAL, "server got %d" % len(got))
        c.close()

    with Capture(path, "lo", "tcp port 8096", snaplen=96):
        t = thread(server)
        cl = connect("127.0.0.1", 8096, cport=47096)
        cl.sendall(b"Z" * ZW_TOTAL)
        cl.shutdown(socket.SHUT_WR)
        need(recv_all(cl) == b"", "no data expected")
        cl.close()
        t.join(10)
    srv.close()


def check_zero_window(pkts):
    cs = conns(pkts)
    need(len(cs) == 1, "one connection")
    c = cs[0]
    cli = (c[0].src, c[0].sport)
    zw = [p for p in c if (p.src, p.sport) != cli and p.win == 0 and not p.has("S")]
    need(zw, "no zero window advertised")
    # zero window probes from Linux: zero-length ACK with seq = snd_una - 1
    probes = []
    for i, p in enumerate(c):
        if (p.src, p.sport) == cli and p.plen in (0, 1) and p.f == "." and i > 3:
            prev_ack = [q.ack for q in c[:i] if (q.src, q.sport) != cli]
            if prev_ack and p.seq == (prev_ack[-1] - 1) & 0xFFFFFFFF:
                probes.append(p)
    need(len(probes) >= 2, "expected >=2 zero window probes, got %d" % len(probes))
    need(sum(p.plen for p in c if (p.src, p.sport) == cli) == ZW_TOTAL, "all data captured")
    need(len(pkts) <= 200, "too many packets: %d" % len(pkts))


# ---------------------------------------------------------------------------
# 9. multi.pcapng  (real, IPv4 + IPv6 loopback, rewritten as pcapng)
# ---------------------------------------------------------------------------

def http_resp(body):
    return (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body


def make_multi_raw(path):
    s4 = listener("127.0.0.1", 8097)
    s6 = listener("::1", 8097, family=socket.AF_INET6)

    def serve(lsock, n, server_closes_first):
        for _ in range(n):
            c, _ = lsock.accept()
            req = b""
            while b"\r\n\r\n" not in req:
                d = c.recv(4096)
                if not d:
                    break
                req += d
            path_ = req.split(b" ")[1] if b" " in req else b"/"
            c.sendall(http_resp(b"you asked for " + path_ + b"\n" + b"." * 200 + b"\n"))
            if not server_closes_first:
                recv_all(c)
            c.close()

    with Capture(path, "lo", "tcp port 8097 or tcp port 8098"):
        t4 = thread(serve, s4, 2, True)
        t6 = thread(serve, s6, 1, False)
        # conn 1 + 2: same 4-tuple 127.0.0.1:47097 -> 127.0.0.1:8097 used twice;
        # the server closes first, so TIME_WAIT is on the server side and the
        # client can reuse its port at once.
        for p in (b"/first", b"/second"):
            c = connect("127.0.0.1", 8097, cport=47097)
            c.sendall(b"GET " + p + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            recv_all(c)
            c.close()
            time.sleep(0.1)
        # conn 3: IPv6, client closes first
        c = connect("::1", 8097, cport=47098, family=socket.AF_INET6)
        c.sendall(b"GET /v6 HTTP/1.0\r\nHost: [::1]\r\n\r\n")
        time.sleep(0.1)
        c.recv(4096)
        c.close()
        time.sleep(0.1)
        # conn 4: IPv6 connect to a closed port
        try:
            connect("::1", 8098, cport=47099, family=socket.AF_INET6).close()
            raise ShapeError("[::1]:8098 is not closed")
        except ConnectionRefusedError:
            pass
        t4.join(5)
        t6.join(5)
    s4.close()
    s6.close()


def pcap_to_pcapng(src, dst, if_name="lo"):
    """Rewrite a classic (microsecond) pcap as pcapng: SHB, one IDB
    (if_name, if_tsresol=6) and one EPB per packet, keeping each packet's
    timestamp, captured length and original length."""
    def opt(code, data):
        pad = (-len(data)) % 4
        return struct.pack("<HH", code, len(data)) + data + b"\0" * pad

    def block(btype, body):
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    with open(src, "rb") as f:
        hdr = f.read(24)
        magic, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", hdr)
        assert magic == 0xA1B2C3D4, "expected little-endian microsecond pcap"
        recs = []
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                break
            sec, usec, incl, orig = struct.unpack("<IIII", rh)
            recs.append((sec, usec, orig, f.read(incl)))
    shb_opts = opt(4, b"tcpflow-explain sample_pcaps/make_samples.py (converted from tcpdump pcap)") + opt(0, b"")
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
    idb_opts = opt(2, if_name.encode()) + opt(9, b"\x06") + opt(0, b"")
    out += block(0x00000001, struct.pack("<HHI", linktype, 0, snaplen) + idb_opts)
    for sec, usec, orig, data in recs:
        ts = sec * 1000000 + usec
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), orig)
        body += data + b"\0" * ((-len(data)) % 4)
        out += block(0x00000006, body)
    with open(dst, "wb") as f:
        f.write(out)


def make_multi(path):
    raw = path + ".raw.pcap"
    make_multi_raw(raw)
    pcap_to_pcapng(raw, path)
    os.unlink(raw)


def check_multi(pkts):
    cs = conns(pkts)
    need(len(cs) == 4, "4 connections expected, got %d" % len(cs))
    k = [frozenset([(c[0].src, c[0].sport), (c[0].dst, c[0].dport)]) for c in cs]
    need(k[0] == k[1], "conn 1 and 2 should share the 4-tuple")
    need(":" in cs[2][0].src and ":" in cs[3][0].src, "conn 3/4 IPv6")
    need([p.f for p in cs[3]] == ["S", "R."], "refused v6")
    for c in cs[:3]:
        need(sum(1 for p in c if p.has("F")) == 2 and c[0].f == "S", "graceful %s" % c[:2])
    need(len(pkts) <= 60, "too many packets")


# ---------------------------------------------------------------------------
# 7. + 8. built captures (dpkt, byte-for-byte deterministic)
# ---------------------------------------------------------------------------

def _opts_syn(tsval, tsecr, wscale=7, mss=1460):
    return (struct.pack("!BBH", 2, 4, mss) + b"\x04\x02" +
            struct.pack("!BBII", 8, 10, tsval, tsecr) + b"\x01" + struct.pack("!BBB", 3, 3, wscale))


def _opts_ts(tsval, tsecr):
    return b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, tsecr)


class Builder:
    """Writes one TCP connection between two hosts, keeping track of
    sequence numbers, IP ids and TCP timestamps per side."""

    MAC = {0: b"\x02\x00\x00\x00\x00\x01", 1: b"\x02\x00\x00\x00\x00\x02"}

    def __init__(self, path, a, b, isn, ts_base, t0):
        import dpkt
        self.dpkt = dpkt
        self.f = open(path, "wb")
        self.w = dpkt.pcap.Writer(self.f, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
        self.ep = [a, b]                  # (ip, port) per side
        self.seq = list(isn)              # next sequence number per side
        self.ipid = [0x3A10, 0x0000]
        self.tsv = list(ts_base)          # current TSval per side
        self.last_tsv = [0, 0]            # last TSval seen from each side
        self.t0 = t0                      # microseconds since epoch
        self.n = 0

    def ack_of(self, side):
        return self.seq[1 - side] & 0xFFFFFFFF

    def send(self, side, usec, flags, payload=b"", win=502, opts=None, ack=None,
             seq=None, advance=True):
        dpkt = self.dpkt
        src, dst = self.ep[side], self.ep[1 - side]
        s = self.seq[side] if seq is None else seq
        a = self.ack_of(side) if ack is None else ack
        self.tsv[side] += 1 + usec // 4000
        if opts is None:
            opts = _opts_ts(self.tsv[side], self.last_tsv[1 - side])
        fl = 0
        for ch, bit in (("F", dpkt.tcp.TH_FIN), ("S", dpkt.tcp.TH_SYN), ("R", dpkt.tcp.TH_RST),
                        ("P", dpkt.tcp.TH_PUSH), (".", dpkt.tcp.TH_ACK)):
            if ch in flags:
                fl |= bit
        tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=s & 0xFFFFFFFF,
                           ack=a if "." in flags else 0, flags=fl, win=win, opts=opts,
                           off=(20 + len(opts)) // 4, data=payload)
        ip = dpkt.ip.IP(src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]),
                        p=dpkt.ip.IP_PROTO_TCP, ttl=64, id=self.ipid[side] & 0xFFFF,
                        df=1, data=tcp)
        ip.len = 20 + len(bytes(tcp))
        self.ipid[side] += 1
        eth = dpkt.ethernet.Ethernet(src=self.MAC[side], dst=self.MAC[1 - side],
                                     type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        self.t0 += usec
        self.w.writepkt(bytes(eth), ts=self.t0 / 1e6)
        self.last_tsv[side] = self.tsv[side]
        if advance:
            self.seq[side] = (s + len(payload) + (1 if ("S" in flags or "F" in flags) else 0))
        self.n += 1

    def close(self):
        self.w.close()


def make_simultaneous_close(path):
    cli, srv = ("10.0.0.1", 40000), ("10.0.0.2", 8080)
    b = Builder(path, cli, srv, isn=(0x1F3A2B4C, 0x7C5D9E01), ts_base=(3000000, 9100000),
                t0=1700000000 * 1000000)
    C, S = 0, 1
    b.send(C, 0, "S", win=64240, opts=_opts_syn(b.tsv[C] + 1, 0))
    b.send(S, 210, "S.", win=65160, opts=_opts_syn(b.tsv[S] + 1, b.last_tsv[C]))
    b.send(C, 190, ".", win=502)
    b.send(C, 95, "P.", b"HELLO server, ping 1\n", win=502)                 # 21 bytes
    b.send(S, 180, ".", win=509)
    b.send(S, 2400, "P.", b"HELLO client, here are 40 bytes, pong 1\n"[:40], win=509)
    b.send(C, 170, ".", win=502)
    # both applications call close() at the same moment: the FINs cross
    t_fin = 50000
    b.send(C, t_fin, "F.", win=502)                 # ack = server seq (no FIN yet)
    sfin_ack = (b.seq[C] - 1) & 0xFFFFFFFF           # server has not seen the client FIN
    b.send(S, 40, "F.", win=509, ack=sfin_ack)       # crosses the client FIN
    # each side now ACKs the other's FIN (both go to CLOSING, then TIME_WAIT)
    b.send(C, 12, ".", win=502)
    b.send(S, 150, ".", win=509)
    b.close()


def make_midstream_wrap(path):
    cli, srv = ("10.0.0.1", 40001), ("10.0.0.2", 8080)
    mss = 1448
    c_isn = (1 << 32) - 150              # client seq wraps inside its 2nd request
    s_isn = (1 << 32) - 3596             # server seq wraps inside its 3rd segment
    b = Builder(path, cli, srv, isn=(c_isn, s_isn), ts_base=(81234000, 55501000),
                t0=1700000100 * 1000000 + 250000)
    C, S = 0, 1
    b.last_tsv = [81234000, 55501000]
    req1 = _exact(b"GET /file-part-1 HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nX-Pad: ", b"a", 120, b"\r\n\r\n")
    req2 = _exact(b"GET /file-part-2 HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nX-Pad: ", b"b", 120, b"\r\n\r\n")
    body = bytes((i * 7 + 13) & 0x7F | 0x20 for i in range(4 * mss + 1000))
    b.send(C, 0, "P.", req1, win=502)                # capture starts here (no SYN)
    b.send(S, 160, ".", win=508)
    b.send(S, 800, ".", body[0:mss], win=508)
    b.send(S, 15, ".", body[mss:2 * mss], win=508)
    b.send(C, 60, ".", win=496)
    b.send(S, 20, "P.", body[2 * mss:3 * mss], win=508)   # wraps: seq 2^32-700 .. 748
    b.send(C, 40000, ".", win=501)
    b.send(C, 120000, "P.", req2, win=501)                # wraps: seq 2^32-30 .. 90
    b.send(S, 170, ".", body[3 * mss:4 * mss], win=508)
    b.send(S, 15, "P.", body[4 * mss:], win=508)
    b.send(C, 55, ".", win=496)
    b.send(C, 30000, "F.", win=501)
    b.send(S, 190, "F.", win=508)
    b.send(C, 30, ".", win=501)
    b.close()


def check_simultaneous_close(pkts):
    need([p.f for p in pkts] == ["S", "S.", ".", "P.", ".", "P.", ".", "F.", "F.", ".", "."],
         "shape %s" % pkts)
    cf, sf = pkts[7], pkts[8]
    need(cf.ack == sf.seq and sf.ack == cf.seq, "FINs must cross")
    need(pkts[9].ack == sf.seq + 1 and pkts[10].ack == cf.seq + 1, "FIN ACKs")


def check_midstream_wrap(pkts):
    need(not any(p.has("S") for p in pkts), "no SYN")
    need(any(p.seq + p.plen > (1 << 32) for p in pkts), "a segment must wrap")
    need([p.f for p in pkts[-3:]] == ["F.", "F.", "."], "FIN close")


# ---------------------------------------------------------------------------

def built(name, fn, check):
    def make(tmp):
        fn(tmp)
    produce(name, make, check, tries=1)


def verify_checksums(path):
    """tcpdump -vv prints 'cksum ... (incorrect' for bad TCP checksums."""
    out = subprocess.run(["tcpdump", "-nn", "-vv", "-r", path], capture_output=True,
                         text=True).stdout
    bad = [l for l in out.splitlines() if "incorrect" in l]
    if bad:
        raise SystemExit("%s: bad checksums:\n%s" % (path, "\n".join(bad)))


BUILT = ("simultaneous-close.pcap", "midstream-wrap.pcap")

CAPTURES = {
    "seed-8090.pcap": lambda n: produce(n, make_seed, check_seed),
    "reset-refused.pcap": lambda n: produce(n, make_reset, check_reset),
    "client-abort.pcap": lambda n: produce(n, make_client_abort, check_client_abort),
    "half-close.pcap": lambda n: produce(n, make_half_close, check_half_close),
    "retransmission.pcap": lambda n: produce(n, make_retx, check_retx, tries=4),
    "zero-window.pcap": lambda n: produce(n, make_zero_window, check_zero_window),
    "simultaneous-close.pcap": lambda n: built(n, make_simultaneous_close, check_simultaneous_close),
    "midstream-wrap.pcap": lambda n: built(n, make_midstream_wrap, check_midstream_wrap),
    "multi.pcapng": lambda n: produce(n, make_multi, check_multi),
}


def update_readme():
    """Refresh the tcpdump listings in README.md between the markers
    ``<!-- listing: FILE [tcpdump options] -->`` and ``<!-- end listing -->``."""
    import re
    path = os.path.join(HERE, "README.md")
    text = open(path).read()

    def repl(m):
        args = m.group(1).split()
        out = subprocess.run(["tcpdump", "-nn", "-#"] + args[1:] + ["-r", os.path.join(HERE, args[0])],
                             capture_output=True, text=True).stdout
        return "<!-- listing: %s -->\n```\n%s```\n<!-- end listing -->" % (m.group(1), out)

    text = re.sub(r"<!-- listing: (.*?) -->.*?<!-- end listing -->", repl, text, flags=re.S)
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="captures to (re)make; default: all")
    ap.add_argument("--list", action="store_true", help="print tcpdump -nn -r listings")
    ap.add_argument("--update-readme", action="store_true",
                    help="refresh the tcpdump listings embedded in README.md")
    ap.add_argument("--role", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        socket.setdefaulttimeout(20)
        {"retx-server": role_retx_server, "retx-client": role_retx_client}[args.role]()
        return
    names = [n if n in CAPTURES else next((k for k in CAPTURES if k.split(".")[0] == n), n)
             for n in (args.names or list(CAPTURES))]
    for n in names:
        if n not in CAPTURES:
            raise SystemExit("unknown capture %r; choose from %s" % (n, ", ".join(CAPTURES)))
    if args.update_readme:
        update_readme()
        return
    if args.list:
        for n in names:
            print("==== %s ====" % n)
            print(listing(os.path.join(HERE, n)), end="")
        return
    socket.setdefaulttimeout(20)        # a stuck scenario fails and is retried
    if os.geteuid() != 0:
        raise SystemExit("run as root (tcpdump, network namespaces)")
    for n in names:
        log("== " + n)
        CAPTURES[n](n)
        if n in BUILT:
            verify_checksums(os.path.join(HERE, n))


if __name__ == "__main__":
    main()

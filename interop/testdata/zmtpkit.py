"""Shared helpers for the interop scripts (run by /usr/bin/python3 from Go tests).

payload() must match payload() in libzmq_test.go: frame j of message i of n
bytes is the first n bytes of SHAKE128("m<i>f<j>").

Proxy relays one TCP connection between a ZMTP peer and an upstream port on
127.0.0.1, parsing the frames as they pass. It counts commands per origin,
can rewrite the greeting's minor version to 0 in both directions (so each
side sees a ZMTP 3.0 peer) and can inject PINGs with a context towards the
Go side, checking and swallowing the PONGs that echo them.
"""

import hashlib
import json
import socket
import sys
import threading
import time

GREETING = 64
MINOR = 11


def payload(i, j, n):
    return hashlib.shake_128(b"m%df%d" % (i, j)).digest(n) if n else b""


def emit(**kw):
    print(json.dumps(kw), flush=True)


def describe(frames):
    return [[len(f), hashlib.sha256(f).hexdigest()] for f in frames]


def stdin_closed():
    """An Event set when stdin reaches EOF or a line arrives: Go's 'stop'."""
    ev = threading.Event()

    def wait():
        sys.stdin.readline()
        ev.set()

    threading.Thread(target=wait, daemon=True).start()
    return ev


def drain_monitor(mon, counts):
    import zmq
    from zmq.utils.monitor import recv_monitor_message

    while True:
        try:
            m = recv_monitor_message(mon, flags=zmq.NOBLOCK)
        except zmq.Again:
            return counts
        name = zmq.Event(m["event"]).name
        counts[name] = counts.get(name, 0) + 1


class Proxy:
    """Relays the first connection accepted on 127.0.0.1:<port> to upstream.

    accepted names the origin of the accepted side ("go" or "zmq"); the
    upstream side is the other one.
    """

    def __init__(self, upstream_port, accepted, minor0=False, inject_every=0.0):
        self.upstream_port = upstream_port
        self.accepted = accepted
        self.upstream = "zmq" if accepted == "go" else "go"
        self.minor0 = minor0
        self.inject_every = inject_every
        self.lock = threading.Lock()
        self.stats = {
            o: {"commands": {}, "pings": [], "pongs": [], "minor": None, "data_frames": 0}
            for o in ("go", "zmq")
        }
        self.pending = {}  # injected PING context -> count
        self.injected = 0
        self.echoed = 0
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(1)
        self.port = self.ls.getsockname()[1]
        self.threads = []
        t = threading.Thread(target=self._run, daemon=True)
        t.start()
        self.threads.append(t)

    def _run(self):
        a, _ = self.ls.accept()
        self.ls.close()
        b = socket.create_connection(("127.0.0.1", self.upstream_port))
        for s in (a, b):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks = {self.accepted: a, self.upstream: b}
        for origin, dest in ((self.accepted, self.upstream), (self.upstream, self.accepted)):
            t = threading.Thread(target=self._pump, args=(socks[origin], socks[dest], origin), daemon=True)
            t.start()
            self.threads.append(t)

    def _pump(self, src, dst, origin):
        st = self.stats[origin]
        off = 0  # greeting bytes passed
        buf = bytearray()
        ready = False  # the origin's READY has passed
        more = False  # inside a multipart message
        last_inject = 0.0
        try:
            while True:
                data = src.recv(1 << 20)
                if not data:
                    break
                out = bytearray()
                if off < GREETING:
                    k = min(GREETING - off, len(data))
                    g = bytearray(data[:k])
                    if off <= MINOR < off + k:
                        with self.lock:
                            st["minor"] = g[MINOR - off]
                        if self.minor0:
                            g[MINOR - off] = 0
                    out += g
                    off += k
                    data = data[k:]
                buf += data
                pos = 0
                while True:
                    if len(buf) - pos < 2:
                        break
                    flags = buf[pos]
                    if flags & 2:
                        if len(buf) - pos < 9:
                            break
                        size, hdr = int.from_bytes(buf[pos + 1:pos + 9], "big"), 9
                    else:
                        size, hdr = buf[pos + 1], 2
                    if len(buf) - pos < hdr + size:
                        break
                    frame = buf[pos:pos + hdr + size]
                    body = bytes(frame[hdr:])
                    pos += hdr + size
                    keep = True
                    if flags & 4:
                        name = body[1:1 + body[0]].decode("ascii", "replace")
                        rest = body[1 + body[0]:]
                        with self.lock:
                            st["commands"][name] = st["commands"].get(name, 0) + 1
                            if name == "READY":
                                ready = True
                            elif name == "PING":
                                st["pings"].append([int.from_bytes(rest[:2], "big"), rest[2:].hex()])
                            elif name == "PONG":
                                if self.pending.get(rest, 0) > 0:
                                    self.pending[rest] -= 1
                                    self.echoed += 1
                                    keep = False  # ours: the other side never sent it
                                else:
                                    st["pongs"].append(rest.hex())
                    else:
                        st["data_frames"] += 1
                        more = bool(flags & 1)
                    if keep:
                        out += frame
                    if (self.inject_every and origin == "zmq" and ready and not more
                            and time.monotonic() - last_inject >= self.inject_every):
                        last_inject = time.monotonic()
                        with self.lock:
                            self.injected += 1
                            ctx = b"ctx-%012d" % self.injected  # 16 bytes
                            self.pending[ctx] = self.pending.get(ctx, 0) + 1
                        cmd = b"\x04PING" + (100).to_bytes(2, "big") + ctx
                        out += bytes([4, len(cmd)]) + cmd
                del buf[:pos]
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def summary(self):
        with self.lock:
            return {
                "go": json.loads(json.dumps(self.stats["go"])),
                "zmq": json.loads(json.dumps(self.stats["zmq"])),
                "injected": self.injected,
                "echoed": self.echoed,
            }

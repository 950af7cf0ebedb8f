"""A libzmq DEALER for the Go interop tests: connects to the Go listener on
127.0.0.1:--port (directly or through a Proxy), sends the messages of --spec
(a JSON list of lists of frame sizes; contents from zmtpkit.payload), then
sends ["tick", "<n>"] every --every ms for --steady seconds. Prints
{"sent": n} after each phase, then waits until stdin closes or gets a line
and prints {"summary": ...}.
"""

import argparse
import json
import time

import zmq

from zmtpkit import Proxy, drain_monitor, emit, payload, stdin_closed

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--id", default="")
p.add_argument("--spec", default="[]")
p.add_argument("--steady", type=float, default=0.0)
p.add_argument("--every", type=float, default=10.0)
p.add_argument("--hb-ivl", type=int, default=0)
p.add_argument("--hb-timeout", type=int, default=0)
p.add_argument("--hb-ttl", type=int, default=0)
p.add_argument("--proxy", choices=["none", "observe", "minor0"], default="none")
p.add_argument("--inject-ms", type=float, default=0.0)
a = p.parse_args()

ctx = zmq.Context(io_threads=1)
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
if a.id:
    s.setsockopt(zmq.ROUTING_ID, bytes.fromhex(a.id))
if a.hb_ivl:
    s.setsockopt(zmq.HEARTBEAT_IVL, a.hb_ivl)
if a.hb_timeout:
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, a.hb_timeout)
if a.hb_ttl:
    s.setsockopt(zmq.HEARTBEAT_TTL, a.hb_ttl)
mon = s.get_monitor_socket()
port = a.port
proxy = None
if a.proxy != "none":
    proxy = Proxy(port, accepted="zmq", minor0=(a.proxy == "minor0"), inject_every=a.inject_ms / 1000.0)
    port = proxy.port
stop = stdin_closed()
s.connect("tcp://127.0.0.1:%d" % port)

events = {}
n = 0
for i, sizes in enumerate(json.loads(a.spec)):
    s.send_multipart([payload(i, j, size) for j, size in enumerate(sizes)])
    n += 1
emit(sent=n)

if a.steady > 0:
    end = time.monotonic() + a.steady
    k = 0
    while time.monotonic() < end and not stop.is_set():
        s.send_multipart([b"tick", b"%d" % k])
        k += 1
        drain_monitor(mon, events)
        time.sleep(a.every / 1000.0)
    emit(sent=k)

stop.wait()
drain_monitor(mon, events)
emit(summary={"monitor": events, "proxy": proxy.summary() if proxy else None})
s.disable_monitor()
mon.close(0)
s.close(0)
ctx.term()

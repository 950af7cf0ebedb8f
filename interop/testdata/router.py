"""A libzmq ROUTER bound on 127.0.0.1 for the Go interop tests.

Prints "READY <port>" (the proxy's port with --proxy), then one JSON line
per message received: {"id": hex routing id, "frames": [[len, sha256], ...]}.
Runs until stdin closes or gets a line, then prints {"summary": ...}.
"""

import argparse

import zmq

from zmtpkit import Proxy, describe, drain_monitor, emit, stdin_closed

p = argparse.ArgumentParser()
p.add_argument("--hb-ivl", type=int, default=0)
p.add_argument("--hb-timeout", type=int, default=0)
p.add_argument("--hb-ttl", type=int, default=0)
p.add_argument("--handover", action="store_true")
p.add_argument("--echo", action="store_true", help="reply ack:<first frame> to the sender")
p.add_argument("--proxy", choices=["none", "observe", "minor0"], default="none")
a = p.parse_args()

ctx = zmq.Context(io_threads=1)
s = ctx.socket(zmq.ROUTER)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.ROUTER_MANDATORY, 1)
if a.handover:
    s.setsockopt(zmq.ROUTER_HANDOVER, 1)
if a.hb_ivl:
    s.setsockopt(zmq.HEARTBEAT_IVL, a.hb_ivl)
if a.hb_timeout:
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, a.hb_timeout)
if a.hb_ttl:
    s.setsockopt(zmq.HEARTBEAT_TTL, a.hb_ttl)
mon = s.get_monitor_socket()
s.bind("tcp://127.0.0.1:*")
port = int(s.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1])
proxy = None
if a.proxy != "none":
    proxy = Proxy(port, accepted="go", minor0=(a.proxy == "minor0"))
    port = proxy.port
stop = stdin_closed()
print("READY %d" % port, flush=True)

events = {}
poller = zmq.Poller()
poller.register(s, zmq.POLLIN)
while not stop.is_set():
    if not poller.poll(50):
        drain_monitor(mon, events)
        continue
    parts = s.recv_multipart()
    rid, frames = parts[0], parts[1:]
    emit(id=rid.hex(), frames=describe(frames))
    if a.echo:
        try:
            s.send_multipart([rid, b"ack:" + frames[0]])
        except zmq.ZMQError as e:
            emit(error="echo: %s" % e)

drain_monitor(mon, events)
emit(summary={"monitor": events, "proxy": proxy.summary() if proxy else None})
s.disable_monitor()
mon.close(0)
s.close(0)
ctx.term()

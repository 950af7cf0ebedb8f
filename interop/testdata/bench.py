"""pyzmq counterpart of zmqbench.c (same protocol): shows what python adds.

usage: bench.py SIZE
"""

import sys
import threading
import time

import zmq

size = int(sys.argv[1])
buf = b"x" * size
rctx, dctx = zmq.Context(io_threads=1), zmq.Context(io_threads=1)
router, dealer = rctx.socket(zmq.ROUTER), dctx.socket(zmq.DEALER)
for s in (router, dealer):
    s.setsockopt(zmq.LINGER, 0)
dealer.setsockopt(zmq.ROUTING_ID, b"\x010123456789abcdef")
router.bind("tcp://127.0.0.1:*")
ep = router.getsockopt(zmq.LAST_ENDPOINT).decode()
dealer.connect(ep)
copy = size < 1024


def send(n):
    for _ in range(n):
        dealer.send(buf, copy=copy)


send(1)
router.recv_multipart()
print("READY " + ep.rsplit(":", 1)[1], flush=True)
for line in sys.stdin:
    n = int(line)
    if n <= 0:
        break
    t0 = time.monotonic()
    th = threading.Thread(target=send, args=(n,))
    th.start()
    for _ in range(n):
        router.recv(copy=False)
        if len(router.recv(copy=False)) != size:
            sys.exit("wrong size")
    t1 = time.monotonic()
    th.join()
    print("DONE %.9f" % (t1 - t0), flush=True)

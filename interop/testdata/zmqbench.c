/*
 * One-way throughput of libzmq: a DEALER sends to a ROUTER over TCP on
 * 127.0.0.1, each socket in its own context with one I/O thread (as two
 * processes would be). Built by bench_test.go against libzmq3-dev.
 *
 * usage: zmqbench [-curve] SIZE
 * With -curve both sockets use the CURVE mechanism (the ROUTER as the
 * server, the DEALER as the client) with key pairs made by
 * zmq_curve_keypair at start; otherwise NULL.
 * Prints "READY <port>", then for each line "N" on stdin sends N messages
 * of SIZE bytes (the sender in a second thread) and prints
 * "DONE <seconds>" once the ROUTER has received all of them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static void *dealer;
static char *buf;
static size_t size;

static void die(const char *what)
{
    fprintf(stderr, "zmqbench: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static void nofree(void *data, void *hint) { (void)data; (void)hint; }

static void send_one(void)
{
    zmq_msg_t m;
    /* Large frames without a copy, as pyzmq's copy=False would. */
    if (size >= 1024) {
        if (zmq_msg_init_data(&m, buf, size, nofree, NULL) != 0)
            die("msg_init_data");
    } else {
        if (zmq_msg_init_size(&m, size) != 0)
            die("msg_init_size");
        memcpy(zmq_msg_data(&m), buf, size);
    }
    if (zmq_msg_send(&m, dealer, 0) < 0)
        die("send");
}

static void *sender(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        send_one();
    return NULL;
}

static void recv_one(void *router)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    do {
        if (zmq_msg_recv(&m, router, 0) < 0)
            die("recv");
    } while (zmq_msg_more(&m));
    if (zmq_msg_size(&m) != size) {
        fprintf(stderr, "zmqbench: got %zu bytes, want %zu\n", zmq_msg_size(&m), size);
        exit(1);
    }
    zmq_msg_close(&m);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Makes router a CURVE server and dealer its client, with fresh keys. */
static void setup_curve(void *router, void *dealer)
{
    char spub[41], ssec[41], cpub[41], csec[41];
    if (!zmq_has("curve")) {
        fprintf(stderr, "zmqbench: this libzmq has no CURVE support\n");
        exit(1);
    }
    if (zmq_curve_keypair(spub, ssec) != 0 || zmq_curve_keypair(cpub, csec) != 0)
        die("curve_keypair");
    int one = 1;
    /* Z85 text keys: 40 characters (the option takes the length without
     * the terminating NUL). */
    if (zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0
        || zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, ssec, 40) != 0)
        die("router curve options");
    if (zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, spub, 40) != 0
        || zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, cpub, 40) != 0
        || zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, csec, 40) != 0)
        die("dealer curve options");
}

int main(int argc, char **argv)
{
    int curve = 0;
    if (argc == 3 && strcmp(argv[1], "-curve") == 0) {
        curve = 1;
        argv++;
        argc--;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: zmqbench [-curve] SIZE\n");
        return 2;
    }
    size = strtoul(argv[1], NULL, 10);
    buf = malloc(size + 1);
    memset(buf, 'x', size);

    void *rctx = zmq_ctx_new(), *dctx = zmq_ctx_new();
    zmq_ctx_set(rctx, ZMQ_IO_THREADS, 1);
    zmq_ctx_set(dctx, ZMQ_IO_THREADS, 1);
    void *router = zmq_socket(rctx, ZMQ_ROUTER);
    dealer = zmq_socket(dctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    const char id[] = "\x01" "0123456789abcdef";
    zmq_setsockopt(dealer, ZMQ_ROUTING_ID, id, 17);
    if (curve)
        setup_curve(router, dealer);
    if (zmq_bind(router, "tcp://127.0.0.1:*") != 0)
        die("bind");
    char ep[256];
    size_t eplen = sizeof ep;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &eplen);
    if (zmq_connect(dealer, ep) != 0)
        die("connect");
    /* Warm up: the connection is up once one message went through. */
    send_one();
    recv_one(router);
    printf("READY %s\n", strrchr(ep, ':') + 1);
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        long n = strtol(line, NULL, 10);
        if (n <= 0)
            break;
        double t0 = now();
        pthread_t th;
        pthread_create(&th, NULL, sender, &n);
        for (long i = 0; i < n; i++)
            recv_one(router);
        double t1 = now();
        pthread_join(th, NULL);
        printf("DONE %.9f\n", t1 - t0);
        fflush(stdout);
    }
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(dctx);
    zmq_ctx_term(rctx);
    return 0;
}

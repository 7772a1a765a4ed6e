/*
 * Baseline for benches/proxy.rs: the plain libzmq forwarder, XSUB (bound on LISTEN)
 * -> XPUB (bound on PUBLISH) joined by zmq_proxy(), with the same high-water marks
 * as the adaptor's proxy. Runs until killed (SIGTERM).
 *
 * Usage: zmq_proxy_baseline LISTEN PUBLISH HWM
 */
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

static int fail(const char *what)
{
    fprintf(stderr, "zmq_proxy_baseline: %s: %s\n", what, zmq_strerror(zmq_errno()));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s LISTEN PUBLISH HWM\n", argv[0]);
        return 2;
    }
    int hwm = atoi(argv[3]);
    int linger = 0;
    void *ctx = zmq_ctx_new();
    if (!ctx)
        return fail("zmq_ctx_new");
    void *xsub = zmq_socket(ctx, ZMQ_XSUB);
    void *xpub = zmq_socket(ctx, ZMQ_XPUB);
    if (!xsub || !xpub)
        return fail("zmq_socket");
    if (zmq_setsockopt(xsub, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0
        || zmq_setsockopt(xpub, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0
        || zmq_setsockopt(xsub, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_setsockopt(xpub, ZMQ_LINGER, &linger, sizeof linger) != 0)
        return fail("zmq_setsockopt");
    if (zmq_bind(xsub, argv[1]) != 0)
        return fail(argv[1]);
    if (zmq_bind(xpub, argv[2]) != 0)
        return fail(argv[2]);
    zmq_proxy(xsub, xpub, NULL);
    zmq_close(xsub);
    zmq_close(xpub);
    zmq_ctx_term(ctx);
    return 0;
}

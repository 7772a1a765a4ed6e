/* The adaptor proxy through the C ABI: start with a config, forward records logged by
 * the same process, pause/resume, read stats, stop.
 * usage: proxy LISTEN PUBLISH COUNT
 * Prints "ready" once the proxy runs, then waits for a line on stdin (the test's
 * consumer is subscribed), logs COUNT records and waits until the proxy forwarded
 * them all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq_adaptor.h>

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s LISTEN PUBLISH COUNT\n", argv[0]);
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    zmq_adaptor_proxy_config pcfg;
    memset(&pcfg, 0, sizeof pcfg);
    pcfg.listen = argv[1];
    pcfg.publish = argv[2];
    pcfg.ipc_mode = 0666;
    pcfg.linger_ms = 500;
    zmq_adaptor_proxy *px = NULL;
    pcfg.ipc_group = "no-such-group-here";
    if (zmq_adaptor_proxy_start(&pcfg, &px) != ZMQ_ADAPTOR_ERR_BAD_CONFIG || px != NULL) {
        fprintf(stderr, "unknown group was not refused\n");
        return 15;
    }
    pcfg.ipc_group = "nogroup";
    int rc = zmq_adaptor_proxy_start(&pcfg, &px);
    if (rc != ZMQ_ADAPTOR_OK || px == NULL) {
        fprintf(stderr, "proxy_start: %s\n", zmq_adaptor_strerror(rc));
        return 3;
    }
    /* The same endpoints again: refused, no handle. */
    zmq_adaptor_proxy *dup = NULL;
    if (zmq_adaptor_proxy_start(&pcfg, &dup) == ZMQ_ADAPTOR_OK || dup != NULL) {
        fprintf(stderr, "second proxy on the same endpoints was not refused\n");
        return 4;
    }
    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 5;

    zmq_adaptor_config cfg;
    zmq_adaptor_config_init(&cfg);
    cfg.endpoint = argv[1];
    if (zmq_adaptor_configure(&cfg) != ZMQ_ADAPTOR_OK) return 6;
    char buf[64];
    for (long i = 0; i < count; i++) {
        int n = snprintf(buf, sizeof buf, "px-%07ld", i);
        if (zmq_adaptor_log((const uint8_t *)buf, (size_t)n) != ZMQ_ADAPTOR_OK) return 7;
    }
    if (zmq_adaptor_flush(5000) != ZMQ_ADAPTOR_OK) return 8;

    zmq_adaptor_proxy_stats st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < 500; i++) {
        if (zmq_adaptor_proxy_stats_get(px, &st) != ZMQ_ADAPTOR_OK) return 9;
        if (st.backend_msgs_out >= (uint64_t)count) break;
        sleep_ms(10);
    }
    if (zmq_adaptor_proxy_pause(px) != ZMQ_ADAPTOR_OK) return 10;
    if (zmq_adaptor_proxy_resume(px) != ZMQ_ADAPTOR_OK) return 11;
    if (zmq_adaptor_proxy_stats_get(px, NULL) != ZMQ_ADAPTOR_ERR_NULL) return 12;
    printf("in=%llu out=%llu subscriptions_in=%llu forwarded=%llu dropped=%llu backlog=%llu\n",
           (unsigned long long)st.records_received, (unsigned long long)st.backend_msgs_out,
           (unsigned long long)st.backend_msgs_in, (unsigned long long)st.records_forwarded,
           (unsigned long long)st.records_dropped, (unsigned long long)st.records_backlog);
    if (zmq_adaptor_proxy_stop(px) != ZMQ_ADAPTOR_OK) return 13;
    printf("stopped\n");
    return st.backend_msgs_out == (uint64_t)count ? 0 : 14;
}

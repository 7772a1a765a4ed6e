/* End-to-end use of the logger C ABI by a plain C program.
 * usage: logger_e2e ENDPOINT COUNT
 * Logs COUNT records "c-rec-NNNNNNN" and COUNT/10 topic messages
 * ["billing", "c-pub-NNNNNNN"], checks every error path, then exits with records
 * possibly still queued: the library's exit linger delivers them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq_adaptor.h>

#include "expect.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ENDPOINT COUNT\n", argv[0]);
        return 2;
    }
    const char *endpoint = argv[1];
    long count = strtol(argv[2], NULL, 10);

    printf("curve=%d\n", zmq_adaptor_zmq_has("curve"));
    EXPECT(zmq_adaptor_zmq_has(NULL), 0);

    /* NULL pointers and bad values: clear codes, no crash. */
    uint8_t byte = 'x';
    EXPECT(zmq_adaptor_configure(NULL), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_config_init(NULL), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_stats_get(NULL), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_publish(NULL, 1, &byte, 1), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_publish(&byte, 1, NULL, 1), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_proxy_start(NULL, NULL), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_proxy_stop(NULL), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_proxy_pause(NULL), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_proxy_stats_get(NULL, NULL), ZMQ_ADAPTOR_ERR_NULL);
    if (zmq_adaptor_strerror(12345) == NULL || zmq_adaptor_strerror(ZMQ_ADAPTOR_OK) == NULL) {
        fprintf(stderr, "FAIL strerror returned NULL\n");
        failures++;
    }

    zmq_adaptor_config cfg;
    EXPECT(zmq_adaptor_config_init(&cfg), ZMQ_ADAPTOR_OK);
    cfg.endpoint = "tcp://no-port-here";
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_BAD_ENDPOINT);
    cfg.endpoint = "bogus://x";
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_BAD_ENDPOINT);
    cfg.endpoint = endpoint;
    cfg.max_record_bytes = 1024;
    cfg.queue_bytes = 512;
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_BAD_CONFIG);
    cfg.queue_bytes = 0; /* default */
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_OK);

    /* A bad proxy endpoint is refused and leaves the handle NULL. */
    zmq_adaptor_proxy_config pcfg;
    memset(&pcfg, 0, sizeof pcfg);
    pcfg.listen = "nonsense";
    zmq_adaptor_proxy *px = (zmq_adaptor_proxy *)&pcfg;
    EXPECT(zmq_adaptor_proxy_start(&pcfg, &px), ZMQ_ADAPTOR_ERR_BAD_ENDPOINT);
    if (px != NULL) {
        fprintf(stderr, "FAIL proxy handle not NULL after failure\n");
        failures++;
    }

    EXPECT(zmq_adaptor_log(NULL, 5), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_log(&byte, 0), ZMQ_ADAPTOR_ERR_EMPTY);
    static uint8_t big[2048];
    memset(big, 'b', sizeof big);
    EXPECT(zmq_adaptor_log(big, sizeof big), ZMQ_ADAPTOR_ERR_TOO_LARGE);
    EXPECT(zmq_adaptor_publish((const uint8_t *)"", 0, &byte, 1), ZMQ_ADAPTOR_ERR_EMPTY);

    /* The logger runs now: configuration is fixed. */
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_ALREADY_STARTED);

    char buf[64];
    long pubs = 0;
    for (long i = 0; i < count; i++) {
        int n = snprintf(buf, sizeof buf, "c-rec-%07ld", i);
        EXPECT(zmq_adaptor_log((const uint8_t *)buf, (size_t)n), ZMQ_ADAPTOR_OK);
        if (i % 10 == 0) {
            n = snprintf(buf, sizeof buf, "c-pub-%07ld", i);
            EXPECT(zmq_adaptor_publish((const uint8_t *)"billing", 7, (const uint8_t *)buf, (size_t)n),
                   ZMQ_ADAPTOR_OK);
            pubs++;
        }
    }

    zmq_adaptor_stats st;
    EXPECT(zmq_adaptor_stats_get(&st), ZMQ_ADAPTOR_OK);
    if (st.enqueued != (uint64_t)(count + pubs) || st.dropped_too_large != 1) {
        fprintf(stderr, "FAIL stats enqueued=%llu dropped_too_large=%llu\n",
                (unsigned long long)st.enqueued, (unsigned long long)st.dropped_too_large);
        failures++;
    }
    printf("enqueued=%llu\n", (unsigned long long)st.enqueued);
    if (argc > 3) {
        EXPECT(zmq_adaptor_flush(5000), ZMQ_ADAPTOR_OK);
    }
    printf(failures ? "FAILED %d\n" : "ok\n", failures);
    return failures ? 1 : 0;
}

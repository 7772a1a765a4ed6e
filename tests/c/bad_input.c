/* Lengths and settings no caller should pass: each gets a clear code, nothing
 * aborts, and the queue's byte budget is intact afterwards.
 * usage: bad_input ENDPOINT COUNT
 * Prints "too_large=N queue_bytes=N" after the bad calls and "sent=N queue_bytes=N"
 * after COUNT good records ("good-NNNNNNN") were flushed; exit 0 when every check
 * passed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq_adaptor.h>

#include "expect.h"

/* The reason zmq_adaptor_config_check gives must contain `want`. */
static void expect_reason(const zmq_adaptor_config *cfg, int code, const char *want) {
    char msg[160];
    memset(msg, 'x', sizeof msg);
    EXPECT(zmq_adaptor_config_check(cfg, msg, sizeof msg), code);
    if (memchr(msg, '\0', sizeof msg) == NULL || strstr(msg, want) == NULL) {
        fprintf(stderr, "FAIL reason \"%.*s\" does not contain \"%s\"\n", (int)sizeof msg,
                msg, want);
        failures++;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ENDPOINT COUNT\n", argv[0]);
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);

    /* Absurd settings: refused with the field and its bound named. */
    zmq_adaptor_config cfg;
    EXPECT(zmq_adaptor_config_init(&cfg), ZMQ_ADAPTOR_OK);
    cfg.endpoint = argv[1];
    cfg.queue_records = (size_t)1 << 26;
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_BAD_CONFIG);
    expect_reason(&cfg, ZMQ_ADAPTOR_ERR_BAD_CONFIG,
                  "queue_records must be 1..1048576 (got 67108864)");
    cfg.queue_records = 0;
    cfg.queue_bytes = SIZE_MAX;
    expect_reason(&cfg, ZMQ_ADAPTOR_ERR_BAD_CONFIG, "queue_bytes must be 1..1073741824");
    cfg.queue_bytes = 0;
    cfg.max_record_bytes = (size_t)1 << 30;
    expect_reason(&cfg, ZMQ_ADAPTOR_ERR_BAD_CONFIG, "max_record_bytes must be 1..16777216");
    cfg.max_record_bytes = 0;
    cfg.send_hwm = UINT32_MAX;
    expect_reason(&cfg, ZMQ_ADAPTOR_ERR_BAD_CONFIG,
                  "send_hwm must be 1..10000000 (got 4294967295)");
    cfg.send_hwm = 0;
    cfg.linger_ms = 600001;
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_BAD_CONFIG);
    expect_reason(&cfg, ZMQ_ADAPTOR_ERR_BAD_CONFIG, "linger_ms must be 0..600000");
    cfg.linger_ms = 0;
    cfg.endpoint = "nonsense";
    expect_reason(&cfg, ZMQ_ADAPTOR_ERR_BAD_ENDPOINT, "endpoint");
    cfg.endpoint = argv[1];
    expect_reason(&cfg, ZMQ_ADAPTOR_OK, "");
    EXPECT(zmq_adaptor_config_check(&cfg, NULL, 0), ZMQ_ADAPTOR_OK);
    EXPECT(zmq_adaptor_config_check(NULL, NULL, 0), ZMQ_ADAPTOR_ERR_NULL);

    uint64_t lo = 0, hi = 0;
    EXPECT(zmq_adaptor_config_limit("queue_records", &lo, &hi), ZMQ_ADAPTOR_OK);
    if (lo != 1 || hi != ZMQ_ADAPTOR_MAX_QUEUE_RECORDS) {
        fprintf(stderr, "FAIL queue_records limits %llu..%llu\n", (unsigned long long)lo,
                (unsigned long long)hi);
        failures++;
    }
    EXPECT(zmq_adaptor_config_limit("no_such_field", &lo, &hi), ZMQ_ADAPTOR_ERR_BAD_CONFIG);
    EXPECT(zmq_adaptor_config_limit("linger_ms", NULL, &hi), ZMQ_ADAPTOR_ERR_NULL);

    /* A small byte budget, so a leak of it would show at once. */
    cfg.queue_bytes = 4096;
    cfg.max_record_bytes = 1024;
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_OK);

    /* Lengths whose sum overflows size_t, or that no object can have. */
    static const uint8_t topic[] = "billing";
    static const uint8_t data[] = "data!";
    for (int round = 0; round < 100; round++) {
        EXPECT(zmq_adaptor_publish(topic, 7, data, SIZE_MAX), ZMQ_ADAPTOR_ERR_TOO_LARGE);
        EXPECT(zmq_adaptor_publish(topic, 7, data, SIZE_MAX - 3), ZMQ_ADAPTOR_ERR_TOO_LARGE);
        EXPECT(zmq_adaptor_publish(topic, SIZE_MAX, data, 5),
               ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE);
        EXPECT(zmq_adaptor_publish(topic, SIZE_MAX - 1, data, 5),
               ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE);
        EXPECT(zmq_adaptor_log(data, SIZE_MAX), ZMQ_ADAPTOR_ERR_TOO_LARGE);
        EXPECT(zmq_adaptor_log(data, (size_t)PTRDIFF_MAX + 1), ZMQ_ADAPTOR_ERR_TOO_LARGE);
    }
    zmq_adaptor_stats st;
    EXPECT(zmq_adaptor_stats_get(&st), ZMQ_ADAPTOR_OK);
    printf("too_large=%llu queue_bytes=%llu enqueued=%llu\n",
           (unsigned long long)st.dropped_too_large, (unsigned long long)st.queue_bytes,
           (unsigned long long)st.enqueued);
    if (st.dropped_too_large != 600 || st.queue_bytes != 0 || st.enqueued != 0) {
        fprintf(stderr, "FAIL counters after the bad calls\n");
        failures++;
    }

    /* The whole budget still serves: COUNT records of 16 bytes, 4096 bytes at most
     * in the queue at once, retried when it is full. */
    char rec[32];
    for (long i = 0; i < count; i++) {
        int n = snprintf(rec, sizeof rec, "good-%07ld", i);
        int rc;
        int tries = 0;
        while ((rc = zmq_adaptor_publish(topic, 7, (const uint8_t *)rec, (size_t)n)) ==
                   ZMQ_ADAPTOR_ERR_QUEUE_FULL &&
               tries++ < 5000)
            zmq_adaptor_flush(1);
        EXPECT(rc, ZMQ_ADAPTOR_OK);
    }
    EXPECT(zmq_adaptor_flush(10000), ZMQ_ADAPTOR_OK);
    EXPECT(zmq_adaptor_stats_get(&st), ZMQ_ADAPTOR_OK);
    printf("sent=%llu queue_bytes=%llu\n", (unsigned long long)st.sent,
           (unsigned long long)st.queue_bytes);
    if (st.queue_bytes != 0) {
        fprintf(stderr, "FAIL queue_bytes %llu after flush\n",
                (unsigned long long)st.queue_bytes);
        failures++;
    }
    fflush(stdout);
    return failures == 0 ? 0 : 1;
}

/* A C worker logging over tcp + CURVE through the logger C ABI.
 * usage: curve_worker ENDPOINT COUNT SERVER_KEY PUBLIC_KEY SECRET_KEY  (Z85 keys)
 * Checks the key error paths (partial, malformed, mismatched: ZMQ_ADAPTOR_ERR_BAD_KEY),
 * then logs COUNT records "c-curve-NNNNNNN" and waits until the adaptor acknowledged
 * them all. Exit 0 when every check held and flush succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq_adaptor.h>

static int failures = 0;

#define EXPECT(expr, code)                                                        \
    do {                                                                          \
        int rc_ = (expr);                                                         \
        if (rc_ != (code)) {                                                      \
            fprintf(stderr, "FAIL %s:%d: %s = %d (%s), expected %d\n", __FILE__,  \
                    __LINE__, #expr, rc_, zmq_adaptor_strerror(rc_), (int)(code)); \
            failures++;                                                           \
        }                                                                         \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s ENDPOINT COUNT SERVER_KEY PUBLIC_KEY SECRET_KEY\n", argv[0]);
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);
    zmq_adaptor_config cfg;
    EXPECT(zmq_adaptor_config_init(&cfg), ZMQ_ADAPTOR_OK);
    if (cfg.curve_server_key != NULL || cfg.curve_public_key != NULL || cfg.curve_secret_key != NULL) {
        fprintf(stderr, "FAIL config_init: curve keys not NULL\n");
        failures++;
    }
    cfg.endpoint = argv[1];
    cfg.curve_server_key = argv[3];
    cfg.curve_public_key = argv[4];
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_BAD_KEY); /* partial */
    cfg.curve_secret_key = "too-short";
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_BAD_KEY); /* malformed */
    cfg.curve_public_key = argv[3];
    cfg.curve_secret_key = argv[5];
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_ERR_BAD_KEY); /* mismatched */
    cfg.curve_public_key = argv[4];
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_OK);

    char rec[32];
    for (long i = 0; i < count; i++) {
        int n = snprintf(rec, sizeof rec, "c-curve-%07ld", i);
        EXPECT(zmq_adaptor_log((const uint8_t *)rec, (size_t)n), ZMQ_ADAPTOR_OK);
    }
    EXPECT(zmq_adaptor_flush(20000), ZMQ_ADAPTOR_OK);
    zmq_adaptor_stats st;
    EXPECT(zmq_adaptor_stats_get(&st), ZMQ_ADAPTOR_OK);
    printf("enqueued=%llu\n", (unsigned long long)st.enqueued);
    return failures == 0 ? 0 : 1;
}

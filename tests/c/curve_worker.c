/* A C worker logging over tcp + CURVE through the logger C ABI.
 * usage: curve_worker ENDPOINT COUNT SERVER_KEY PUBLIC_KEY SECRET_KEY  (Z85 keys)
 *        curve_worker ENDPOINT COUNT --files SERVER_CERT SECRET_CERT OPEN_SECRET_CERT
 * With keys: checks the key error paths (partial, malformed, mismatched:
 * ZMQ_ADAPTOR_ERR_BAD_KEY). With --files: reads the keys from certificate files with
 * zmq_adaptor_curve_keys_load, after checking its error paths (NULL, a public
 * certificate given as the secret one, a secret certificate others may read).
 * Then logs COUNT records "c-curve-NNNNNNN" and waits until the adaptor acknowledged
 * them all. Exit 0 when every check held and flush succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq_adaptor.h>

#include "expect.h"

/* Keys from certificate files, with the loader's error paths checked first. */
static int from_files(const char *endpoint, const char *server, const char *secret,
                      const char *open_secret) {
    zmq_adaptor_curve_keys keys;
    char err[256];
    memset(&keys, 0, sizeof keys);
    EXPECT(zmq_adaptor_curve_keys_load(NULL, secret, &keys, err, sizeof err), ZMQ_ADAPTOR_ERR_NULL);
    EXPECT(zmq_adaptor_curve_keys_load(server, secret, NULL, err, sizeof err), ZMQ_ADAPTOR_ERR_NULL);
    err[0] = '\0';
    EXPECT(zmq_adaptor_curve_keys_load(server, server, &keys, err, sizeof err), ZMQ_ADAPTOR_ERR_BAD_KEY);
    if (strstr(err, "no secret-key") == NULL || strstr(err, server) == NULL) {
        fprintf(stderr, "FAIL public certificate as secret: reason \"%s\"\n", err);
        failures++;
    }
    err[0] = '\0';
    EXPECT(zmq_adaptor_curve_keys_load(server, open_secret, &keys, err, sizeof err), ZMQ_ADAPTOR_ERR_BAD_KEY);
    if (strstr(err, open_secret) == NULL) {
        fprintf(stderr, "FAIL readable secret: reason \"%s\"\n", err);
        failures++;
    }
    err[0] = 'x';
    EXPECT(zmq_adaptor_curve_keys_load(server, open_secret, &keys, err, 1), ZMQ_ADAPTOR_ERR_BAD_KEY);
    if (err[0] != '\0') {
        fprintf(stderr, "FAIL a 1-byte reason buffer gets only the NUL\n");
        failures++;
    }
    if (keys.secret_key[0] != '\0') {
        fprintf(stderr, "FAIL keys written on failure\n");
        failures++;
    }
    EXPECT(zmq_adaptor_curve_keys_load(server, secret, &keys, NULL, 0), ZMQ_ADAPTOR_OK);
    if (strlen(keys.server_key) != 40 || strlen(keys.public_key) != 40 || strlen(keys.secret_key) != 40) {
        fprintf(stderr, "FAIL keys are not 40 characters each\n");
        failures++;
    }
    zmq_adaptor_config cfg;
    EXPECT(zmq_adaptor_config_init(&cfg), ZMQ_ADAPTOR_OK);
    cfg.endpoint = endpoint;
    cfg.curve_server_key = keys.server_key;
    cfg.curve_public_key = keys.public_key;
    cfg.curve_secret_key = keys.secret_key;
    EXPECT(zmq_adaptor_configure(&cfg), ZMQ_ADAPTOR_OK);
    /* configure copied the keys: the caller wipes its own. */
    memset(&keys, 0, sizeof keys);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 7 && strcmp(argv[3], "--files") == 0) {
        long count = strtol(argv[2], NULL, 10);
        from_files(argv[1], argv[4], argv[5], argv[6]);
        char rec[32];
        for (long i = 0; i < count; i++) {
            int n = snprintf(rec, sizeof rec, "c-curve-%07ld", i);
            EXPECT(zmq_adaptor_log((const uint8_t *)rec, (size_t)n), ZMQ_ADAPTOR_OK);
        }
        EXPECT(zmq_adaptor_flush(20000), ZMQ_ADAPTOR_OK);
        return failures == 0 ? 0 : 1;
    }
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

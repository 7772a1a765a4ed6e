/* Logging across fork(): the parent logs, forks; parent and child both log after
 * the fork. The child gets its own logger (own queue, drainer and ZeroMQ context)
 * and leaves the parent's alone. Both exit with records queued; the exit linger
 * delivers them. usage: fork ENDPOINT COUNT */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq_adaptor.h>

static int log_range(const char *who, long from, long to) {
    char buf[64];
    for (long i = from; i < to; i++) {
        int n = snprintf(buf, sizeof buf, "%s-%07ld", who, i);
        int rc = zmq_adaptor_log((const uint8_t *)buf, (size_t)n);
        if (rc != ZMQ_ADAPTOR_OK) {
            fprintf(stderr, "%s: log failed: %s\n", who, zmq_adaptor_strerror(rc));
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ENDPOINT COUNT\n", argv[0]);
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);
    zmq_adaptor_config cfg;
    zmq_adaptor_config_init(&cfg);
    cfg.endpoint = argv[1];
    if (zmq_adaptor_configure(&cfg) != ZMQ_ADAPTOR_OK) return 3;

    /* Parent starts its logger before the fork. */
    if (log_range("parent", 0, count / 2)) return 4;

    pid_t pid = fork();
    if (pid < 0) return 5;
    if (pid == 0) {
        zmq_adaptor_stats st;
        zmq_adaptor_stats_get(&st);
        /* A fresh logger: nothing inherited. */
        if (st.enqueued != 0) {
            fprintf(stderr, "child inherited counters: %llu\n", (unsigned long long)st.enqueued);
            _exit(6);
        }
        int rc = log_range("child", 0, count);
        exit(rc); /* exit(), not _exit(): the exit linger delivers the child's queue */
    }
    int rc = log_range("parent", count / 2, count);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed: %d\n", status);
        return 7;
    }
    printf("ok\n");
    return rc;
}

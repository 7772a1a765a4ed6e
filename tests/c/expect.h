/* The checks shared by the C test programs: EXPECT(call, code) compares a result
 * code, reports a mismatch on stderr with the library's text for it, and counts it
 * in `failures` (the program exits non-zero when it is not 0). */
#ifndef ZMQ_ADAPTOR_TEST_EXPECT_H
#define ZMQ_ADAPTOR_TEST_EXPECT_H

#include <stdio.h>
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

#endif

/*
 * wf_test.h — the unit tests' tiny harness. A test file defines test
 * functions, lists them in main() with WF_RUN, and returns wf_test_done().
 * CHECK records a failure and goes on, so one run shows every broken case.
 */
#ifndef WF_TEST_H
#define WF_TEST_H

#include <stdio.h>
#include <string.h>

static int wf_test_failures;
static int wf_test_checks;

#define CHECK(cond)                                                            \
    do {                                                                       \
        wf_test_checks++;                                                      \
        if (!(cond)) {                                                         \
            wf_test_failures++;                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long wf_a_ = (long long)(a), wf_b_ = (long long)(b);              \
        wf_test_checks++;                                                      \
        if (wf_a_ != wf_b_) {                                                  \
            wf_test_failures++;                                                \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n",          \
                    __FILE__, __LINE__, #a, #b, wf_a_, wf_b_);                 \
        }                                                                      \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                     \
    do {                                                                       \
        const char *wf_a_ = (a), *wf_b_ = (b);                                 \
        wf_test_checks++;                                                      \
        if (wf_a_ == NULL || wf_b_ == NULL || strcmp(wf_a_, wf_b_) != 0) {     \
            wf_test_failures++;                                                \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n",      \
                    __FILE__, __LINE__, #a, #b, wf_a_ ? wf_a_ : "(null)",      \
                    wf_b_ ? wf_b_ : "(null)");                                 \
        }                                                                      \
    } while (0)

#define WF_RUN(fn)                                                             \
    do {                                                                       \
        int wf_before_ = wf_test_failures;                                     \
        fn();                                                                  \
        printf("%s %s\n", wf_before_ == wf_test_failures ? "ok  " : "FAIL",    \
               #fn);                                                           \
    } while (0)

static inline int wf_test_done(void)
{
    printf("%d checks, %d failed\n", wf_test_checks, wf_test_failures);
    return wf_test_failures ? 1 : 0;
}

#endif

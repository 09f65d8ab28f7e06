/*
 * test_init_spawn.c — running tools (src/init/spawn.c) with argv arrays:
 * stdin/stdout/stderr plumbing without deadlock, exit status and signals,
 * a missing tool, a tool that ignores its input, the timeout, and SIGPIPE
 * restored to default in the tool. Uses only sh, cat and sleep.
 */
#include "../../../src/init/rules.c"
#include "../../../src/init/spawn.c"

#include "wf_test.h"

static void test_roundtrip_large_input(void)
{
    /* 4 MiB through cat: far more than a pipe holds in either direction, so
     * writing and reading must interleave. */
    size_t n = 4u << 20;
    char *in = malloc(n);
    CHECK(in != NULL);
    if (in == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    wf_init_text_t out = {0}, err = {0};
    char *argv[] = {"cat", NULL};
    CHECK_EQ_INT(wf_init_run(argv, (wf_str_t){in, n}, &out, &err, 30000), 0);
    CHECK_EQ_INT(out.len, n);
    CHECK(out.ptr != NULL && memcmp(out.ptr, in, n) == 0);
    CHECK_EQ_INT(err.len, 0);
    wf_init_text_free(&out);
    wf_init_text_free(&err);
    free(in);
}

static void test_status_and_stderr(void)
{
    wf_init_text_t out = {0}, err = {0};
    char *argv[] = {"sh", "-c", "echo to-out; echo 'line 3 failed' >&2; exit 3", NULL};
    CHECK_EQ_INT(wf_init_run(argv, WF_STR_NULL, &out, &err, 30000), 3);
    CHECK_EQ_STR(out.ptr, "to-out\n");
    CHECK_EQ_STR(err.ptr, "line 3 failed\n");
    wf_init_text_free(&out);
    wf_init_text_free(&err);

    /* Outputs may be discarded. */
    CHECK_EQ_INT(wf_init_run(argv, WF_STR("ignored"), NULL, NULL, 30000), 3);

    /* Arguments are passed as they are: no shell sees them. */
    char *echo[] = {"sh", "-c", "printf '%s|' \"$@\"", "sh", "a b", "$HOME", "'; exit 9", NULL};
    CHECK_EQ_INT(wf_init_run(echo, WF_STR_NULL, &out, NULL, 30000), 0);
    CHECK_EQ_STR(out.ptr, "a b|$HOME|'; exit 9|");
    wf_init_text_free(&out);
}

static void test_signal_and_missing(void)
{
    char *argv[] = {"sh", "-c", "kill -TERM $$", NULL};
    CHECK_EQ_INT(wf_init_run(argv, WF_STR_NULL, NULL, NULL, 30000), 128 + SIGTERM);

    char *missing[] = {"weft-init-no-such-tool", NULL};
    CHECK_EQ_INT(wf_init_run(missing, WF_STR_NULL, NULL, NULL, 30000), -ENOENT);
    char *abs[] = {"/nonexistent/iptables-nft-save", "-t", "nat", NULL};
    CHECK_EQ_INT(wf_init_run(abs, WF_STR_NULL, NULL, NULL, 30000), -ENOENT);
}

static void test_tool_ignores_input(void)
{
    /* The tool exits without reading 1 MiB of input: we get its status, not
     * a SIGPIPE death (the test ignores SIGPIPE, as main() does). */
    size_t n = 1u << 20;
    char *in = calloc(1, n);
    CHECK(in != NULL);
    if (in == NULL)
        return;
    char *argv[] = {"sh", "-c", "exit 4", NULL};
    CHECK_EQ_INT(wf_init_run(argv, (wf_str_t){in, n}, NULL, NULL, 30000), 4);
    free(in);
}

static void test_timeout(void)
{
    char *argv[] = {"sleep", "30", NULL};
    CHECK_EQ_INT(wf_init_run(argv, WF_STR_NULL, NULL, NULL, 200), WF_ETIMEDOUT);
}

static void test_sigpipe_default_in_tool(void)
{
    /* SigIgn is a hex mask; SIGPIPE (13) is bit 12 (0x1000). */
    wf_init_text_t out = {0};
    char *argv[] = {"sh", "-c", "grep '^SigIgn:' /proc/self/status", NULL};
    CHECK_EQ_INT(wf_init_run(argv, WF_STR_NULL, &out, NULL, 30000), 0);
    unsigned long long mask = 0;
    CHECK(out.ptr != NULL && sscanf(out.ptr, "SigIgn: %llx", &mask) == 1);
    CHECK((mask & (1ull << (SIGPIPE - 1))) == 0);
    wf_init_text_free(&out);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    WF_RUN(test_roundtrip_large_input);
    WF_RUN(test_status_and_stderr);
    WF_RUN(test_signal_and_missing);
    WF_RUN(test_tool_ignores_input);
    WF_RUN(test_timeout);
    WF_RUN(test_sigpipe_default_in_tool);
    return wf_test_done();
}

/*
 * test_local_ipam.c — local mode's address allocator (pod IPs, Service
 * VIPs), netns naming, and the kubectl-style option parser.
 */
#include "../../../src/cli/local_cli.c"
#include "../../../src/cli/local_ipam.c"

#include "wf_test.h"

#include <stdlib.h>

static void test_alloc_order_and_skips(void)
{
    wf_lm_ipam_t ip;
    char a[16];
    CHECK_EQ_INT(wf_lm_ipam_init(&ip, "10.42.0.0/16", 256), 0);
    CHECK_EQ_INT(wf_lm_ipam_alloc(&ip, a), 0);
    CHECK_EQ_STR(a, "10.42.1.1"); /* .0 is never handed out */
    CHECK_EQ_INT(wf_lm_ipam_alloc(&ip, a), 0);
    CHECK_EQ_STR(a, "10.42.1.2");
    CHECK_EQ_INT(wf_lm_ipam_offset(&ip, "10.42.1.2"), 258);
    CHECK_EQ_INT(wf_lm_ipam_offset(&ip, "10.43.0.1"), -1);
    /* Round-robin: a freed address is not reused at once. */
    wf_lm_ipam_release(&ip, "10.42.1.1");
    CHECK_EQ_INT(wf_lm_ipam_alloc(&ip, a), 0);
    CHECK_EQ_STR(a, "10.42.1.3");
    CHECK_EQ_INT(ip.used_n, 2);
    /* Reserved offsets and foreign addresses are refused; doubles too. */
    CHECK_EQ_INT(wf_lm_ipam_reserve(&ip, "10.42.0.2"), WF_ERANGE);
    CHECK_EQ_INT(wf_lm_ipam_reserve(&ip, "10.42.9.255"), WF_ERANGE);
    CHECK_EQ_INT(wf_lm_ipam_reserve(&ip, "192.168.1.1"), WF_ERANGE);
    CHECK_EQ_INT(wf_lm_ipam_reserve(&ip, "10.42.1.2"), -EEXIST);
    CHECK_EQ_INT(wf_lm_ipam_reserve(&ip, "10.42.7.7"), 0);
    wf_lm_ipam_release(&ip, "10.99.0.1"); /* unknown: ignored */
    wf_lm_ipam_release(&ip, "10.42.200.200");
    CHECK_EQ_INT(ip.used_n, 3);
    wf_lm_ipam_free(&ip);
}

static void test_exhaustion_and_wrap(void)
{
    wf_lm_ipam_t ip;
    char a[16];
    /* A /29 has 8 offsets; with the first 2 reserved, .2-.7 remain. */
    CHECK_EQ_INT(wf_lm_ipam_init(&ip, "10.43.0.0/29", 2), 0);
    int n = 0;
    while (wf_lm_ipam_alloc(&ip, a) == 0)
        n++;
    CHECK_EQ_INT(n, 6);
    CHECK_EQ_INT(wf_lm_ipam_alloc(&ip, a), WF_ELIMIT);
    wf_lm_ipam_release(&ip, "10.43.0.3");
    CHECK_EQ_INT(wf_lm_ipam_alloc(&ip, a), 0); /* wraps to the freed one */
    CHECK_EQ_STR(a, "10.43.0.3");
    wf_lm_ipam_free(&ip);
    CHECK_EQ_INT(wf_lm_ipam_init(&ip, "10.43.0.0/8", 2), WF_EINVAL);
    CHECK_EQ_INT(wf_lm_ipam_init(&ip, "bogus/16", 2), WF_EINVAL);
    CHECK_EQ_INT(wf_lm_ipam_init(&ip, "10.43.0.0", 2), WF_EINVAL);
}

static void test_opts(void)
{
    const char *files[4], *ns = NULL, *pos[4];
    size_t nfiles = 0, npos = 0;
    bool all = false;
    wf_lm_opt_t opts[] = {
        {'f', "filename", NULL, NULL, files, &nfiles, 4},
        {'n', "namespace", &ns, NULL, NULL, NULL, 0},
        {'A', "all-namespaces", NULL, &all, NULL, NULL, 0},
    };
    char err[128];
    char *a1[] = {"-f", "a.yaml", "--filename=b", "pods", "-n", "shop", "-A", "--", "-x", "y"};
    int before = wf_lm_opts_parse(10, a1, opts, 3, pos, 4, &npos, err, sizeof(err));
    CHECK_EQ_INT(before, 1);
    CHECK_EQ_INT(npos, 3);
    CHECK_EQ_INT(nfiles, 2);
    CHECK_EQ_STR(files[1], "b");
    CHECK_EQ_STR(ns, "shop");
    CHECK(all);
    CHECK_EQ_STR(pos[1], "-x");
    char *a2[] = {"-n", "a", "-n", "b"};
    CHECK_EQ_INT(wf_lm_opts_parse(4, a2, opts, 3, pos, 4, &npos, err, sizeof(err)), -1);
    CHECK(strstr(err, "more than once") != NULL);
    char *a3[] = {"--nope"};
    CHECK_EQ_INT(wf_lm_opts_parse(1, a3, opts, 3, pos, 4, &npos, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "unknown flag \"--nope\"");
    char *a4[] = {"-n"};
    CHECK_EQ_INT(wf_lm_opts_parse(1, a4, opts, 3, pos, 4, &npos, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "flag --namespace needs a value");
    char *a5[] = {"x", "y"};
    CHECK_EQ_INT(wf_lm_opts_parse(2, a5, opts, 3, pos, 1, &npos, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "unexpected argument \"y\"");
    char *a6[] = {"-A=1"};
    CHECK_EQ_INT(wf_lm_opts_parse(1, a6, opts, 3, pos, 1, &npos, err, sizeof(err)), -1);
}

int main(void)
{
    WF_RUN(test_alloc_order_and_skips);
    WF_RUN(test_exhaustion_and_wrap);
    WF_RUN(test_opts);
    return wf_test_done();
}

/*
 * test_identity_cli.c — the `weft` CLI's pure parts (src/cli): the flag
 * parser, --not-after values, span formatting; and `weft identity` run in
 * process for its exit codes (2 usage, 1 runtime, 0 ok) and a full
 * create-root -> create-issuer -> inspect --anchor round trip, so the
 * sanitizer build sees every CLI path free what it allocates.
 */
#include "../../../src/cli/cli.c"
#include "../../../src/cli/identity.c"
#include "../../../src/cli/identity_inspect.c"

#include "wf_test.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

static char err[512];

static void test_flags(void)
{
    const char *out = NULL, *name = NULL;
    bool force = false, given = false;
    const wf_cli_flag_t flags[] = {
        {"out", &out, &given},
        {"name", &name, NULL},
        {"force", NULL, &force},
    };
    const char *pos[2];
    size_t npos;
    char *a1[] = {"--out", "x.crt", "p1", "--name=n", "--force", "--", "--p2"};
    CHECK_EQ_INT(wf_cli_parse_flags(7, a1, flags, 3, pos, 2, &npos, err, sizeof(err)), 0);
    CHECK_EQ_STR(out, "x.crt");
    CHECK_EQ_STR(name, "n");
    CHECK(force && given);
    CHECK_EQ_INT(npos, 2);
    CHECK_EQ_STR(pos[0], "p1");
    CHECK_EQ_STR(pos[1], "--p2");

    char *a2[] = {"--bogus"};
    CHECK_EQ_INT(wf_cli_parse_flags(1, a2, flags, 3, pos, 2, &npos, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "unknown flag \"--bogus\"");
    char *a3[] = {"--out"};
    CHECK_EQ_INT(wf_cli_parse_flags(1, a3, flags, 3, pos, 2, &npos, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "flag --out needs a value");
    char *a4[] = {"--force=yes"};
    CHECK_EQ_INT(wf_cli_parse_flags(1, a4, flags, 3, pos, 2, &npos, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "flag --force takes no value");
    char *a5[] = {"--out", "a", "--out", "b"};
    CHECK_EQ_INT(wf_cli_parse_flags(4, a5, flags, 3, pos, 2, &npos, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "flag --out given more than once");
    char *a6[] = {"a", "b", "c"};
    CHECK_EQ_INT(wf_cli_parse_flags(3, a6, flags, 3, pos, 2, &npos, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "unexpected argument \"c\"");
    char *a7[] = {"-x"};
    CHECK_EQ_INT(wf_cli_parse_flags(1, a7, flags, 3, pos, 2, &npos, err, sizeof(err)), WF_EINVAL);
    CHECK(strstr(err, "unknown flag \"-x\"") == err);
    char *a8[] = {"--out="};
    CHECK_EQ_INT(wf_cli_parse_flags(1, a8, flags, 3, pos, 2, &npos, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "flag --out: empty value");
    /* A prefix of a flag's name is not that flag. */
    char *a9[] = {"--for"};
    CHECK_EQ_INT(wf_cli_parse_flags(1, a9, flags, 3, pos, 2, &npos, err, sizeof(err)), WF_EINVAL);
}

static void test_not_after(void)
{
    time_t now = 1700000000, t = 0;
    CHECK_EQ_INT(wf_cli_identity_not_after("not-after", "8760h", now, &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t, now + 8760LL * 3600);
    CHECK_EQ_INT(wf_cli_identity_not_after("not-after", "1h30m", now, &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t, now + 5400);
    CHECK_EQ_INT(
        wf_cli_identity_not_after("not-after", "2030-01-01T00:00:00Z", now, &t, err, sizeof(err)),
        0);
    CHECK_EQ_INT(t, 1893456000);
    CHECK_EQ_INT(
        wf_cli_identity_not_after("not-after", "2020-01-01T00:00:00Z", now, &t, err, sizeof(err)),
        WF_EINVAL);
    CHECK_EQ_STR(err, "--not-after: time \"2020-01-01T00:00:00Z\" is not in the future");
    CHECK_EQ_INT(wf_cli_identity_not_after("not-after", "10y", now, &t, err, sizeof(err)),
                 WF_EINVAL);
    CHECK(strstr(err, "--not-after: invalid duration \"10y\"") == err);
    CHECK_EQ_INT(wf_cli_identity_not_after("not-after", "0s", now, &t, err, sizeof(err)),
                 WF_EINVAL);
    CHECK_EQ_STR(err, "--not-after: duration \"0s\" is zero or too large");
    CHECK_EQ_INT(wf_cli_identity_not_after("not-after", "99999999999h", now, &t, err, sizeof(err)),
                 WF_EINVAL);
    CHECK(strstr(err, "year 9999") != NULL);
}

static void test_span(void)
{
    char s[64];
    wf_cli_identity_span(87600LL * 3600, s, sizeof(s));
    CHECK_EQ_STR(s, "3650d 0h");
    wf_cli_identity_span(5 * 3600 + 3 * 60 + 9, s, sizeof(s));
    CHECK_EQ_STR(s, "5h 3m");
    wf_cli_identity_span(250, s, sizeof(s));
    CHECK_EQ_STR(s, "4m 10s");
    wf_cli_identity_span(-12, s, sizeof(s));
    CHECK_EQ_STR(s, "12s");
}

/* Runs `weft identity ARGS...` in process with stdout/stderr discarded. */
static int identity(const char *first, ...)
{
    char *argv[32] = {"identity"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    int rc = wf_cli_identity_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    close(null);
    return rc;
}

static void test_exit_codes(void)
{
    CHECK_EQ_INT(identity(NULL), WF_CLI_EXIT_USAGE);
    CHECK_EQ_INT(identity("nope", NULL), WF_CLI_EXIT_USAGE);
    CHECK_EQ_INT(identity("--help", NULL), WF_CLI_EXIT_OK);
    CHECK_EQ_INT(identity("create-root", "--help", NULL), WF_CLI_EXIT_OK);
    CHECK_EQ_INT(identity("create-root", "--out-cert", "a", NULL), WF_CLI_EXIT_USAGE);
    CHECK_EQ_INT(
        identity("create-root", "--out-cert", "a", "--out-key", "b", "--not-after", "1y", NULL),
        WF_CLI_EXIT_USAGE);
    CHECK_EQ_INT(identity("create", "n", "a", "b", "--profile", "bogus", NULL), WF_CLI_EXIT_USAGE);
    CHECK_EQ_INT(identity("create", "n", "a", "b", "--profile", "root-ca", "--ca", "x", NULL),
                 WF_CLI_EXIT_USAGE);
    CHECK_EQ_INT(identity("inspect", NULL), WF_CLI_EXIT_USAGE);
    CHECK_EQ_INT(identity("inspect", "/nonexistent/x.crt", NULL), WF_CLI_EXIT_FAILURE);
}

static void test_round_trip(void)
{
    char dir[] = "/tmp/wf-test-identity-cli.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char ca[300], cak[300], is[300], isk[300];
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(cak, sizeof(cak), "%s/ca.key", dir);
    snprintf(is, sizeof(is), "%s/issuer.crt", dir);
    snprintf(isk, sizeof(isk), "%s/issuer.key", dir);
    CHECK_EQ_INT(identity("create-root", "--out-cert", ca, "--out-key", cak, NULL), 0);
    CHECK_EQ_INT(identity("create-root", "--out-cert", ca, "--out-key", cak, NULL),
                 WF_CLI_EXIT_FAILURE); /* exists */
    CHECK_EQ_INT(identity("create-issuer", "--ca-cert", ca, "--ca-key", cak, "--out-cert", is,
                          "--out-key", isk, "--not-after", "999999h", NULL),
                 0); /* capped at the root's notAfter */
    STACK_OF(X509) *a = NULL, *b = NULL;
    if (wf_cert_load_certs(ca, &a, err, sizeof(err)) == 0 &&
        wf_cert_load_certs(is, &b, err, sizeof(err)) == 0) {
        time_t nb1, na1, nb2, na2;
        wf_cert_validity(sk_X509_value(a, 0), &nb1, &na1);
        wf_cert_validity(sk_X509_value(b, 0), &nb2, &na2);
        CHECK_EQ_INT(na2, na1);
    } else {
        CHECK(!"load");
    }
    sk_X509_pop_free(a, X509_free);
    sk_X509_pop_free(b, X509_free);
    struct stat st;
    CHECK(stat(isk, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_EQ_INT(identity("inspect", is, "--anchor", ca, NULL), 0);
    CHECK_EQ_INT(identity("inspect", is, "--anchor", ca, "--format", "json", NULL), 0);
    CHECK_EQ_INT(identity("inspect", ca, "--anchor", is, NULL), WF_CLI_EXIT_FAILURE);
    /* The issuer (pathlen 0) cannot sign another issuer. */
    char x[300], xk[300];
    snprintf(x, sizeof(x), "%s/x.crt", dir);
    snprintf(xk, sizeof(xk), "%s/x.key", dir);
    CHECK_EQ_INT(identity("create", "x", x, xk, "--profile", "intermediate-ca", "--ca", is,
                          "--ca-key", isk, NULL),
                 WF_CLI_EXIT_FAILURE);
    CHECK(access(x, F_OK) != 0 && access(xk, F_OK) != 0);
    CHECK_EQ_INT(identity("create", "leaf.example", x, xk, "--ca", is, "--ca-key", isk, NULL), 0);
    CHECK_EQ_INT(identity("inspect", x, "--anchor", ca, NULL),
                 WF_CLI_EXIT_FAILURE); /* no intermediate */
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    WF_RUN(test_flags);
    WF_RUN(test_not_after);
    WF_RUN(test_span);
    WF_RUN(test_exit_codes);
    WF_RUN(test_round_trip);
    return wf_test_done();
}

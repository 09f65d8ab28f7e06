/*
 * identity.c — `weft identity`: creates the mesh's certificate hierarchy
 * (trust anchor -> identity issuer, and leaves for tests) the way the seed
 * does with `step certificate create`, and dispatches `inspect`.
 *
 * Keys are ECDSA P-256, never encrypted (like step's --no-password
 * --insecure), written 0600 and never over an existing file unless --force.
 * The key is written before the certificate, so a failure never leaves a
 * certificate whose key is lost.
 */
#include "identity.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int wf_cli_identity_not_after(const char *flag, const char *value, time_t now, time_t *out,
                              char *err, size_t errlen)
{
    int64_t secs;
    int rc = wf_cert_parse_duration(value, &secs);
    if (rc == 0) {
        if (secs > INT64_MAX - (int64_t)now || (int64_t)now + secs > 253402300799LL) {
            snprintf(err, errlen, "--%s: duration \"%s\" ends after the year 9999", flag, value);
            return WF_EINVAL;
        }
        *out = (time_t)((int64_t)now + secs);
        return 0;
    }
    struct tm tm = {0};
    const char *end = strptime(value, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end != NULL && *end == '\0') {
        time_t t = timegm(&tm);
        if (t <= now) {
            snprintf(err, errlen, "--%s: time \"%s\" is not in the future", flag, value);
            return WF_EINVAL;
        }
        *out = t;
        return 0;
    }
    if (rc == WF_ERANGE && value[0] != '\0')
        snprintf(err, errlen, "--%s: duration \"%s\" is zero or too large", flag, value);
    else
        snprintf(err, errlen,
                 "--%s: invalid duration \"%s\" (expected e.g. 8760h, 30m, 1h30m, 90d, or a time "
                 "like 2030-01-01T00:00:00Z)",
                 flag, value);
    return WF_EINVAL;
}

void wf_cli_identity_span(int64_t secs, char *out, size_t outlen)
{
    if (secs < 0)
        secs = -secs;
    int64_t d = secs / 86400, h = secs % 86400 / 3600, m = secs % 3600 / 60, s = secs % 60;
    if (d > 0)
        snprintf(out, outlen, "%lldd %lldh", (long long)d, (long long)h);
    else if (h > 0)
        snprintf(out, outlen, "%lldh %lldm", (long long)h, (long long)m);
    else if (m > 0)
        snprintf(out, outlen, "%lldm %llds", (long long)m, (long long)s);
    else
        snprintf(out, outlen, "%llds", (long long)s);
}

/* What one `create` run needs; strings are borrowed from argv. */
typedef struct wf_cli_create {
    wf_cert_kind_t kind;
    const char *name;
    const char *out_cert;
    const char *out_key;
    const char *ca_cert; /* NULL for a root */
    const char *ca_key;
    const char *not_after; /* NULL: the kind's default */
    bool force;
} wf_cli_create_t;

static const char *wf_cli_kind_label(wf_cert_kind_t kind)
{
    switch (kind) {
    case WF_CERT_ROOT_CA:
        return "trust anchor (root CA)";
    case WF_CERT_INTERMEDIATE_CA:
        return "identity issuer (intermediate CA)";
    case WF_CERT_LEAF:
        return "leaf certificate";
    }
    return "certificate";
}

static void wf_cli_fmt_time(time_t t, char *out, size_t outlen)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Creates one certificate and key. Usage errors (bad values) are checked
 * before any file is touched and return WF_CLI_EXIT_USAGE.
 */
static int wf_cli_identity_create(const wf_cli_create_t *c)
{
    char err[512];
    time_t now = time(NULL);
    const char *dflt = c->kind == WF_CERT_ROOT_CA           ? WF_CLI_ROOT_VALIDITY
                       : c->kind == WF_CERT_INTERMEDIATE_CA ? WF_CLI_ISSUER_VALIDITY
                                                            : WF_CLI_LEAF_VALIDITY;
    time_t not_after;
    if (wf_cli_identity_not_after("not-after", c->not_after ? c->not_after : dflt, now, &not_after,
                                  err, sizeof(err)) != 0) {
        wf_cli_errorf("%s", err);
        return WF_CLI_EXIT_USAGE;
    }
    if (strcmp(c->out_cert, c->out_key) == 0) {
        wf_cli_errorf("the certificate and the key would both be written to %s", c->out_cert);
        return WF_CLI_EXIT_USAGE;
    }
    if (c->kind != WF_CERT_LEAF && strlen(c->name) > WF_CERT_CN_MAX) {
        wf_cli_errorf("name \"%s\" is longer than %d characters (a CA name is its subject CN)",
                      c->name, WF_CERT_CN_MAX);
        return WF_CLI_EXIT_USAGE;
    }
    /* Refuse early, before generating anything, when an output exists. */
    struct stat st;
    const char *outs[2] = {c->out_key, c->out_cert};
    for (size_t i = 0; i < 2 && !c->force; i++) {
        if (lstat(outs[i], &st) == 0) {
            wf_cli_errorf(
                "%s: already exists; refusing to overwrite it (use --force to replace it)",
                outs[i]);
            return WF_CLI_EXIT_FAILURE;
        }
    }

    int ret = WF_CLI_EXIT_FAILURE;
    STACK_OF(X509) *ca_chain = NULL;
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    if (c->ca_cert != NULL) {
        if (wf_cert_load_certs(c->ca_cert, &ca_chain, err, sizeof(err)) != 0 ||
            wf_cert_load_key(c->ca_key, &ca_key, err, sizeof(err)) != 0) {
            wf_cli_errorf("%s", err);
            goto out;
        }
        ca = sk_X509_value(ca_chain, 0); /* the first certificate in the file signs */
        if (wf_cert_check_signer(ca, ca_key, c->kind, now, c->ca_cert, c->ca_key, err,
                                 sizeof(err)) != 0) {
            wf_cli_errorf("%s", err);
            goto out;
        }
        time_t ca_nb, ca_na;
        if (wf_cert_validity(ca, &ca_nb, &ca_na) != 0) {
            wf_cli_errorf("%s: unreadable validity dates", c->ca_cert);
            goto out;
        }
        if (not_after > ca_na) {
            /* A certificate outliving its CA would fail verification after the
             * CA expires anyway; say so instead of issuing a misleading date. */
            char want[32], cap[32];
            wf_cli_fmt_time(not_after, want, sizeof(want));
            wf_cli_fmt_time(ca_na, cap, sizeof(cap));
            fprintf(stderr,
                    "weft: warning: --not-after %s (%s) is past the CA certificate's expiry; "
                    "capping the validity at %s\n",
                    c->not_after ? c->not_after : dflt, want, cap);
            not_after = ca_na;
        }
    }
    if (wf_cert_key_generate(&key) != 0) {
        wf_cli_errorf("generating an ECDSA P-256 key failed");
        goto out;
    }
    wf_cert_spec_t spec = {.kind = c->kind,
                           .name = c->name,
                           .not_before = now - WF_CERT_SKEW_SECS,
                           .not_after = not_after};
    if (wf_cert_build(&spec, key, ca, ca_key, &cert, err, sizeof(err)) != 0) {
        wf_cli_errorf("%s", err);
        goto out;
    }
    if (wf_cert_write_key(c->out_key, key, c->force, err, sizeof(err)) != 0) {
        wf_cli_errorf("%s", err);
        goto out;
    }
    if (wf_cert_write_cert(c->out_cert, cert, c->force, err, sizeof(err)) != 0) {
        wf_cli_errorf("%s", err);
        /* Without --force the key file is new and useless alone. */
        if (!c->force)
            unlink(c->out_key);
        goto out;
    }
    char until[32], fp[WF_CERT_FINGERPRINT_LEN];
    wf_cli_fmt_time(not_after, until, sizeof(until));
    wf_cert_fingerprint(cert, fp);
    printf("Created %s \"%s\", valid until %s\n", wf_cli_kind_label(c->kind), c->name, until);
    printf("  certificate: %s\n  private key: %s (mode 0600, not encrypted)\n", c->out_cert,
           c->out_key);
    if (c->ca_cert != NULL)
        printf("  signed by:   %s\n", c->ca_cert);
    printf("  sha256:      %s\n", fp);
    ret = WF_CLI_EXIT_OK;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    sk_X509_pop_free(ca_chain, X509_free);
    ERR_clear_error();
    return ret;
}

static const char wf_cli_root_usage[] =
    "usage: weft identity create-root --out-cert FILE --out-key FILE [flags]\n"
    "\n"
    "Creates the mesh's trust anchor: a self-signed root CA (ECDSA P-256, CA:TRUE pathlen 1,\n"
    "keyUsage keyCertSign+cRLSign) that proxies and `linkerd check`-style tools trust.\n"
    "\n"
    "Flags:\n"
    "  --out-cert FILE   where to write the certificate (PEM, mode 0644)\n"
    "  --out-key FILE    where to write the private key (PEM, mode 0600, never encrypted)\n"
    "  --name NAME       subject CN (default " WF_CLI_ROOT_NAME ")\n"
    "  --not-after D     validity: a duration like 87600h, 90d, 1h30m, or an RFC 3339 time\n"
    "                    (default " WF_CLI_ROOT_VALIDITY ", 10 years)\n"
    "  --force           replace existing output files\n";

static const char wf_cli_issuer_usage[] =
    "usage: weft identity create-issuer --ca-cert FILE --ca-key FILE --out-cert FILE --out-key "
    "FILE [flags]\n"
    "\n"
    "Creates the identity issuer: an intermediate CA (ECDSA P-256, CA:TRUE pathlen 0) signed by\n"
    "the trust anchor, which the identity service uses to sign workload certificates.\n"
    "Its validity is capped at the trust anchor's (with a warning).\n"
    "\n"
    "Flags:\n"
    "  --ca-cert FILE    the trust anchor's certificate (PEM)\n"
    "  --ca-key FILE     the trust anchor's private key (PEM, unencrypted)\n"
    "  --out-cert FILE   where to write the certificate (PEM, mode 0644)\n"
    "  --out-key FILE    where to write the private key (PEM, mode 0600, never encrypted)\n"
    "  --name NAME       subject CN (default " WF_CLI_ISSUER_NAME ")\n"
    "  --not-after D     validity: a duration like 8760h, 365d, or an RFC 3339 time\n"
    "                    (default " WF_CLI_ISSUER_VALIDITY ")\n"
    "  --force           replace existing output files\n";

static const char wf_cli_step_usage[] =
    "usage: weft identity create NAME CERT_FILE KEY_FILE --profile PROFILE [flags]\n"
    "\n"
    "The step CLI's spelling (`step certificate create`), for the seed's commands:\n"
    "  weft identity create root.linkerd.cluster.local ca.crt ca.key \\\n"
    "    --profile root-ca --no-password --insecure\n"
    "  weft identity create identity.linkerd.cluster.local issuer.crt issuer.key \\\n"
    "    --profile intermediate-ca --not-after 8760h --no-password --insecure \\\n"
    "    --ca ca.crt --ca-key ca.key\n"
    "\n"
    "Flags:\n"
    "  --profile P       root-ca, intermediate-ca or leaf (default leaf, as in step)\n"
    "  --ca FILE         signing CA certificate (intermediate-ca and leaf)\n"
    "  --ca-key FILE     signing CA private key\n"
    "  --not-after D     validity: a duration like 8760h or an RFC 3339 time (defaults:\n"
    "                    root-ca " WF_CLI_ROOT_VALIDITY ", intermediate-ca " WF_CLI_ISSUER_VALIDITY
    ", leaf " WF_CLI_LEAF_VALIDITY ")\n"
    "  --no-password, --insecure\n"
    "                    accepted and ignored: weft never encrypts keys (they are written\n"
    "                    unencrypted with mode 0600)\n"
    "  --force           replace existing output files\n";

/* Parses a subcommand's flags; prints the message and usage on error. */
static int wf_cli_identity_parse(int argc, char **argv, const wf_cli_flag_t *flags, size_t nflags,
                                 const char **pos, size_t maxpos, size_t *npos, const char *usage)
{
    char err[256];
    if (wf_cli_parse_flags(argc - 1, argv + 1, flags, nflags, pos, maxpos, npos, err,
                           sizeof(err)) != 0) {
        wf_cli_errorf("identity %s: %s", argv[0], err);
        fputs(usage, stderr);
        return WF_CLI_EXIT_USAGE;
    }
    return WF_CLI_EXIT_OK;
}

/* Reports a missing required flag. */
static int wf_cli_missing(const char *cmd, const char *what, const char *usage)
{
    wf_cli_errorf("identity %s: %s is required", cmd, what);
    fputs(usage, stderr);
    return WF_CLI_EXIT_USAGE;
}

static int wf_cli_create_root_main(int argc, char **argv)
{
    wf_cli_create_t c = {.kind = WF_CERT_ROOT_CA, .name = WF_CLI_ROOT_NAME};
    bool help = false;
    const wf_cli_flag_t flags[] = {
        {"out-cert", &c.out_cert, NULL},   {"out-key", &c.out_key, NULL}, {"name", &c.name, NULL},
        {"not-after", &c.not_after, NULL}, {"force", NULL, &c.force},     {"help", NULL, &help},
    };
    size_t npos;
    int rc = wf_cli_identity_parse(argc, argv, flags, WF_ARRAY_LEN(flags), NULL, 0, &npos,
                                   wf_cli_root_usage);
    if (rc != 0)
        return rc;
    if (help) {
        fputs(wf_cli_root_usage, stdout);
        return WF_CLI_EXIT_OK;
    }
    if (c.out_cert == NULL)
        return wf_cli_missing(argv[0], "--out-cert", wf_cli_root_usage);
    if (c.out_key == NULL)
        return wf_cli_missing(argv[0], "--out-key", wf_cli_root_usage);
    return wf_cli_identity_create(&c);
}

static int wf_cli_create_issuer_main(int argc, char **argv)
{
    wf_cli_create_t c = {.kind = WF_CERT_INTERMEDIATE_CA, .name = WF_CLI_ISSUER_NAME};
    bool help = false;
    const wf_cli_flag_t flags[] = {
        {"ca-cert", &c.ca_cert, NULL},   {"ca-key", &c.ca_key, NULL},
        {"out-cert", &c.out_cert, NULL}, {"out-key", &c.out_key, NULL},
        {"name", &c.name, NULL},         {"not-after", &c.not_after, NULL},
        {"force", NULL, &c.force},       {"help", NULL, &help},
    };
    size_t npos;
    int rc = wf_cli_identity_parse(argc, argv, flags, WF_ARRAY_LEN(flags), NULL, 0, &npos,
                                   wf_cli_issuer_usage);
    if (rc != 0)
        return rc;
    if (help) {
        fputs(wf_cli_issuer_usage, stdout);
        return WF_CLI_EXIT_OK;
    }
    const char *req[][2] = {{c.ca_cert, "--ca-cert"},
                            {c.ca_key, "--ca-key"},
                            {c.out_cert, "--out-cert"},
                            {c.out_key, "--out-key"}};
    for (size_t i = 0; i < WF_ARRAY_LEN(req); i++)
        if (req[i][0] == NULL)
            return wf_cli_missing(argv[0], req[i][1], wf_cli_issuer_usage);
    return wf_cli_identity_create(&c);
}

/* `weft identity create NAME CERT KEY --profile ...`: step's spelling. */
static int wf_cli_create_step_main(int argc, char **argv)
{
    wf_cli_create_t c = {.kind = WF_CERT_LEAF};
    const char *profile = "leaf";
    bool help = false, ignored = false;
    const wf_cli_flag_t flags[] = {
        {"profile", &profile, NULL},     {"ca", &c.ca_cert, NULL},
        {"ca-key", &c.ca_key, NULL},     {"not-after", &c.not_after, NULL},
        {"no-password", NULL, &ignored}, {"insecure", NULL, &ignored},
        {"force", NULL, &c.force},       {"help", NULL, &help},
    };
    const char *pos[3];
    size_t npos;
    int rc = wf_cli_identity_parse(argc, argv, flags, WF_ARRAY_LEN(flags), pos, 3, &npos,
                                   wf_cli_step_usage);
    if (rc != 0)
        return rc;
    if (help) {
        fputs(wf_cli_step_usage, stdout);
        return WF_CLI_EXIT_OK;
    }
    if (npos != 3) {
        wf_cli_errorf("identity create: expected NAME CERT_FILE KEY_FILE, got %zu argument%s", npos,
                      npos == 1 ? "" : "s");
        fputs(wf_cli_step_usage, stderr);
        return WF_CLI_EXIT_USAGE;
    }
    c.name = pos[0];
    c.out_cert = pos[1];
    c.out_key = pos[2];
    if (strcmp(profile, "root-ca") == 0) {
        c.kind = WF_CERT_ROOT_CA;
    } else if (strcmp(profile, "intermediate-ca") == 0) {
        c.kind = WF_CERT_INTERMEDIATE_CA;
    } else if (strcmp(profile, "leaf") == 0) {
        c.kind = WF_CERT_LEAF;
    } else {
        wf_cli_errorf("identity create: --profile: unknown profile \"%s\" (expected root-ca, "
                      "intermediate-ca or leaf)",
                      profile);
        return WF_CLI_EXIT_USAGE;
    }
    if (c.kind == WF_CERT_ROOT_CA && (c.ca_cert != NULL || c.ca_key != NULL)) {
        wf_cli_errorf(
            "identity create: --profile root-ca is self-signed; --ca/--ca-key do not apply");
        return WF_CLI_EXIT_USAGE;
    }
    if (c.kind != WF_CERT_ROOT_CA && (c.ca_cert == NULL || c.ca_key == NULL)) {
        wf_cli_errorf("identity create: --profile %s needs --ca and --ca-key", profile);
        return WF_CLI_EXIT_USAGE;
    }
    return wf_cli_identity_create(&c);
}

static const wf_cli_cmd_t wf_cli_identity_cmds[] = {
    {"create-root", "create a trust anchor (root CA) certificate and key", wf_cli_create_root_main},
    {"create-issuer", "create an identity issuer (intermediate CA) signed by the trust anchor",
     wf_cli_create_issuer_main},
    {"create", "the same, spelled like `step certificate create NAME CRT KEY --profile ...`",
     wf_cli_create_step_main},
    {"inspect", "show a certificate and check its chain against a trust anchor",
     wf_cli_identity_inspect_main},
};

static void wf_cli_identity_usage(FILE *f)
{
    fprintf(f, "usage: weft identity <command> [flags]\n\n"
               "Creates and inspects the mesh's certificates: trust anchor (root CA) ->\n"
               "identity issuer (intermediate CA) -> workload certificates. Keys are ECDSA\n"
               "P-256, written unencrypted with mode 0600. Commands:\n");
    wf_cli_cmd_list(f, wf_cli_identity_cmds, WF_ARRAY_LEN(wf_cli_identity_cmds));
    fprintf(f, "\nRun `weft identity <command> --help` for a command's flags.\n");
}

int wf_cli_identity_main(int argc, char **argv)
{
    if (argc < 2) {
        wf_cli_errorf("identity: a command is required");
        wf_cli_identity_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        wf_cli_identity_usage(stdout);
        return WF_CLI_EXIT_OK;
    }
    const wf_cli_cmd_t *cmd =
        wf_cli_cmd_find(wf_cli_identity_cmds, WF_ARRAY_LEN(wf_cli_identity_cmds), argv[1]);
    if (cmd == NULL) {
        wf_cli_errorf("identity: unknown command \"%s\"", argv[1]);
        wf_cli_identity_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    return cmd->run(argc - 1, argv + 1);
}

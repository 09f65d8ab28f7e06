/*
 * main.c — weft-init: installs (or with --clean removes) the nat rules that
 * send a pod's TCP traffic through its weft proxy, like Linkerd's
 * proxy-init. Thin glue: flags (cli.c) -> rules text (rules.c) -> the
 * iptables tools (spawn.c), once per family.
 *
 * Each family is one `iptables-save -t nat` (to see which jumps exist) and
 * one `iptables-restore --noflush` (atomic: all of that family's rules land
 * or none do). Exit codes are in cli.h.
 */
#include "cli.h"
#include "rules.h"
#include "spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* True if `name` is an executable file in one of the ':'-separated dirs. */
static bool wf_init_in_dirs(const char *dirs, const char *name, char *found, size_t foundlen)
{
    while (dirs != NULL && *dirs != '\0') {
        const char *colon = strchr(dirs, ':');
        size_t len = colon ? (size_t)(colon - dirs) : strlen(dirs);
        if (len > 0) {
            int n = snprintf(found, foundlen, "%.*s/%s", (int)len, dirs, name);
            if (n > 0 && (size_t)n < foundlen && access(found, X_OK) == 0)
                return true;
        }
        dirs = colon ? colon + 1 : NULL;
    }
    return false;
}

/*
 * --firewall-bin-path's default: iptables-nft (the backend Debian 12 and
 * Linkerd's nft mode use) if it is in PATH, else iptables. Init containers
 * often run with a PATH lacking the sbin directories, so those are tried
 * too, by absolute path. Falls back to the bare name "iptables", whose
 * failure to run then says what to set.
 */
static const char *wf_init_default_bin(void)
{
    static char found[PATH_MAX];
    static const char *const names[] = {"iptables-nft", "iptables"};
    for (size_t i = 0; i < WF_ARRAY_LEN(names); i++) {
        if (wf_init_in_dirs(getenv("PATH"), names[i], found, sizeof(found)))
            return names[i];
        if (wf_init_in_dirs("/usr/sbin:/sbin", names[i], found, sizeof(found)))
            return found;
    }
    return "iptables";
}

static const char *wf_init_family_name(wf_init_family_t family)
{
    return family == WF_INIT_IPV4 ? "IPv4" : "IPv6";
}

/* Counts the lines of t that start with `prefix`. */
static size_t wf_init_count_lines(const wf_init_text_t *t, const char *prefix)
{
    size_t n = 0, plen = strlen(prefix);
    for (size_t i = 0; i + plen <= t->len; i++)
        n += (i == 0 || t->ptr[i - 1] == '\n') && memcmp(t->ptr + i, prefix, plen) == 0;
    return n;
}

/* Reports a tool that failed: its exit status, its stderr and, when it
 * names a line of our input (iptables-restore: "line 5 failed"), that line. */
static void wf_init_report_failure(wf_init_family_t family, char *const argv[], int status,
                                   const wf_init_text_t *err, const wf_init_text_t *input)
{
    fprintf(stderr, "weft-init: %s: `%s", wf_init_family_name(family), argv[0]);
    for (int i = 1; argv[i] != NULL; i++)
        fprintf(stderr, " %s", argv[i]);
    if (status == -ENOENT)
        fprintf(stderr, "` could not run: not found (set --firewall-bin-path"
                        " or --firewall-save-bin-path)\n");
    else if (status < 0)
        fprintf(stderr, "` could not run: %s\n", wf_strerror(status));
    else if (status > 128)
        fprintf(stderr, "` was killed by signal %d\n", status - 128);
    else
        fprintf(stderr, "` failed with exit status %d:\n", status);
    if (err->len > 0)
        fprintf(stderr, "%.*s%s", (int)err->len, err->ptr,
                err->ptr[err->len - 1] == '\n' ? "" : "\n");

    const char *at = err->len > 0 ? strstr(err->ptr, "line ") : NULL;
    long line = at ? strtol(at + 5, NULL, 10) : 0;
    if (input == NULL || line <= 0)
        return;
    const char *p = input->ptr, *end = input->ptr + input->len;
    for (long i = 1; i < line && p != NULL && p < end; i++) {
        p = memchr(p, '\n', (size_t)(end - p));
        p = p ? p + 1 : NULL;
    }
    if (p != NULL && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        fprintf(stderr, "weft-init: input line %ld was: %.*s\n", line, (int)((nl ? nl : end) - p),
                p);
    }
}

/* Renders what --dry-run shows for one family (no tool is run). */
static int wf_init_dry_run(const wf_init_config_t *cfg, wf_init_family_t family,
                           const wf_init_tools_t *tools)
{
    wf_init_text_t install = {0}, text = {0};
    int rc = wf_init_render_install(cfg, family, WF_STR_NULL, &install);
    if (rc == 0 && cfg->clean) {
        /* What a clean removes from a table holding a full install. */
        rc = wf_init_render_clean((wf_str_t){install.ptr, install.len}, &text);
    } else if (rc == 0) {
        text = install;
        install = (wf_init_text_t){0};
    }
    if (rc == 0) {
        printf("# %s, fed to `%s --noflush`:\n%.*s", wf_init_family_name(family), tools->restore,
               (int)text.len, text.ptr);
    }
    wf_init_text_free(&install);
    wf_init_text_free(&text);
    return rc;
}

/* Applies (or cleans) one family. Returns an exit code. */
static int wf_init_apply(const wf_init_config_t *cfg, wf_init_family_t family,
                         wf_init_tools_t *tools)
{
    wf_init_text_t saved = {0}, err = {0}, text = {0};
    int code = WF_INIT_EXIT_FAILURE;

    char *save_argv[] = {tools->save, "-t", "nat", NULL};
    int st = wf_init_run(save_argv, WF_STR_NULL, &saved, &err, WF_INIT_RUN_TIMEOUT_MS);
    if (st != 0) {
        wf_init_report_failure(family, save_argv, st, &err, NULL);
        goto out;
    }
    /* An empty table prints nothing at all with some backends. */
    wf_str_t table = {saved.ptr ? saved.ptr : "", saved.len};
    int rc = cfg->clean ? wf_init_render_clean(table, &text)
                        : wf_init_render_install(cfg, family, table, &text);
    if (rc < 0) {
        fprintf(stderr, "weft-init: %s\n", wf_strerror(rc));
        goto out;
    }
    if (text.len == 0) {
        printf("weft-init: %s: nothing to clean\n", wf_init_family_name(family));
        code = WF_INIT_EXIT_OK;
        goto out;
    }

    char *restore_argv[] = {tools->restore, "--noflush", NULL};
    err.len = 0;
    st = wf_init_run(restore_argv, (wf_str_t){text.ptr, text.len}, NULL, &err,
                     WF_INIT_RUN_TIMEOUT_MS);
    if (st != 0) {
        wf_init_report_failure(family, restore_argv, st, &err, &text);
        goto out;
    }
    if (cfg->clean)
        printf("weft-init: %s: removed weft-init's chains and jumps\n",
               wf_init_family_name(family));
    else
        printf("weft-init: %s: %zu rules in " WF_INIT_CHAIN_INBOUND " and " WF_INIT_CHAIN_OUTBOUND
               " (nat); jumps to them: %zu added, %zu duplicates removed\n",
               wf_init_family_name(family), wf_init_count_lines(&text, "-A WEFT_INIT_"),
               wf_init_count_lines(&text, "-A PREROUTING ") +
                   wf_init_count_lines(&text, "-A OUTPUT "),
               wf_init_count_lines(&text, "-D "));
    code = WF_INIT_EXIT_OK;
out:
    wf_init_text_free(&saved);
    wf_init_text_free(&err);
    wf_init_text_free(&text);
    return code;
}

int main(int argc, char **argv)
{
    /* Tools get their own 0/1/2 from pipes, but our own must exist so that a
     * pipe never lands on fd 0-2 by accident. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            return WF_INIT_EXIT_FAILURE;
    /* A tool that exits early must not kill us while we write its input. */
    signal(SIGPIPE, SIG_IGN);

    static wf_init_config_t cfg; /* 16 KiB of port sets */
    char err[768];
    int rc = wf_init_cli_parse(&cfg, argc, argv, err, sizeof(err));
    if (rc == WF_INIT_CLI_HELP) {
        wf_init_cli_usage(stdout);
        return WF_INIT_EXIT_OK;
    }
    if (rc < 0) {
        fprintf(stderr, "weft-init: %s\nTry 'weft-init --help'.\n", err);
        return WF_INIT_EXIT_USAGE;
    }

    const char *bin = cfg.bin ? cfg.bin : wf_init_default_bin();
    wf_init_family_t families[2] = {WF_INIT_IPV4, WF_INIT_IPV6};
    size_t nfam = cfg.ipv6 ? 2 : 1;
    static wf_init_tools_t tools[2];
    for (size_t i = 0; i < nfam; i++) {
        if (wf_init_tools_derive(&tools[i], bin, cfg.save_bin, families[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "weft-init: %s\nTry 'weft-init --help'.\n", err);
            wf_init_config_free(&cfg);
            return WF_INIT_EXIT_USAGE;
        }
    }
    if (!cfg.ipv6) {
        for (size_t i = 0; i < cfg.nsubnets; i++) {
            if (cfg.subnets[i].family == AF_INET6) {
                char net[64];
                wf_cidr_format(&cfg.subnets[i], net, sizeof(net));
                fprintf(stderr, "weft-init: note: --ipv6=false: not applying subnet %s\n", net);
            }
        }
    }

    int code = WF_INIT_EXIT_OK;
    if (cfg.dry_run)
        printf("# weft-init --dry-run: nothing is changed. A real run feeds each block to\n"
               "# iptables-restore --noflush, which rebuilds the chains it declares; the\n"
               "# PREROUTING/OUTPUT jumps are added only when `-save -t nat` shows none.\n");
    for (size_t i = 0; i < nfam && code == WF_INIT_EXIT_OK; i++) {
        if (cfg.dry_run) {
            if (wf_init_dry_run(&cfg, families[i], &tools[i]) < 0) {
                fprintf(stderr, "weft-init: out of memory\n");
                code = WF_INIT_EXIT_FAILURE;
            }
        } else {
            code = wf_init_apply(&cfg, families[i], &tools[i]);
        }
    }
    if (fflush(stdout) != 0 && code == WF_INIT_EXIT_OK)
        code = WF_INIT_EXIT_FAILURE;
    wf_init_config_free(&cfg);
    return code;
}

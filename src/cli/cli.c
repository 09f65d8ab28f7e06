/*
 * cli.c — see cli.h: the subcommand table helpers and the flag parser.
 */
#include "cli.h"

#include <stdarg.h>

const wf_cli_cmd_t *wf_cli_cmd_find(const wf_cli_cmd_t *cmds, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

void wf_cli_cmd_list(FILE *f, const wf_cli_cmd_t *cmds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-15s %s\n", cmds[i].name, cmds[i].summary);
}

static void wf_cli_errbuf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void wf_cli_errbuf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int wf_cli_parse_flags(int nargs, char **args, const wf_cli_flag_t *flags, size_t nflags,
                       const char **pos, size_t maxpos, size_t *npos, char *err, size_t errlen)
{
    bool seen[64] = {false};
    bool only_pos = false;
    *npos = 0;
    if (nflags > WF_ARRAY_LEN(seen)) {
        wf_cli_errbuf(err, errlen, "internal error: too many flags");
        return WF_EINVAL;
    }
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (only_pos || a[0] != '-' || a[1] == '\0') { /* "-" alone is a positional (stdin-ish) */
            if (*npos >= maxpos) {
                wf_cli_errbuf(err, errlen, "unexpected argument \"%s\"", a);
                return WF_EINVAL;
            }
            pos[(*npos)++] = a;
            continue;
        }
        const char *name;
        if (strcmp(a, "-h") == 0) {
            name = "help";
        } else if (a[1] == '-') {
            name = a + 2;
        } else {
            wf_cli_errbuf(err, errlen, "unknown flag \"%s\" (flags are spelled --name)", a);
            return WF_EINVAL;
        }
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        size_t f = 0;
        while (f < nflags &&
               !(strlen(flags[f].name) == nlen && memcmp(flags[f].name, name, nlen) == 0))
            f++;
        if (f == nflags) {
            wf_cli_errbuf(err, errlen, "unknown flag \"--%.*s\"", (int)nlen, name);
            return WF_EINVAL;
        }
        if (seen[f]) {
            wf_cli_errbuf(err, errlen, "flag --%s given more than once", flags[f].name);
            return WF_EINVAL;
        }
        seen[f] = true;
        if (flags[f].value == NULL) {
            if (eq != NULL) {
                wf_cli_errbuf(err, errlen, "flag --%s takes no value", flags[f].name);
                return WF_EINVAL;
            }
        } else if (eq != NULL) {
            *flags[f].value = eq + 1;
        } else if (i + 1 < nargs) {
            *flags[f].value = args[++i];
        } else {
            wf_cli_errbuf(err, errlen, "flag --%s needs a value", flags[f].name);
            return WF_EINVAL;
        }
        if (flags[f].value != NULL && **flags[f].value == '\0') {
            wf_cli_errbuf(err, errlen, "flag --%s: empty value", flags[f].name);
            return WF_EINVAL;
        }
        if (flags[f].set != NULL)
            *flags[f].set = true;
    }
    return 0;
}

void wf_cli_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("weft: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

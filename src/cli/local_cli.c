/*
 * local_cli.c — see local_cli.h.
 */
#include "local_cli.h"

#include <stdio.h>
#include <string.h>

int wf_lm_opts_parse(int nargs, char **args, wf_lm_opt_t *opts, size_t nopts, const char **pos,
                     size_t maxpos, size_t *npos, char *err, size_t errlen)
{
    size_t np = 0;
    int before = -1;
    bool seen[32] = {false};
    if (nopts > 32) {
        snprintf(err, errlen, "internal error: too many flags");
        return -1;
    }
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i];
        if (before < 0 && strcmp(a, "--") == 0) {
            before = (int)np;
            continue;
        }
        if (before >= 0 || a[0] != '-' || a[1] == '\0') {
            if (np >= maxpos || pos == NULL) {
                snprintf(err, errlen, "unexpected argument \"%.100s\"", a);
                return -1;
            }
            pos[np++] = a;
            continue;
        }
        const char *name = a[1] == '-' ? a + 2 : a + 1;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        size_t k = 0;
        for (; k < nopts; k++) {
            if (a[1] == '-'
                    ? (strlen(opts[k].name) == nlen && memcmp(opts[k].name, name, nlen) == 0)
                    : (nlen == 1 && opts[k].short_name == name[0]))
                break;
        }
        if (k == nopts) {
            snprintf(err, errlen, "unknown flag \"%.*s\"", (int)(nlen + (size_t)(name - a)), a);
            return -1;
        }
        wf_lm_opt_t *o = &opts[k];
        if (o->flag) {
            if (eq) {
                snprintf(err, errlen, "flag %s takes no value", a);
                return -1;
            }
            *o->flag = true;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < nargs ? args[++i] : NULL);
        if (val == NULL || *val == '\0') {
            snprintf(err, errlen, "flag --%s needs a value", o->name);
            return -1;
        }
        if (o->multi) {
            if (*o->nmulti >= o->maxmulti) {
                snprintf(err, errlen, "flag --%s given more than %zu times", o->name, o->maxmulti);
                return -1;
            }
            o->multi[(*o->nmulti)++] = val;
            continue;
        }
        if (seen[k]) {
            snprintf(err, errlen, "flag --%s given more than once", o->name);
            return -1;
        }
        seen[k] = true;
        *o->value = val;
    }
    if (npos)
        *npos = np;
    return before >= 0 ? before : (int)np;
}

/*
 * local_cli.h — the option parser of the local-mode commands, which speak
 * kubectl's dialect: short flags (-f, -n, -A, -o, -c), repeatable flags
 * (-f a -f b), and "--" before a command (weft exec POD -- CMD...).
 */
#ifndef WF_CLI_LOCAL_CLI_H
#define WF_CLI_LOCAL_CLI_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wf_lm_opt {
    char short_name;    /* 0: none */
    const char *name;   /* long name, without "--" */
    const char **value; /* single-value flag: receives the value (borrowed from argv) */
    bool *flag;         /* boolean flag */
    const char **multi; /* repeatable flag: values appended here */
    size_t *nmulti;
    size_t maxmulti;
} wf_lm_opt_t;

/*
 * Parses args. Non-flag words go to pos[] (at most maxpos; pos may be NULL
 * when none are accepted); after "--" every word is positional. Returns the
 * number of positionals that came before "--" (all of them when there was
 * none), or -1 with a message in err (unknown flag, missing value, a
 * single-value flag given twice, too many positionals or values).
 */
int wf_lm_opts_parse(int nargs, char **args, wf_lm_opt_t *opts, size_t nopts, const char **pos,
                     size_t maxpos, size_t *npos, char *err, size_t errlen);

#endif

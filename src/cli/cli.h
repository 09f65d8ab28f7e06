/*
 * cli.h — the `weft` command line: exit codes, the subcommand table entry,
 * and a small flag parser shared by every subcommand. Subcommands print
 * their own results (stdout) and messages (stderr, prefixed "weft: ").
 */
#ifndef WF_CLI_H
#define WF_CLI_H

#include "core/common.h"

#include <stdio.h>

/* Process exit codes, the same for every subcommand. */
enum {
    WF_CLI_EXIT_OK = 0,
    WF_CLI_EXIT_FAILURE = 1, /* runtime error: bad file, invalid chain, write failed... */
    WF_CLI_EXIT_USAGE = 2,   /* unknown command or flag, missing or malformed value */
};

/*
 * One subcommand: `run` gets argv with argv[0] = the subcommand's name and
 * returns an exit code. Tables of these are searched in order; `summary`
 * is the line shown in the parent's --help.
 */
typedef struct wf_cli_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} wf_cli_cmd_t;

/* Finds `name` in a table; NULL if absent. */
const wf_cli_cmd_t *wf_cli_cmd_find(const wf_cli_cmd_t *cmds, size_t n, const char *name);

/* Writes "  name   summary" lines for a table. */
void wf_cli_cmd_list(FILE *f, const wf_cli_cmd_t *cmds, size_t n);

/*
 * A flag a subcommand accepts, spelled `--name VALUE` or `--name=VALUE`
 * (value flags) or `--name` (boolean flags). `-h` is an alias of `--help`.
 */
typedef struct wf_cli_flag {
    const char *name;   /* without the leading "--" */
    const char **value; /* value flags: receives the value, borrowed from argv;
                         * NULL for a boolean flag */
    bool *set;          /* set to true when the flag is given; required for
                         * boolean flags, optional for value flags */
} wf_cli_flag_t;

/*
 * Parses args[0..nargs) (the words after the subcommand's name) against
 * `flags`. Words that are not flags are positionals, stored in pos[] in order
 * (borrowed from args) with their count in *npos; "--" makes every later word
 * positional. Returns 0, or WF_EINVAL with a message in err naming the word:
 * an unknown flag, a value flag without a value, a value given to a
 * boolean flag, a flag given twice, more than maxpos positionals.
 */
int wf_cli_parse_flags(int nargs, char **args, const wf_cli_flag_t *flags, size_t nflags,
                       const char **pos, size_t maxpos, size_t *npos, char *err, size_t errlen);

/* Prints "weft: <message>" on stderr. */
void wf_cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Subcommand entry points (argv[0] is the subcommand's name). */
int wf_cli_identity_main(int argc, char **argv);

#endif

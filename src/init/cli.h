/*
 * cli.h — weft-init's command line: flags (proxy-init's names and meanings)
 * into a wf_init_config_t, and the iptables tool names to run. Pure apart
 * from getopt's globals, so unit tests drive it with argv arrays.
 */
#ifndef WF_INIT_CLI_H
#define WF_INIT_CLI_H

#include "rules.h"

#include <limits.h>
#include <stdio.h>

/* Process exit codes. */
enum {
    WF_INIT_EXIT_OK = 0,
    WF_INIT_EXIT_FAILURE = 1, /* an iptables tool failed or could not run */
    WF_INIT_EXIT_USAGE = 2,   /* bad flag or value; no rule was touched */
};

/* wf_init_cli_parse's positive result: --help was asked for. */
#define WF_INIT_CLI_HELP 1

/*
 * Fills cfg from argv (after wf_init_config_defaults). Returns 0 to run,
 * WF_INIT_CLI_HELP for --help/-h, or WF_EINVAL with a message in errbuf that
 * names the flag and the bad value (`--proxy-uid: invalid uid "x": ...`).
 * List flags may repeat; their items accumulate. On error cfg is freed.
 * Borrows argv strings for bin/save_bin; argv must outlive cfg.
 */
int wf_init_cli_parse(wf_init_config_t *cfg, int argc, char **argv, char *errbuf, size_t errlen);

/* Writes the --help text. */
void wf_init_cli_usage(FILE *f);

/* The two tools weft-init runs for one family. */
typedef struct wf_init_tools {
    char save[PATH_MAX];    /* prints the nat table: `<save> -t nat` */
    char restore[PATH_MAX]; /* applies text: `<restore> --noflush` */
} wf_init_tools_t;

/*
 * Names the tools for `family` from --firewall-bin-path `bin` (e.g.
 * "iptables-nft" or "/usr/sbin/iptables-legacy") and --firewall-save-bin-path
 * `save_bin` (NULL: "<bin>-save"). The restore tool is "<bin>-restore", the
 * sibling every iptables variant ships. For IPv6 the file name's leading
 * "iptables" becomes "ip6tables" in both (iptables-nft -> ip6tables-nft);
 * a name without that prefix is WF_EINVAL with a message, since guessing
 * would run the IPv4 tool on IPv6 rules.
 */
int wf_init_tools_derive(wf_init_tools_t *t, const char *bin, const char *save_bin,
                         wf_init_family_t family, char *errbuf, size_t errlen);

#endif

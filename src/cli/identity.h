/*
 * identity.h — `weft identity`'s pieces shared between its files
 * (identity.c: the table and the create commands; identity_inspect.c).
 */
#ifndef WF_CLI_IDENTITY_H
#define WF_CLI_IDENTITY_H

#include "cli.h"
#include "tls/cert.h"

#include <time.h>

/* Defaults, as the issue and the seed's `step` commands use them. */
#define WF_CLI_ROOT_NAME "root.linkerd.cluster.local"
#define WF_CLI_ISSUER_NAME "identity.linkerd.cluster.local"
#define WF_CLI_ROOT_VALIDITY "87600h"  /* 10 years */
#define WF_CLI_ISSUER_VALIDITY "8760h" /* 1 year */
#define WF_CLI_LEAF_VALIDITY "24h"     /* Linkerd's workload certs */

/*
 * Reads a --not-after value: a duration from `now` (wf_cert_parse_duration:
 * "8760h", "1h30m", "90d") or, as step also takes, an RFC 3339 UTC time
 * ("2030-01-01T00:00:00Z"). Returns 0 with *out set, or WF_EINVAL with a
 * message naming `flag` and the value; a time not after `now` is refused.
 */
int wf_cli_identity_not_after(const char *flag, const char *value, time_t now, time_t *out,
                              char *err, size_t errlen);

/* Writes a span of seconds as "3649d 23h", "5h 3m", "4m 10s" or "12s". */
void wf_cli_identity_span(int64_t secs, char *out, size_t outlen);

/* `weft identity inspect`. */
int wf_cli_identity_inspect_main(int argc, char **argv);

#endif

/*
 * local.h — local mode (`weft up`/`weft down`): the state directory's
 * layout and names shared by the CLI commands and the supervisor.
 *
 * State directory (default /run/weft):
 *   .weft-state         marker: the directory is ours (weft down removes it)
 *   lock                flock()ed by a running `weft up`/`weft down`
 *   supervisor.pid      the supervisor daemon's pid; supervisor.log its log
 *   applied.json        {"generation": N, "objects": [...]}: what `weft up` applied
 *   status.json         the supervisor's view: observed generation, pods, readiness
 *   identity/           trust anchor + issuer (generated or copied from flags)
 *   tokens/             identity controller's token store (sha256(token) -> identity)
 *   store/              the object store the controllers read (see local_store.h)
 *   hosts/<ns>          /etc/hosts seen by the pods of namespace <ns>
 *   pods/<ns>/<pod>/    netns (its name), token, <container>.log
 *   cp/                 control plane logs
 * Network namespaces are named weft-<tag>-node, weft-<tag>-cp and
 * weft-<tag>-<ns>.<pod> (or weft-<tag>-ip-<a_b_c_d> when that is too long),
 * where <tag> is 8 hex digits of a hash (FNV-1a) of the state directory's
 * path, so two state directories (practically) never share a namespace.
 */
#ifndef WF_CLI_LOCAL_H
#define WF_CLI_LOCAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define WF_LM_DEFAULT_STATE "/run/weft"
#define WF_LM_PROXY_UID 2102
#define WF_LM_CP_NS "linkerd"
#define WF_LM_IDENTITY_SVC_NAME                                                                    \
    "weft-identity.linkerd.serviceaccount.identity.linkerd.cluster.local"
#define WF_LM_DEST_SVC_NAME "weft-destination.linkerd.serviceaccount.identity.linkerd.cluster.local"
#define WF_LM_PROXY_CONTAINER "linkerd-proxy"

typedef struct wf_lm_paths {
    char dir[PATH_MAX - 256]; /* absolute state directory */
    char tag[12];             /* 8 hex digits */
    char node[32];            /* node network namespace */
    char cp[32];              /* control plane network namespace */
    char prefix[32];          /* "weft-<tag>-": every namespace we make */
} wf_lm_paths_t;

/* Fills `p` for state directory `dir` (made absolute). */
int wf_lm_paths_init(wf_lm_paths_t *p, const char *dir);

/* "<state>/<rel>" into out. */
void wf_lm_path_join(const wf_lm_paths_t *p, const char *rel, char *out, size_t outlen);

/* The network namespace name of pod ns/name with address ip. */
void wf_lm_pod_netns(const wf_lm_paths_t *p, const char *ns, const char *name, const char *ip,
                     char *out, size_t outlen);

/* The supervisor's pid if it is alive and is ours, else 0. */
pid_t wf_lm_supervisor_pid(const wf_lm_paths_t *p);

/* Stops everything a run made (supervisor, processes, namespaces, cgroups)
 * and, unless keep_state, removes the state directory. Prints what it did
 * when verbose. Idempotent. Returns 0, or -1 if something could not be
 * removed (named on stderr). */
int wf_lm_teardown(const wf_lm_paths_t *p, bool keep_state, bool verbose);

/* The supervisor's entry point (`weft __supervise --state-dir DIR`). */
int wf_lm_supervise(const wf_lm_paths_t *p);

/* Subcommands. */
int wf_cli_up_main(int argc, char **argv);
int wf_cli_down_main(int argc, char **argv);
int wf_cli_get_main(int argc, char **argv);
int wf_cli_logs_main(int argc, char **argv);
int wf_cli_exec_main(int argc, char **argv);
int wf_cli_supervise_main(int argc, char **argv);
int wf_cli_viz_main(int argc, char **argv);

#endif

/*
 * local_sys.h — the system side of local mode: running helper commands
 * (ip, iptables-restore, weft-init), files written atomically, network
 * namespaces, starting a process inside a pod (its network namespace plus a
 * private mount namespace whose /etc/hosts is the pod's), and probes made
 * from inside a pod's network namespace.
 *
 * Everything here is synchronous and meant for the supervisor's single
 * thread or the short-lived CLI. Errors: 0 / negative -errno or WF_E*, with
 * a message in (err, errlen) where taken.
 */
#ifndef WF_CLI_LOCAL_SYS_H
#define WF_CLI_LOCAL_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Runs argv (argv[0] searched in PATH) with `input` (may be NULL) on its
 * stdin, waits, and returns its exit status (0-255), or 256+signal when
 * killed, or -errno when it could not run. Its stdout+stderr (first bytes)
 * go to out (NUL-terminated) when out is non-NULL. */
int wf_lm_run(const char *const *argv, const char *input, char *out, size_t outlen);

/* mkdir -p with `mode` for the directories it creates. */
int wf_lm_mkdirs(const char *path, unsigned mode);

/* Writes data to path via "<dir>/.<name>.tmp" + rename(), with `mode`. */
int wf_lm_write_atomic(const char *path, const char *data, size_t len, unsigned mode);

/* Rewrites path in place (open O_TRUNC + write): for files that are bind
 * mounted, whose inode must stay the same. Creates it (0644) if absent. */
int wf_lm_write_inplace(const char *path, const char *data, size_t len);

/* Reads a whole file (at most 64 MiB) into a NUL-terminated malloc'd buffer. */
char *wf_lm_read_file(const char *path, size_t *len);

/* rm -rf: removes path and everything under it (no symlink following). */
int wf_lm_rmrf(const char *path);

/* Network namespaces live as /run/netns/<name> (iproute2's convention, so
 * `ip netns list` and `ip netns exec` see them). */
bool wf_lm_netns_exists(const char *name);
int wf_lm_netns_add(const char *name, char *err, size_t errlen);
/* Kills (SIGKILL) every process still inside, then deletes it. Idempotent. */
int wf_lm_netns_del(const char *name);
/* Sends `sig` to every process inside the namespace; returns how many. */
int wf_lm_netns_signal(const char *name, int sig);

/* What to start inside a pod. */
typedef struct wf_lm_spawn {
    const char *netns;   /* borrowed; network namespace name (NULL: host's) */
    const char *hosts;   /* borrowed; file bind-mounted over /etc/hosts, or NULL */
    char *const *argv;   /* borrowed; argv[0] searched in the env's PATH */
    char *const *env;    /* borrowed; the whole environment */
    const char *workdir; /* borrowed; NULL: "/" */
    const char *log;     /* borrowed; stdout+stderr appended here; NULL: inherit */
    long uid, gid;       /* -1: keep root */
    const char *cgroup;  /* borrowed; cgroup v2 dir to join, or NULL */
    bool new_session;    /* setsid(): the process leads its own group */
} wf_lm_spawn_t;

/* Forks and execs per `s`; returns the child's pid or -errno. A failure
 * after the fork (setns, mount, exec) is written to the log and the child
 * exits 127. */
pid_t wf_lm_spawn(const wf_lm_spawn_t *s);

/* Enters `netns` in the calling process for good (weft exec) and gives it
 * a private mount namespace with `hosts` over /etc/hosts. */
int wf_lm_enter_pod(const char *netns, const char *hosts, char *err, size_t errlen);

/* From inside `netns`: TCP connect to ip:port within timeout_ms. */
bool wf_lm_probe_tcp(const char *netns, const char *ip, int port, int timeout_ms);
/* From inside `netns`: HTTP/1.1 GET path; returns the status code, or -1. */
int wf_lm_probe_http(const char *netns, const char *ip, int port, const char *path, int timeout_ms);

/* True when cgroup v2 is mounted at /sys/fs/cgroup with the cpu and memory
 * controllers enabled and writable by us (proxy limits can be enforced). */
bool wf_lm_cgroup_v2_usable(void);

/* From inside `netns`: HTTP/1.1 GET path and the whole body (malloc'd,
 * NUL-terminated, at most 16 MiB) or NULL; *status gets the status code. */
char *wf_lm_http_get(const char *netns, const char *ip, int port, const char *path, int timeout_ms,
                     int *status);

/* Monotonic seconds. */
double wf_lm_now(void);

#endif

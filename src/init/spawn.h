/*
 * spawn.h — running the iptables tools: argv arrays through posix_spawnp,
 * never a shell, with text on stdin and both outputs collected.
 */
#ifndef WF_INIT_SPAWN_H
#define WF_INIT_SPAWN_H

#include "rules.h"

/* A tool that has not finished after this long is killed (SIGKILL): an
 * init container that hangs forever blocks the pod with no message. */
#define WF_INIT_RUN_TIMEOUT_MS 60000

/*
 * Runs argv[0] (looked up in PATH unless it holds a '/') with argv, writes
 * `input` to its stdin then closes it, and appends its stdout to `out` and
 * its stderr to `err` (either may be NULL to discard). Returns the exit
 * status (0-255), 128 + N if signal N ended it, or a negative code if it
 * could not run: -errno from posix_spawnp (-ENOENT: no such tool),
 * WF_ENOMEM, or WF_ETIMEDOUT (killed after `timeout_ms`).
 * The caller must ignore SIGPIPE (a tool may exit before reading all its
 * input); the tool itself starts with SIGPIPE at its default.
 * Single-threaded callers only (uses waitpid on the child it started).
 */
int wf_init_run(char *const argv[], wf_str_t input, wf_init_text_t *out, wf_init_text_t *err,
                int timeout_ms);

#endif

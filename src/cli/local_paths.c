/*
 * local_paths.c — local mode's names: the state directory, the namespaces'
 * tag and names, and finding the running supervisor (see local.h).
 */
#include "local.h"
#include "local_sys.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int wf_lm_paths_init(wf_lm_paths_t *p, const char *dir)
{
    memset(p, 0, sizeof(*p));
    char cwd[PATH_MAX];
    int n;
    if (dir[0] == '/') {
        n = snprintf(p->dir, sizeof(p->dir), "%s", dir);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return -errno;
        n = snprintf(p->dir, sizeof(p->dir), "%s/%s", cwd, dir);
    }
    if (n <= 0 || (size_t)n >= sizeof(p->dir))
        return -ENAMETOOLONG;
    while (n > 1 && p->dir[n - 1] == '/')
        p->dir[--n] = '\0';
    uint32_t h = 2166136261u;
    for (const char *c = p->dir; *c; c++) {
        h ^= (unsigned char)*c;
        h *= 16777619u;
    }
    snprintf(p->tag, sizeof(p->tag), "%08x", h);
    snprintf(p->prefix, sizeof(p->prefix), "weft-%s-", p->tag);
    snprintf(p->node, sizeof(p->node), "weft-%s-node", p->tag);
    snprintf(p->cp, sizeof(p->cp), "weft-%s-cp", p->tag);
    return 0;
}

void wf_lm_path_join(const wf_lm_paths_t *p, const char *rel, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", p->dir, rel);
}

void wf_lm_pod_netns(const wf_lm_paths_t *p, const char *ns, const char *name, const char *ip,
                     char *out, size_t outlen)
{
    /* A namespace name has no '.', so "<ns>.<pod>" is unambiguous (with '-'
     * "a-b"+"c" and "a"+"b-c" would meet), and never "node" or "cp". Too
     * long a name falls back to the address, dots replaced (no '.': no clash). */
    int n = snprintf(out, outlen, "%s%s.%s", p->prefix, ns, name);
    if (n < 0 || (size_t)n >= outlen || n > 100) {
        n = snprintf(out, outlen, "%sip-%s", p->prefix, ip);
        for (char *c = out + strlen(p->prefix); n > 0 && *c; c++)
            if (*c == '.')
                *c = '_';
    }
}

pid_t wf_lm_supervisor_pid(const wf_lm_paths_t *p)
{
    char path[PATH_MAX];
    wf_lm_path_join(p, "supervisor.pid", path, sizeof(path));
    char *s = wf_lm_read_file(path, NULL);
    if (s == NULL)
        return 0;
    pid_t pid = (pid_t)atol(s);
    free(s);
    if (pid <= 1 || kill(pid, 0) < 0)
        return 0;
    /* A recycled pid is not ours: check its command line. */
    char cl[64], *cmd;
    size_t len = 0;
    snprintf(cl, sizeof(cl), "/proc/%d/cmdline", (int)pid);
    cmd = wf_lm_read_file(cl, &len);
    bool ours = false;
    for (size_t i = 0; cmd && i < len; i += strlen(cmd + i) + 1)
        if (strcmp(cmd + i, "__supervise") == 0)
            ours = true;
    free(cmd);
    return ours ? pid : 0;
}

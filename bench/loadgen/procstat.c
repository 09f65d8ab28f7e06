/*
 * procstat.c — see procstat.h. proc(5) documents every field used here.
 */
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a small /proc file into buf (NUL-terminated). */
static int slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

static uint64_t status_kb(const char *status, const char *key)
{
    const char *p = strstr(status, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

int lg_procstat_read(pid_t pid, lg_procstat_t *out)
{
    char path[64], buf[4096];
    *out = (lg_procstat_t){0};

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int rc = slurp(path, buf, sizeof(buf));
    if (rc < 0)
        return rc;
    /* comm may hold spaces and parentheses: fields resume after the last
     * ')'. Field 3 (state) follows; utime and stime are fields 14 and 15. */
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return -EINVAL;
    p++;
    unsigned long long utime = 0, stime = 0;
    for (int field = 3; field <= 15 && *p; field++) {
        while (*p == ' ')
            p++;
        if (field == 14)
            utime = strtoull(p, NULL, 10);
        if (field == 15)
            stime = strtoull(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
    }
    long hz = sysconf(_SC_CLK_TCK);
    out->cpu_ticks_ns = (uint64_t)(utime + stime) * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((rc = slurp(path, buf, sizeof(buf))) < 0)
        return rc;
    out->rss_kb = status_kb(buf, "VmRSS:");
    out->hwm_kb = status_kb(buf, "VmHWM:");

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char tpath[320];
        snprintf(tpath, sizeof(tpath), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
        if (slurp(tpath, buf, 128) == 0)
            out->cpu_ns += strtoull(buf, NULL, 10);
    }
    closedir(d);
    return 0;
}

#include "metrics/process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

typedef struct proc_stat {
    double utime, stime; /* seconds */
    double start;        /* unix seconds */
    uint64_t vsize, rss; /* bytes */
    long threads;
} proc_stat_t;

static int read_stat(proc_stat_t *st)
{
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may contain spaces or ')': fields start after the
     * last ')'. Field 3 (state) is the first after it. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p += 2;
    unsigned long long utime = 0, stime = 0, starttime = 0, vsize = 0;
    long rss = 0, threads = 0;
    /* fields 3..24: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime priority nice num_threads
     * itrealvalue starttime vsize rss */
    int got = sscanf(p,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %ld "
                     "%*d %llu %llu %ld",
                     &utime, &stime, &threads, &starttime, &vsize, &rss);
    if (got != 6)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    st->utime = (double)utime / hz;
    st->stime = (double)stime / hz;
    st->vsize = vsize;
    st->rss = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
    st->threads = threads;

    /* starttime is in ticks since boot; boot time comes from /proc/stat. */
    double btime = 0;
    f = fopen("/proc/stat", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long long b;
            if (sscanf(line, "btime %llu", &b) == 1) {
                btime = (double)b;
                break;
            }
        }
        fclose(f);
    }
    st->start = btime + (double)starttime / hz;
    return 0;
}

uint64_t wf_process_rss_bytes(void)
{
    proc_stat_t st;
    return read_stat(&st) == 0 ? st.rss : 0;
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

void wf_metrics_render_process(wf_sbuf_t *out)
{
    proc_stat_t st;
    if (read_stat(&st) != 0)
        return;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    wf_sbuf_printf(out,
                   "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                   "seconds.\n# TYPE process_cpu_seconds_total counter\n"
                   "process_cpu_seconds_total %.2f\n",
                   st.utime + st.stime);
    wf_sbuf_printf(out,
                   "# HELP process_open_fds Number of open file descriptors.\n"
                   "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
                   count_fds());
    wf_sbuf_printf(out,
                   "# HELP process_max_fds Maximum number of open file descriptors.\n"
                   "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                   (unsigned long long)rl.rlim_cur);
    wf_sbuf_printf(out,
                   "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                   "# TYPE process_virtual_memory_bytes gauge\n"
                   "process_virtual_memory_bytes %llu\n",
                   (unsigned long long)st.vsize);
    wf_sbuf_printf(out,
                   "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                   "# TYPE process_resident_memory_bytes gauge\n"
                   "process_resident_memory_bytes %llu\n",
                   (unsigned long long)st.rss);
    wf_sbuf_printf(out,
                   "# HELP process_start_time_seconds Time that the process started (in seconds "
                   "since the UNIX epoch)\n# TYPE process_start_time_seconds gauge\n"
                   "process_start_time_seconds %.0f\n",
                   st.start);
    wf_sbuf_printf(out,
                   "# HELP process_threads Number of OS threads in the process.\n"
                   "# TYPE process_threads gauge\nprocess_threads %ld\n",
                   st.threads);
}

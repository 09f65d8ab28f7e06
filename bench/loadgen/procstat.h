/*
 * procstat.h — what the bench reads about a process from /proc: CPU time
 * (utime + stime) and resident memory (VmRSS, VmHWM).
 *
 * CPU is read two ways. /proc/PID/stat gives utime + stime of the whole
 * thread group in clock ticks (USER_HZ = 100: 10 ms granularity, coarse
 * over a few seconds). The sum of field 1 of /proc/PID/task/ * /schedstat
 * is the same on-CPU time (sum_exec_runtime, from which the kernel derives
 * utime + stime) in nanoseconds, for the threads alive at the time; the
 * proxies measured keep their threads for life, so it is the precise one.
 */
#ifndef LG_PROCSTAT_H
#define LG_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

typedef struct lg_procstat {
    uint64_t cpu_ticks_ns; /* utime + stime from /proc/PID/stat, as ns */
    uint64_t cpu_ns;       /* sum of the tasks' schedstat run time; 0 if unreadable */
    uint64_t rss_kb;       /* VmRSS */
    uint64_t hwm_kb;       /* VmHWM: peak RSS since start */
} lg_procstat_t;

/* Returns 0, or -errno if the process cannot be read (e.g. it exited). */
int lg_procstat_read(pid_t pid, lg_procstat_t *out);

#endif

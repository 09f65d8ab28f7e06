/*
 * process.h — the Prometheus process_* families, read from /proc/self at
 * scrape time (nothing is recorded between scrapes).
 */
#ifndef WF_METRICS_PROCESS_H
#define WF_METRICS_PROCESS_H

#include "core/buf.h"

/* Appends process_cpu_seconds_total, process_open_fds, process_max_fds,
 * process_virtual_memory_bytes, process_resident_memory_bytes,
 * process_start_time_seconds and process_threads. */
void wf_metrics_render_process(wf_sbuf_t *out);

/* Resident set size in bytes (0 if unknown). */
uint64_t wf_process_rss_bytes(void);

#endif

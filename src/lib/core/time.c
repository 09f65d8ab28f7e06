#include "core/time.h"

#include <stdio.h>

int wf_duration_parse(wf_str_t s, uint64_t *out_ms)
{
    size_t i = 0;
    while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t'))
        i++;
    size_t digits = i;
    uint64_t v = 0;
    while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return WF_ERANGE;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
        i++;
    }
    if (i == digits)
        return WF_EINVAL;
    size_t unit = i;
    while (i < s.len && s.ptr[i] != ' ' && s.ptr[i] != '\t')
        i++;
    wf_str_t u = {s.ptr + unit, i - unit};
    while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t'))
        i++;
    if (i != s.len)
        return WF_EINVAL;

    uint64_t mul;
    if (wf_str_eq(u, WF_STR("ms")))
        mul = 1;
    else if (wf_str_eq(u, WF_STR("s")))
        mul = 1000;
    else if (wf_str_eq(u, WF_STR("m")))
        mul = 60 * 1000;
    else if (wf_str_eq(u, WF_STR("h")))
        mul = 3600 * 1000;
    else if (wf_str_eq(u, WF_STR("d")))
        mul = 86400 * 1000;
    else
        return WF_EINVAL;
    if (v > UINT64_MAX / mul)
        return WF_ERANGE;
    *out_ms = v * mul;
    return 0;
}

size_t wf_duration_format(uint64_t ms, char *out, size_t outlen)
{
    int n;
    if (ms != 0 && ms % 3600000 == 0)
        n = snprintf(out, outlen, "%lluh", (unsigned long long)(ms / 3600000));
    else if (ms != 0 && ms % 60000 == 0)
        n = snprintf(out, outlen, "%llum", (unsigned long long)(ms / 60000));
    else if (ms % 1000 == 0)
        n = snprintf(out, outlen, "%llus", (unsigned long long)(ms / 1000));
    else
        n = snprintf(out, outlen, "%llums", (unsigned long long)ms);
    return n < 0 ? 0 : (size_t)n;
}

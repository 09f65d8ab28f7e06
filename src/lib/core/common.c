#include "core/common.h"

#include <ctype.h>

bool wf_str_eq_nocase(wf_str_t a, wf_str_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (tolower((unsigned char)a.ptr[i]) != tolower((unsigned char)b.ptr[i]))
            return false;
    return true;
}

const char *wf_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case WF_EAGAIN:
        return "would block";
    case WF_EINVAL:
        return "invalid input";
    case WF_ERANGE:
        return "value out of range";
    case WF_ENOMEM:
        return "out of memory";
    case WF_ELIMIT:
        return "limit exceeded";
    case WF_ETIMEDOUT:
        return "timed out";
    case WF_ECLOSED:
        return "closed";
    case WF_EPROTO:
        return "protocol error";
    case WF_ENOTFOUND:
        return "not found";
    case WF_EUNAVAILABLE:
        return "service unavailable";
    }
    if (err < 0 && err > -WF_E_BASE)
        return strerror(-err);
    return "unknown error";
}

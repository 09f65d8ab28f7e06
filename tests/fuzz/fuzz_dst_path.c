/*
 * fuzz_dst_path.c — the destination path parser (dst_rules.h) on arbitrary
 * bytes. Properties (abort() on violation):
 *  - it never crashes; a refusal is WF_EINVAL with a bounded, printable,
 *    NUL-terminated message starting "invalid destination path";
 *  - an accepted path has a port in 1..65535 and either an IP whose
 *    canonical text parses back to the same address, or a name and
 *    namespace that are DNS-1123 labels;
 *  - the canonical rendering of what was accepted ("name.ns.svc.<domain>:
 *    port", "ip:port", "[v6]:port") parses to the same target.
 */
#include "../../src/controller/dst_rules.c"

#include <stdio.h>
#include <stdlib.h>

static void wf_fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_dst_path: property violated: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_dst_target_t t, t2;
    char err[256];
    memset(err, 'x', sizeof(err));
    wf_str_t dom = WF_STR("cluster.local");
    int rc = wf_dst_path_parse((wf_str_t){(const char *)data, size}, dom, &t, err, sizeof(err));
    if (rc != 0) {
        wf_fuzz_check(rc == WF_EINVAL, "documented error");
        wf_fuzz_check(memchr(err, '\0', sizeof(err)) != NULL, "terminated message");
        wf_fuzz_check(strncmp(err, "invalid destination path", 24) == 0, "message prefix");
        for (const char *p = err; *p; p++)
            wf_fuzz_check(*p >= 0x20 && *p < 0x7f, "printable message");
        return 0;
    }
    wf_fuzz_check(t.port >= 1, "port");
    char canon[512];
    if (t.is_ip) {
        wf_fuzz_check(t.family == AF_INET || t.family == AF_INET6, "family");
        snprintf(canon, sizeof(canon), t.family == AF_INET ? "%s:%u" : "[%s]:%u", t.ip_text,
                 (unsigned)t.port);
    } else {
        wf_fuzz_check(label_ok(t.name, strlen(t.name)) && label_ok(t.ns, strlen(t.ns)),
                      "DNS-1123 labels");
        snprintf(canon, sizeof(canon), "%s.%s.svc.cluster.local:%u", t.name, t.ns,
                 (unsigned)t.port);
    }
    rc = wf_dst_path_parse(wf_str_from(canon), dom, &t2, err, sizeof(err));
    wf_fuzz_check(rc == 0, "canonical form parses");
    wf_fuzz_check(t2.is_ip == t.is_ip && t2.port == t.port, "same kind and port");
    if (t.is_ip)
        wf_fuzz_check(t2.family == t.family && memcmp(t2.ip, t.ip, 16) == 0, "same address");
    else
        wf_fuzz_check(strcmp(t2.name, t.name) == 0 && strcmp(t2.ns, t.ns) == 0, "same name");
    return 0;
}

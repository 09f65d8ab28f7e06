/*
 * fuzz_ports.c — port and CIDR list parsers (net/ports.h) on arbitrary bytes.
 *
 * Properties checked (abort() on violation, so libFuzzer and the corpus
 * replay both report it):
 *  - parsing never crashes and, on failure, returns a documented code with a
 *    NUL-terminated, non-empty message;
 *  - parse -> format -> parse gives the same port set, and format is a fixed
 *    point (formatting the reparsed set gives the same text);
 *  - wf_port_ranges_parse agrees with wf_portset_parse: same verdict, and the
 *    union of its ranges is the set;
 *  - every parsed CIDR formats to text that parses back to the same network.
 */
#include "net/ports.h"

#include <stdio.h>
#include <stdlib.h>

#define WF_FUZZ_MAX_RANGES 256
#define WF_FUZZ_MAX_CIDRS 64

static wf_portset_t wf_fuzz_a, wf_fuzz_b, wf_fuzz_c; /* 8 KiB each */

static void wf_fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_ports: property violated: %s\n", what);
        abort();
    }
}

static void wf_fuzz_check_error(int rc, const char *err)
{
    wf_fuzz_check(rc == WF_EINVAL || rc == WF_ERANGE || rc == WF_ELIMIT, "documented error code");
    wf_fuzz_check(memchr(err, '\0', 256) != NULL && err[0] != '\0', "error message written");
}

static void wf_fuzz_ports(wf_str_t spec)
{
    char err[256];
    memset(err, 0, sizeof(err));
    int rc = wf_portset_parse(&wf_fuzz_a, spec, err, sizeof(err));

    static wf_port_range_t ranges[WF_FUZZ_MAX_RANGES];
    char err2[256];
    memset(err2, 0, sizeof(err2));
    int n = wf_port_ranges_parse(ranges, WF_FUZZ_MAX_RANGES, spec, err2, sizeof(err2));

    if (rc < 0) {
        wf_fuzz_check_error(rc, err);
        wf_fuzz_check(rc != WF_ELIMIT, "portset has no item limit");
        wf_fuzz_check(n == rc && strcmp(err, err2) == 0, "ranges parse fails the same way");
        for (size_t i = 0; i < WF_ARRAY_LEN(wf_fuzz_a.bits); i++)
            wf_fuzz_check(wf_fuzz_a.bits[i] == 0, "failed parse leaves the set empty");
        return;
    }
    wf_fuzz_check(!wf_portset_has(&wf_fuzz_a, 0), "port 0 never parsed");

    if (n == WF_ELIMIT) {
        wf_fuzz_check_error(n, err2);
    } else {
        wf_fuzz_check(n >= 0, "ranges parse accepts what portset accepts");
        memset(&wf_fuzz_c, 0, sizeof(wf_fuzz_c));
        for (int i = 0; i < n; i++) {
            wf_fuzz_check(ranges[i].lo >= 1 && ranges[i].lo <= ranges[i].hi, "range bounds");
            for (uint32_t p = ranges[i].lo; p <= ranges[i].hi; p++)
                wf_portset_add(&wf_fuzz_c, (uint16_t)p);
        }
        wf_fuzz_check(memcmp(&wf_fuzz_a, &wf_fuzz_c, sizeof(wf_fuzz_a)) == 0,
                      "union of ranges equals the set");
    }

    size_t len = wf_portset_format(&wf_fuzz_a, NULL, 0);
    char *text = malloc(len + 1);
    wf_fuzz_check(text != NULL, "malloc");
    wf_fuzz_check(wf_portset_format(&wf_fuzz_a, text, len + 1) == len, "format length stable");
    wf_fuzz_check(strlen(text) == len, "format length exact");

    rc = wf_portset_parse(&wf_fuzz_b, (wf_str_t){text, len}, err, sizeof(err));
    wf_fuzz_check(rc == 0, "canonical text parses");
    wf_fuzz_check(memcmp(&wf_fuzz_a, &wf_fuzz_b, sizeof(wf_fuzz_a)) == 0,
                  "parse -> format -> parse is the same set");

    char *again = malloc(len + 1);
    wf_fuzz_check(again != NULL, "malloc");
    wf_fuzz_check(wf_portset_format(&wf_fuzz_b, again, len + 1) == len &&
                      memcmp(text, again, len + 1) == 0,
                  "format is a fixed point");

    /* A cut buffer holds a prefix of the text, NUL-terminated. */
    char small[7];
    wf_fuzz_check(wf_portset_format(&wf_fuzz_a, small, sizeof(small)) == len, "cut length");
    wf_fuzz_check(strncmp(small, text, sizeof(small) - 1) == 0 &&
                      strlen(small) == WF_MIN(len, sizeof(small) - 1),
                  "cut text is a prefix");
    free(again);
    free(text);
}

static void wf_fuzz_cidrs(wf_str_t spec)
{
    static wf_cidr_t nets[WF_FUZZ_MAX_CIDRS];
    char err[256];
    memset(err, 0, sizeof(err));
    int n = wf_cidr_list_parse(nets, WF_FUZZ_MAX_CIDRS, spec, err, sizeof(err));
    if (n < 0) {
        wf_fuzz_check_error(n, err);
        return;
    }
    for (int i = 0; i < n; i++) {
        const wf_cidr_t *c = &nets[i];
        wf_fuzz_check(c->family == AF_INET ? c->prefix <= 32
                                           : c->family == AF_INET6 && c->prefix <= 128,
                      "family and prefix");
        char text[INET6_ADDRSTRLEN + 8];
        size_t len = wf_cidr_format(c, text, sizeof(text));
        wf_fuzz_check(len > 0 && len < sizeof(text), "cidr formats");
        wf_cidr_t back;
        wf_fuzz_check(wf_cidr_parse(&back, (wf_str_t){text, len}, err, sizeof(err)) == 0,
                      "formatted cidr parses");
        wf_fuzz_check(back.family == c->family && back.prefix == c->prefix &&
                          memcmp(back.addr, c->addr, sizeof(back.addr)) == 0,
                      "cidr round-trips");

        /* The network address itself lies inside the network. */
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        if (c->family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            sin->sin_family = AF_INET;
            memcpy(&sin->sin_addr, c->addr, 4);
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            sin6->sin6_family = AF_INET6;
            memcpy(&sin6->sin6_addr, c->addr, 16);
        }
        wf_fuzz_check(wf_cidr_contains(c, (const struct sockaddr *)&ss), "net contains itself");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_str_t spec = {(const char *)data, size};
    wf_fuzz_ports(spec);
    wf_fuzz_cidrs(spec);
    return 0;
}

/*
 * test_ports.c — port lists as Linkerd's annotations spell them
 * (config.linkerd.io/opaque-ports, skip-inbound-ports, skip-outbound-ports):
 * every syntax rule of ports.h, every kind of bad item and its message, the
 * canonical format, and the ranges API used for iptables rules.
 */
#include "net/ports.h"
#include "wf_test.h"

#include <stdlib.h>

static wf_portset_t set; /* 8 KiB: keep it off the stack */

/* Parses spec and returns the canonical text (static buffer), or the error
 * message prefixed with "ERR " for a failed parse. */
static const char *roundtrip(const char *spec)
{
    static char out[4096];
    char err[256];
    int rc = wf_portset_parse(&set, wf_str_from(spec), err, sizeof(err));
    if (rc < 0) {
        snprintf(out, sizeof(out), "ERR %s", err);
        return out;
    }
    wf_portset_format(&set, out, sizeof(out));
    return out;
}

static size_t count_ports(const wf_portset_t *s)
{
    size_t n = 0;
    for (uint32_t p = 0; p < 65536; p++)
        n += wf_portset_has(s, (uint16_t)p);
    return n;
}

static void test_single_ports_and_ranges(void)
{
    CHECK_EQ_STR(roundtrip("25,587,8000-9000"), "25,587,8000-9000");
    CHECK(wf_portset_has(&set, 25));
    CHECK(wf_portset_has(&set, 587));
    CHECK(wf_portset_has(&set, 8000));
    CHECK(wf_portset_has(&set, 8500));
    CHECK(wf_portset_has(&set, 9000));
    CHECK(!wf_portset_has(&set, 7999));
    CHECK(!wf_portset_has(&set, 9001));
    CHECK(!wf_portset_has(&set, 26));
    CHECK_EQ_INT(count_ports(&set), 2 + 1001);

    /* Bounds: 1 and 65535 are ports; the whole range is one item. */
    CHECK_EQ_STR(roundtrip("1,65535"), "1,65535");
    CHECK_EQ_STR(roundtrip("1-65535"), "1-65535");
    CHECK_EQ_INT(count_ports(&set), 65535);
    CHECK(!wf_portset_has(&set, 0));
    /* A range of one port is that port. */
    CHECK_EQ_STR(roundtrip("4191-4191"), "4191");
}

static void test_whitespace_and_empty_items(void)
{
    CHECK_EQ_STR(roundtrip(" 25 , 587\t,\n8000-9000 "), "25,587,8000-9000");
    CHECK_EQ_STR(roundtrip("25,,587"), "25,587");
    CHECK_EQ_STR(roundtrip(",25,"), "25");
    CHECK_EQ_STR(roundtrip(""), "");
    CHECK_EQ_INT(count_ports(&set), 0);
    CHECK_EQ_STR(roundtrip(" , ,, "), "");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR_NULL, NULL, 0), 0);
    CHECK_EQ_INT(count_ports(&set), 0);
}

static void test_canonical_form(void)
{
    /* Sorted, deduplicated, adjacent and overlapping items merged. */
    CHECK_EQ_STR(roundtrip("9000,25,25,26,27"), "25-27,9000");
    CHECK_EQ_STR(roundtrip("8000-8500,8400-9000,9001"), "8000-9001");
    CHECK_EQ_STR(roundtrip("5,3,4"), "3-5");
    CHECK_EQ_STR(roundtrip("080"), "80");                      /* leading zeros, as Linkerd */
    CHECK_EQ_STR(roundtrip("63,64,127,128"), "63-64,127-128"); /* word edges */
    CHECK_EQ_STR(roundtrip("60-200"), "60-200");
    CHECK_EQ_STR(roundtrip("65472-65535"), "65472-65535");
}

static void test_parse_clears_set(void)
{
    CHECK_EQ_STR(roundtrip("25"), "25");
    CHECK_EQ_STR(roundtrip("587"), "587");
    CHECK(!wf_portset_has(&set, 25));
    /* A failed parse leaves the set empty, never half-filled. */
    CHECK(wf_portset_parse(&set, WF_STR("25,x"), NULL, 0) < 0);
    CHECK_EQ_INT(count_ports(&set), 0);
}

static void test_bad_ports(void)
{
    char err[256];
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("25,70000"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_STR(err, "invalid port \"70000\" in \"25,70000\": must be 1-65535");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("0"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_STR(err, "invalid port \"0\": must be 1-65535");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("65536"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_STR(err, "invalid port \"65536\": must be 1-65535");
    /* Huge numbers saturate instead of wrapping to a valid port. */
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("4294967377"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("99999999999999999999999"), NULL, 0), WF_ERANGE);

    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("25,http"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid port \"http\" in \"25,http\": not a number (want a port "
                      "1-65535 or a range lo-hi)");
    const char *bad[] = {"+25", "25.0", "0x19", "2 5", "25;587", "25 587", "1e3", "٣"};
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        CHECK_EQ_INT(wf_portset_parse(&set, wf_str_from(bad[i]), err, sizeof(err)), WF_EINVAL);
        CHECK(strncmp(err, "invalid port \"", 14) == 0);
    }
}

static void test_bad_ranges(void)
{
    char err[256];
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("9000-8000"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid port range \"9000-8000\": lower bound 9000 is above upper "
                      "bound 8000");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("25,8000-x"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid port range \"8000-x\" in \"25,8000-x\": upper bound \"x\" is "
                      "not a number (want lo-hi, e.g. 8000-9000)");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("0-10"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_STR(err, "invalid port range \"0-10\": lower bound \"0\" must be 1-65535");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("10-65536"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_STR(err, "invalid port range \"10-65536\": upper bound \"65536\" must be 1-65535");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("-5"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid port range \"-5\": missing lower bound");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("5-"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid port range \"5-\": missing upper bound");
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("1-2-3"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid port range \"1-2-3\": upper bound \"2-3\" is not a number "
                      "(want lo-hi, e.g. 8000-9000)");
    /* Linkerd's parser has no spaces inside a range either. */
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("8000 - 9000"), NULL, 0), WF_EINVAL);
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("-"), NULL, 0), WF_EINVAL);
}

static void test_error_messages_are_safe(void)
{
    char err[256];
    /* Control bytes and quotes are escaped; a NUL inside is data, not an end. */
    static const char evil[] = "25,\x1b[31m\"\\\0x";
    CHECK_EQ_INT(wf_portset_parse(&set, (wf_str_t){evil, sizeof(evil) - 1}, err, sizeof(err)),
                 WF_EINVAL);
    CHECK_EQ_STR(err, "invalid port \"\\x1b[31m\\\"\\\\\\x00x\" in \"25,\\x1b[31m\\\"\\\\\\x00x\": "
                      "not a number (want a port 1-65535 or a range lo-hi)");

    /* A long list is cut, not copied whole. */
    char big[2000];
    memset(big, '1', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(wf_portset_parse(&set, wf_str_from(big), err, sizeof(err)), WF_ERANGE);
    CHECK(strstr(err, "...\"") != NULL);
    CHECK(strlen(err) < 200);

    /* A small or absent errbuf is never overrun; it stays NUL-terminated. */
    char small[8] = "XXXXXXX";
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("0"), small, sizeof(small)), WF_ERANGE);
    CHECK_EQ_STR(small, "invalid");
    char one[1] = {'X'};
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("0"), one, sizeof(one)), WF_ERANGE);
    CHECK_EQ_INT(one[0], '\0');
    CHECK_EQ_INT(wf_portset_parse(&set, WF_STR("0"), NULL, 100), WF_ERANGE);
}

static void test_format_truncates_like_snprintf(void)
{
    CHECK_EQ_STR(roundtrip("25,587,8000-9000"), "25,587,8000-9000");
    char small[8];
    memset(small, 'X', sizeof(small));
    CHECK_EQ_INT(wf_portset_format(&set, small, sizeof(small)), 16);
    CHECK_EQ_STR(small, "25,587,");
    CHECK_EQ_INT(wf_portset_format(&set, NULL, 0), 16);

    /* The worst case, every other port, is counted exactly. */
    memset(&set, 0, sizeof(set));
    for (uint32_t p = 1; p < 65536; p += 2)
        wf_portset_add(&set, (uint16_t)p);
    size_t n = wf_portset_format(&set, NULL, 0);
    char *text = malloc(n + 1);
    CHECK(text != NULL);
    if (text != NULL) {
        CHECK_EQ_INT(wf_portset_format(&set, text, n + 1), n);
        CHECK_EQ_INT(strlen(text), n);
        wf_portset_t again;
        CHECK_EQ_INT(wf_portset_parse(&again, (wf_str_t){text, n}, NULL, 0), 0);
        CHECK(memcmp(&again, &set, sizeof(set)) == 0);
        free(text);
    }
}

static void test_ranges_keep_input_order(void)
{
    wf_port_range_t r[4];
    char err[256];
    CHECK_EQ_INT(wf_port_ranges_parse(r, 4, WF_STR("8000-9000, 25,,4191-4191"), err, sizeof(err)),
                 3);
    CHECK_EQ_INT(r[0].lo, 8000);
    CHECK_EQ_INT(r[0].hi, 9000);
    CHECK_EQ_INT(r[1].lo, 25);
    CHECK_EQ_INT(r[1].hi, 25);
    CHECK_EQ_INT(r[2].lo, 4191);
    CHECK_EQ_INT(r[2].hi, 4191);
    CHECK_EQ_INT(wf_port_ranges_parse(r, 4, WF_STR(""), NULL, 0), 0);

    /* Exactly max items fit; one more is WF_ELIMIT with a message. */
    CHECK_EQ_INT(wf_port_ranges_parse(r, 4, WF_STR("1,2,3,4"), NULL, 0), 4);
    CHECK_EQ_INT(wf_port_ranges_parse(r, 4, WF_STR("1,2,3,4,5"), err, sizeof(err)), WF_ELIMIT);
    CHECK_EQ_STR(err, "invalid port list \"1,2,3,4,5\": more than 4 ports and ranges");
    CHECK_EQ_INT(wf_port_ranges_parse(NULL, 0, WF_STR(",,"), NULL, 0), 0);

    /* Bad items are reported exactly as by wf_portset_parse. */
    CHECK_EQ_INT(wf_port_ranges_parse(r, 4, WF_STR("25,70000"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_STR(err, "invalid port \"70000\" in \"25,70000\": must be 1-65535");
    /* A bad item beyond the limit is still named as bad, not as "too many". */
    CHECK_EQ_INT(wf_port_ranges_parse(r, 1, WF_STR("1,x"), err, sizeof(err)), WF_EINVAL);
}

static void test_linkerd_defaults(void)
{
    /* The chart's defaults: opaque ports and proxy-init's skipped ports. */
    CHECK_EQ_STR(roundtrip("25,587,3306,4444,5432,6379,9300,11211"),
                 "25,587,3306,4444,5432,6379,9300,11211");
    CHECK_EQ_STR(roundtrip("4190,4191,4567,4568"), "4190-4191,4567-4568");
}

int main(void)
{
    WF_RUN(test_single_ports_and_ranges);
    WF_RUN(test_whitespace_and_empty_items);
    WF_RUN(test_canonical_form);
    WF_RUN(test_parse_clears_set);
    WF_RUN(test_bad_ports);
    WF_RUN(test_bad_ranges);
    WF_RUN(test_error_messages_are_safe);
    WF_RUN(test_format_truncates_like_snprintf);
    WF_RUN(test_ranges_keep_input_order);
    WF_RUN(test_linkerd_defaults);
    return wf_test_done();
}

/*
 * test_init_rules.c — weft-init's ruleset text (src/init/rules.c): the exact
 * rules for the defaults, families and subnets, multiport chunking, jump
 * idempotence against saved tables, and clean.
 */
#include "../../../src/init/rules.c"

#include "wf_test.h"

static wf_init_config_t cfg;

static const char *render(wf_init_family_t family, const char *saved)
{
    static wf_init_text_t t;
    wf_init_text_free(&t);
    CHECK_EQ_INT(wf_init_render_install(&cfg, family, saved ? wf_str_from(saved) : WF_STR_NULL, &t),
                 0);
    return t.ptr ? t.ptr : "";
}

static const char *clean(const char *saved)
{
    static wf_init_text_t t;
    wf_init_text_free(&t);
    CHECK_EQ_INT(wf_init_render_clean(saved ? wf_str_from(saved) : WF_STR_NULL, &t), 0);
    return t.ptr ? t.ptr : "";
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void setup(void)
{
    wf_init_config_free(&cfg);
    wf_init_config_defaults(&cfg);
}

static void add_subnets(const char *spec)
{
    cfg.subnets = realloc(cfg.subnets, 16 * sizeof(wf_cidr_t));
    int n = wf_cidr_list_parse(cfg.subnets, 16, wf_str_from(spec), NULL, 0);
    CHECK(n >= 0);
    cfg.nsubnets = n > 0 ? (size_t)n : 0;
}

static void test_defaults_exact(void)
{
    setup();
    CHECK_EQ_STR(
        render(WF_INIT_IPV4, NULL),
        "*nat\n"
        ":WEFT_INIT_REDIRECT - [0:0]\n"
        ":WEFT_INIT_OUTPUT - [0:0]\n"
        "-A WEFT_INIT_REDIRECT -p tcp -m multiport --dports 4190,4191 -m comment --comment "
        "\"weft-init/ignore-inbound-ports:4190,4191\" -j RETURN\n"
        "-A WEFT_INIT_REDIRECT -p tcp -m comment --comment \"weft-init/redirect-inbound:4143\" "
        "-j REDIRECT --to-ports 4143\n"
        "-A WEFT_INIT_OUTPUT -m owner --uid-owner 2102 -m comment --comment "
        "\"weft-init/ignore-proxy-uid:2102\" -j RETURN\n"
        "-A WEFT_INIT_OUTPUT -o lo -m comment --comment \"weft-init/ignore-loopback\" -j RETURN\n"
        "-A WEFT_INIT_OUTPUT -p tcp -m comment --comment \"weft-init/redirect-outbound:4140\" "
        "-j REDIRECT --to-ports 4140\n"
        "-A PREROUTING -m comment --comment \"weft-init/install-inbound\" -j WEFT_INIT_REDIRECT\n"
        "-A OUTPUT -m comment --comment \"weft-init/install-outbound\" -j WEFT_INIT_OUTPUT\n"
        "COMMIT\n");
    /* Without subnets the two families get the same rules. */
    char v4[4096];
    snprintf(v4, sizeof(v4), "%s", render(WF_INIT_IPV4, NULL));
    CHECK_EQ_STR(render(WF_INIT_IPV6, NULL), v4);
}

static void test_custom_ports_and_uid(void)
{
    setup();
    cfg.inbound_port = 14143;
    cfg.outbound_port = 14140;
    cfg.proxy_uid = 4294967294u;
    const char *t = render(WF_INIT_IPV4, NULL);
    CHECK(strstr(t, "\"weft-init/redirect-inbound:14143\" -j REDIRECT --to-ports 14143\n"));
    CHECK(strstr(t, "\"weft-init/redirect-outbound:14140\" -j REDIRECT --to-ports 14140\n"));
    CHECK(strstr(t, "-m owner --uid-owner 4294967294 "));
    CHECK(!strstr(t, " 4143\n"));
    CHECK(!strstr(t, " 4140\n"));
}

static void test_subnets_by_family(void)
{
    setup();
    add_subnets("10.0.0.0/8,fd00::/8,192.168.1.7,::1");
    const char *t4 = render(WF_INIT_IPV4, NULL);
    CHECK(strstr(t4, "-A WEFT_INIT_REDIRECT -s 10.0.0.0/8 -m comment --comment "
                     "\"weft-init/ignore-inbound-subnet:10.0.0.0/8\" -j RETURN\n"));
    CHECK(strstr(t4, "-A WEFT_INIT_OUTPUT -d 10.0.0.0/8 -m comment --comment "
                     "\"weft-init/ignore-outbound-subnet:10.0.0.0/8\" -j RETURN\n"));
    CHECK(strstr(t4, "-s 192.168.1.7/32 "));
    CHECK(strstr(t4, "-d 192.168.1.7/32 "));
    CHECK(!strstr(t4, "fd00"));
    CHECK(!strstr(t4, "::1"));

    const char *t6 = render(WF_INIT_IPV6, NULL);
    CHECK(strstr(t6, "-A WEFT_INIT_REDIRECT -s fd00::/8 -m comment --comment "
                     "\"weft-init/ignore-inbound-subnet:fd00::/8\" -j RETURN\n"));
    CHECK(strstr(t6, "-A WEFT_INIT_OUTPUT -d ::1/128 "));
    CHECK(!strstr(t6, "10.0.0.0"));
    CHECK(!strstr(t6, "192.168"));
}

/* The order a packet meets the rules in is the contract: exceptions first,
 * the REDIRECT last; the uid rule before anything else outbound. */
static void test_rule_order(void)
{
    setup();
    add_subnets("10.0.0.0/8");
    wf_portset_parse(&cfg.outbound_ignore, WF_STR("443"), NULL, 0);
    const char *t = render(WF_INIT_IPV4, NULL);
    const char *uid = strstr(t, "--uid-owner"), *lo = strstr(t, "-o lo"),
               *port = strstr(t, "ignore-outbound-ports"), *net = strstr(t, "-d 10.0.0.0/8"),
               *redir = strstr(t, "redirect-outbound"), *in_port = strstr(t, "--dports 4190"),
               *in_net = strstr(t, "-s 10.0.0.0/8"), *in_redir = strstr(t, "redirect-inbound");
    CHECK(uid && lo && port && net && redir && in_port && in_net && in_redir);
    if (uid && lo && port && net && redir && in_port && in_net && in_redir) {
        CHECK(uid < lo && lo < port && port < net && net < redir);
        CHECK(in_port < in_net && in_net < in_redir);
    }
    CHECK(strncmp(t, "*nat\n", 5) == 0);
    CHECK(strcmp(t + strlen(t) - 7, "COMMIT\n") == 0);
}

/* Reads every multiport list back out of the rules of `chain`, checking the
 * 15-slot limit, and returns their union. */
static void collect_ports(const char *text, const char *chain, wf_portset_t *got, size_t *rules)
{
    memset(got, 0, sizeof(*got));
    *rules = 0;
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "-A %s -p tcp -m multiport --dports ", chain);
    for (const char *p = text; (p = strstr(p, prefix)) != NULL;) {
        p += strlen(prefix);
        size_t len = strcspn(p, " ");
        char list[256];
        CHECK(len < sizeof(list));
        snprintf(list, sizeof(list), "%.*s", (int)len, p);
        unsigned slots = 0;
        for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
            unsigned lo, hi;
            if (sscanf(tok, "%u:%u", &lo, &hi) == 2) {
                slots += 2;
                CHECK(lo + 2 <= hi); /* ranges only for runs of 3 or more */
            } else {
                CHECK_EQ_INT(sscanf(tok, "%u", &lo), 1);
                hi = lo;
                slots += 1;
            }
            for (unsigned q = lo; q <= hi && q < 65536; q++)
                wf_portset_add(got, (uint16_t)q);
        }
        CHECK(slots >= 1 && slots <= WF_INIT_MULTIPORT_MAX);
        /* The comment repeats the list, and stays within iptables' 256. */
        const char *c = strstr(p, "--comment \"weft-init/");
        CHECK(c != NULL && c - p == (ptrdiff_t)len + 12);
        if (c != NULL)
            CHECK(strcspn(c + 11, "\"") < 256);
        (*rules)++;
    }
}

static void test_multiport_chunks(void)
{
    static const struct {
        const char *spec;
        size_t rules;
    } cases[] = {
        {"", 0},
        {"443", 1},
        {"1,3,5,7,9,11,13,15,17,19,21,23,25,27,29", 1},               /* exactly 15 */
        {"1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31", 2},            /* 16 */
        {"10-20,30-40,50-60,70-80,90-99,110-120,130-140,150", 1},     /* 7 ranges + 1 */
        {"10-20,30-40,50-60,70-80,90-99,110-120,130-140,150-160", 2}, /* 16 slots */
        {"1-65535", 1},
        {"65534,65535", 1},
        {"1,2", 1},
        {"1,3-1000,1002", 1},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(cases); i++) {
        setup();
        CHECK_EQ_INT(wf_portset_parse(&cfg.outbound_ignore, wf_str_from(cases[i].spec), NULL, 0),
                     0);
        wf_portset_t got;
        size_t rules;
        collect_ports(render(WF_INIT_IPV4, NULL), "WEFT_INIT_OUTPUT", &got, &rules);
        CHECK_EQ_INT(rules, cases[i].rules);
        CHECK(memcmp(&got, &cfg.outbound_ignore, sizeof(got)) == 0);
    }

    setup();
    wf_portset_parse(&cfg.outbound_ignore, WF_STR("1,2,5-9"), NULL, 0);
    CHECK(strstr(render(WF_INIT_IPV4, NULL), "--dports 1,2,5:9 "));
    wf_portset_parse(&cfg.outbound_ignore, WF_STR("65533-65535"), NULL, 0);
    CHECK(strstr(render(WF_INIT_IPV4, NULL), "--dports 65533:65535 "));

    /* A pseudo-random stress: any set survives the chunking intact. */
    uint32_t x = 12345;
    for (int round = 0; round < 20; round++) {
        setup();
        for (int k = 0; k < 300; k++) {
            x = x * 1103515245u + 12345u;
            uint32_t lo = 1 + (x >> 8) % 65535, len = (x & 3) == 0 ? (x >> 4) % 9 : 0;
            for (uint32_t q = lo; q <= lo + len && q < 65536; q++)
                wf_portset_add(&cfg.inbound_ignore, (uint16_t)q);
        }
        wf_portset_t got;
        size_t rules;
        collect_ports(render(WF_INIT_IPV6, NULL), "WEFT_INIT_REDIRECT", &got, &rules);
        CHECK(rules >= 300 / WF_INIT_MULTIPORT_MAX);
        CHECK(memcmp(&got, &cfg.inbound_ignore, sizeof(got)) == 0);
    }
}

/* iptables-save -t nat after one weft-init run (captured from
 * iptables-nft-save v1.8.9), plus a filter table that must be ignored. */
static const char saved_installed[] =
    "# Generated by iptables-nft-save v1.8.9 (nf_tables) on Fri Nov 27 17:34:40 2026\n"
    "*filter\n"
    ":INPUT ACCEPT [0:0]\n"
    "-A INPUT -j WEFT_INIT_FILTERX\n"
    "COMMIT\n"
    "*nat\n"
    ":PREROUTING ACCEPT [0:0]\n"
    ":INPUT ACCEPT [0:0]\n"
    ":OUTPUT ACCEPT [0:0]\n"
    ":POSTROUTING ACCEPT [0:0]\n"
    ":WEFT_INIT_OUTPUT - [0:0]\n"
    ":WEFT_INIT_REDIRECT - [0:0]\n"
    "-A PREROUTING -m comment --comment \"weft-init/install-inbound\" -j WEFT_INIT_REDIRECT\n"
    "-A OUTPUT -m comment --comment \"weft-init/install-outbound\" -j WEFT_INIT_OUTPUT\n"
    "-A WEFT_INIT_OUTPUT -m owner --uid-owner 2102 -m comment --comment "
    "\"weft-init/ignore-proxy-uid:2102\" -j RETURN\n"
    "-A WEFT_INIT_OUTPUT -o lo -m comment --comment \"weft-init/ignore-loopback\" -j RETURN\n"
    "-A WEFT_INIT_OUTPUT -p tcp -m comment --comment \"weft-init/redirect-outbound:4140\" -j "
    "REDIRECT --to-ports 4140\n"
    "-A WEFT_INIT_REDIRECT -p tcp -m multiport --dports 4190,4191 -m comment --comment "
    "\"weft-init/ignore-inbound-ports:4190,4191\" -j RETURN\n"
    "-A WEFT_INIT_REDIRECT -p tcp -m comment --comment \"weft-init/redirect-inbound:4143\" -j "
    "REDIRECT --to-ports 4143\n"
    "COMMIT\n"
    "# Completed on Fri Nov 27 17:34:40 2026\n";

static const char saved_empty[] = "# Generated by iptables-nft-save v1.8.9\n"
                                  "*nat\n"
                                  ":PREROUTING ACCEPT [0:0]\n"
                                  ":INPUT ACCEPT [0:0]\n"
                                  ":OUTPUT ACCEPT [0:0]\n"
                                  ":POSTROUTING ACCEPT [0:0]\n"
                                  "COMMIT\n";

static void test_jumps_idempotent(void)
{
    setup();
    /* Present: chains rebuilt, no jump added. */
    const char *t = render(WF_INIT_IPV4, saved_installed);
    CHECK_EQ_INT(count(t, "-A PREROUTING"), 0);
    CHECK_EQ_INT(count(t, "-A OUTPUT"), 0);
    CHECK_EQ_INT(count(t, "-D "), 0);
    CHECK(strstr(t, ":WEFT_INIT_REDIRECT - [0:0]\n:WEFT_INIT_OUTPUT - [0:0]\n"));
    CHECK_EQ_INT(count(t, "-A WEFT_INIT_"), 5);

    /* Absent (empty table, no output at all, other tables only): added. */
    t = render(WF_INIT_IPV4, saved_empty);
    CHECK_EQ_INT(count(t, "-A PREROUTING -m comment --comment \"weft-init/install-inbound\" "
                          "-j WEFT_INIT_REDIRECT\n"),
                 1);
    CHECK_EQ_INT(count(t, "-A OUTPUT -m comment --comment \"weft-init/install-outbound\" "
                          "-j WEFT_INIT_OUTPUT\n"),
                 1);
    CHECK_EQ_INT(count(render(WF_INIT_IPV4, ""), "-A PREROUTING"), 1);
    CHECK_EQ_INT(count(render(WF_INIT_IPV4, "*filter\n-A PREROUTING -j WEFT_INIT_REDIRECT\n"
                                            "COMMIT\n"),
                       "-A PREROUTING"),
                 1);

    /* Only one present: only the other is added. */
    t = render(WF_INIT_IPV6, "*nat\n-A OUTPUT -j WEFT_INIT_OUTPUT\nCOMMIT\n");
    CHECK_EQ_INT(count(t, "-A PREROUTING"), 1);
    CHECK_EQ_INT(count(t, "-A OUTPUT"), 0);

    /* A jump written differently (someone's own match) still counts. */
    t = render(WF_INIT_IPV4, "*nat\n-A PREROUTING -i eth0 -j WEFT_INIT_REDIRECT\n"
                             "-A OUTPUT -p tcp -g WEFT_INIT_OUTPUT\nCOMMIT\n");
    CHECK_EQ_INT(count(t, "-A PREROUTING"), 0);
    CHECK_EQ_INT(count(t, "-A OUTPUT"), 0);

    /* A chain name inside a quoted comment is not a jump; nor is a jump to
     * our chain from a chain other than PREROUTING/OUTPUT. */
    t = render(WF_INIT_IPV4,
               "*nat\n-A PREROUTING -m comment --comment \"x \\\" -j WEFT_INIT_REDIRECT\" -j "
               "ACCEPT\n-A POSTROUTING -j WEFT_INIT_OUTPUT\nCOMMIT\n");
    CHECK_EQ_INT(count(t, "-A PREROUTING"), 1);
    CHECK_EQ_INT(count(t, "-A OUTPUT"), 1);

    /* Several copies (e.g. added by hand): keep one, delete the rest by
     * their exact saved spec. */
    t = render(WF_INIT_IPV4, "*nat\n"
                             "-A PREROUTING -m comment --comment \"weft-init/install-inbound\" -j "
                             "WEFT_INIT_REDIRECT\n"
                             "-A PREROUTING -j WEFT_INIT_REDIRECT\n"
                             "-A PREROUTING -m comment --comment \"weft-init/install-inbound\" -j "
                             "WEFT_INIT_REDIRECT\n"
                             "-A OUTPUT -j WEFT_INIT_OUTPUT\n"
                             "COMMIT\n");
    CHECK_EQ_INT(count(t, "-A PREROUTING"), 0);
    CHECK_EQ_INT(count(t, "-A OUTPUT"), 0);
    CHECK_EQ_INT(count(t, "-D "), 2);
    CHECK(strstr(t, "-D PREROUTING -j WEFT_INIT_REDIRECT\n"
                    "-D PREROUTING -m comment --comment \"weft-init/install-inbound\" -j "
                    "WEFT_INIT_REDIRECT\nCOMMIT\n"));
}

static void test_clean(void)
{
    CHECK_EQ_STR(clean(saved_installed),
                 "*nat\n"
                 "-D PREROUTING -m comment --comment \"weft-init/install-inbound\" -j "
                 "WEFT_INIT_REDIRECT\n"
                 "-D OUTPUT -m comment --comment \"weft-init/install-outbound\" -j "
                 "WEFT_INIT_OUTPUT\n"
                 "-F WEFT_INIT_OUTPUT\n"
                 "-F WEFT_INIT_REDIRECT\n"
                 "-X WEFT_INIT_OUTPUT\n"
                 "-X WEFT_INIT_REDIRECT\n"
                 "COMMIT\n");
    /* Nothing of ours: nothing to do (so nothing is run). */
    CHECK_EQ_STR(clean(saved_empty), "");
    CHECK_EQ_STR(clean(""), "");
    CHECK_EQ_STR(clean(NULL), "");
    CHECK_EQ_STR(clean("*nat\n:WEFT_INIT_ - [0:0]\n:WEFTX - [0:0]\nCOMMIT\n"), "");

    /* Chains only (a jump already removed by hand), any WEFT_INIT_* chain,
     * and a chain of ours that jumps to another of ours: flushed first,
     * never "-D"'d rule by rule. */
    CHECK_EQ_STR(clean("*nat\n:WEFT_INIT_OLD - [0:0]\n:WEFT_INIT_OUTPUT - [0:0]\n"
                       "-A WEFT_INIT_OLD -j WEFT_INIT_OUTPUT\n"
                       "-A POSTROUTING -p tcp -j WEFT_INIT_OLD\nCOMMIT\n"),
                 "*nat\n"
                 "-D POSTROUTING -p tcp -j WEFT_INIT_OLD\n"
                 "-F WEFT_INIT_OLD\n-F WEFT_INIT_OUTPUT\n"
                 "-X WEFT_INIT_OLD\n-X WEFT_INIT_OUTPUT\n"
                 "COMMIT\n");

    /* Clean of a fresh install (what --dry-run --clean shows) removes both
     * jumps and both chains; CRLF line ends are tolerated. */
    setup();
    char install[4096];
    snprintf(install, sizeof(install), "%s", render(WF_INIT_IPV4, NULL));
    const char *c = clean(install);
    CHECK_EQ_INT(count(c, "-D PREROUTING"), 1);
    CHECK_EQ_INT(count(c, "-D OUTPUT"), 1);
    CHECK_EQ_INT(count(c, "-X "), 2);
    CHECK_EQ_INT(
        count(clean("*nat\r\n:WEFT_INIT_OUTPUT - [0:0]\r\nCOMMIT\r\n"), "-X WEFT_INIT_OUTPUT\n"),
        1);
}

static void test_every_rule_is_commented(void)
{
    setup();
    add_subnets("10.0.0.0/8,fd00::/8");
    wf_portset_parse(&cfg.outbound_ignore, WF_STR("1-100,200,300-400"), NULL, 0);
    for (int fam = 0; fam < 2; fam++) {
        const char *t = render(fam ? WF_INIT_IPV6 : WF_INIT_IPV4, NULL);
        size_t rules = count(t, "\n-A ");
        CHECK(rules >= 8);
        CHECK_EQ_INT(count(t, "-m comment --comment \"weft-init/"), rules);
    }
}

static void test_text(void)
{
    wf_init_text_t t = {0};
    CHECK_EQ_INT(wf_init_text_append(&t, WF_STR("")), 0);
    CHECK_EQ_STR(t.ptr, "");
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(wf_init_text_printf(&t, "%04d,", i), 0);
    CHECK_EQ_INT(t.len, 5000);
    CHECK_EQ_INT(strlen(t.ptr), 5000);
    CHECK(strncmp(t.ptr + 4995, "0999,", 5) == 0);
    wf_init_text_free(&t);
    CHECK(t.ptr == NULL && t.len == 0);
}

int main(void)
{
    WF_RUN(test_defaults_exact);
    WF_RUN(test_custom_ports_and_uid);
    WF_RUN(test_subnets_by_family);
    WF_RUN(test_rule_order);
    WF_RUN(test_multiport_chunks);
    WF_RUN(test_jumps_idempotent);
    WF_RUN(test_clean);
    WF_RUN(test_every_rule_is_commented);
    WF_RUN(test_text);
    wf_init_config_free(&cfg);
    return wf_test_done();
}

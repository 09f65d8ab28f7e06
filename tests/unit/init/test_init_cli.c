/*
 * test_init_cli.c — weft-init's flags (src/init/cli.c): defaults, every
 * flag in both spellings, every kind of bad value with a message naming the
 * flag and the value, and the iptables tool names for each family.
 */
#include "../../../src/init/cli.c"
#include "../../../src/init/rules.c"

#include "wf_test.h"

#include <stdarg.h>

static wf_init_config_t cfg;
static char err[768];

/* Parses a NULL-terminated list of flags (argv[0] is supplied). */
static int parse(const char *first, ...)
{
    char *argv[32] = {"weft-init"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    wf_init_config_free(&cfg);
    return wf_init_cli_parse(&cfg, argc, argv, err, sizeof(err));
}

static char *ports_of(const wf_portset_t *s)
{
    static char out[512];
    wf_portset_format(s, out, sizeof(out));
    return out;
}

static void test_defaults(void)
{
    CHECK_EQ_INT(parse(NULL), 0);
    CHECK_EQ_INT(cfg.inbound_port, 4143);
    CHECK_EQ_INT(cfg.outbound_port, 4140);
    CHECK_EQ_INT(cfg.proxy_uid, 2102);
    CHECK_EQ_STR(ports_of(&cfg.inbound_ignore), "4190-4191");
    CHECK_EQ_STR(ports_of(&cfg.outbound_ignore), "");
    CHECK_EQ_INT(cfg.nsubnets, 0);
    CHECK(cfg.ipv6);
    CHECK(!cfg.dry_run);
    CHECK(!cfg.clean);
    CHECK(cfg.bin == NULL);
    CHECK(cfg.save_bin == NULL);
}

static void test_every_flag(void)
{
    CHECK_EQ_INT(parse("--incoming-proxy-port", "14143", "--outgoing-proxy-port=14140",
                       "--proxy-uid", "0", "--inbound-ports-to-ignore", "25,8000-9000",
                       "--outbound-ports-to-ignore=443", "--subnets-to-ignore",
                       "10.0.0.0/8,fd00::/8", "--ipv6=false", "--firewall-bin-path",
                       "/usr/sbin/iptables-legacy", "--firewall-save-bin-path=/opt/iptables-save",
                       "--dry-run", "--clean", NULL),
                 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(cfg.inbound_port, 14143);
    CHECK_EQ_INT(cfg.outbound_port, 14140);
    CHECK_EQ_INT(cfg.proxy_uid, 0);
    /* 4190,4191 stay: the proxy's own ports are never redirected. */
    CHECK_EQ_STR(ports_of(&cfg.inbound_ignore), "25,4190-4191,8000-9000");
    CHECK_EQ_STR(ports_of(&cfg.outbound_ignore), "443");
    CHECK_EQ_INT(cfg.nsubnets, 2);
    CHECK_EQ_INT(cfg.subnets[0].family, AF_INET);
    CHECK_EQ_INT(cfg.subnets[1].family, AF_INET6);
    CHECK(!cfg.ipv6);
    CHECK_EQ_STR(cfg.bin, "/usr/sbin/iptables-legacy");
    CHECK_EQ_STR(cfg.save_bin, "/opt/iptables-save");
    CHECK(cfg.dry_run);
    CHECK(cfg.clean);
}

static void test_lists_accumulate(void)
{
    CHECK_EQ_INT(parse("--outbound-ports-to-ignore", "25", "--outbound-ports-to-ignore", "587,26",
                       "--subnets-to-ignore", "10.0.0.0/8", "--subnets-to-ignore",
                       "192.168.0.0/16,,", "--inbound-ports-to-ignore", "", NULL),
                 0);
    CHECK_EQ_STR(ports_of(&cfg.outbound_ignore), "25-26,587");
    CHECK_EQ_STR(ports_of(&cfg.inbound_ignore), "4190-4191");
    CHECK_EQ_INT(cfg.nsubnets, 2);
    CHECK_EQ_INT(cfg.subnets[1].addr[0], 192);
    CHECK_EQ_INT(parse("--proxy-uid", "1", "--proxy-uid", "7", NULL), 0);
    CHECK_EQ_INT(cfg.proxy_uid, 7); /* scalars: last wins */
}

static void test_ipv6_spellings(void)
{
    static const struct {
        const char *arg;
        bool want;
    } ok[] = {
        {"--ipv6", true},   {"--ipv6=false", false}, {"--ipv6=true", true},   {"--ipv6=0", false},
        {"--ipv6=1", true}, {"--ipv6=F", false},     {"--ipv6=FALSE", false}, {"--ipv6=True", true},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(ok); i++) {
        CHECK_EQ_INT(parse(ok[i].arg, NULL), 0);
        CHECK_EQ_INT(cfg.ipv6, ok[i].want);
    }
    CHECK_EQ_INT(parse("--ipv6=maybe", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "--ipv6: invalid value \"maybe\": must be true or false");
    CHECK_EQ_INT(parse("--ipv6=", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "--ipv6: invalid value \"\": must be true or false");
    /* "--ipv6 false" is the flag and a stray argument, not a silent yes. */
    CHECK_EQ_INT(parse("--ipv6", "false", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "unexpected argument \"false\" (weft-init takes only flags)");
}

static void test_bad_values(void)
{
    static const struct {
        const char *flag, *val, *msg;
    } bad[] = {
        {"--incoming-proxy-port", "0",
         "--incoming-proxy-port: invalid port \"0\": must be 1-65535"},
        {"--incoming-proxy-port", "65536",
         "--incoming-proxy-port: invalid port \"65536\": must be 1-65535"},
        {"--outgoing-proxy-port", "http",
         "--outgoing-proxy-port: invalid port \"http\": must be 1-65535"},
        {"--outgoing-proxy-port", "", "--outgoing-proxy-port: invalid port \"\": must be 1-65535"},
        {"--outgoing-proxy-port", " 80",
         "--outgoing-proxy-port: invalid port \" 80\": must be 1-65535"},
        {"--outgoing-proxy-port", "-1",
         "--outgoing-proxy-port: invalid port \"-1\": must be 1-65535"},
        {"--outgoing-proxy-port", "99999999999999999999999",
         "--outgoing-proxy-port: invalid port \"99999999999999999999999\": must be 1-65535"},
        {"--proxy-uid", "-1", "--proxy-uid: invalid uid \"-1\": must be a number 0-4294967294"},
        {"--proxy-uid", "4294967295",
         "--proxy-uid: invalid uid \"4294967295\": must be a number 0-4294967294"},
        {"--proxy-uid", "proxy",
         "--proxy-uid: invalid uid \"proxy\": must be a number 0-4294967294"},
        {"--inbound-ports-to-ignore", "25,70000",
         "--inbound-ports-to-ignore: invalid port \"70000\" in \"25,70000\": must be 1-65535"},
        {"--outbound-ports-to-ignore", "9000-8000",
         "--outbound-ports-to-ignore: invalid port range \"9000-8000\": lower bound 9000 is above "
         "upper bound 8000"},
        {"--outbound-ports-to-ignore", "0",
         "--outbound-ports-to-ignore: invalid port \"0\": must be 1-65535"},
        {"--subnets-to-ignore", "10.0.0.1/8,fd00::/8",
         "--subnets-to-ignore: invalid CIDR \"10.0.0.1/8\" in \"10.0.0.1/8,fd00::/8\": host bits "
         "set below the /8 prefix (did you mean 10.0.0.0/8?)"},
        {"--subnets-to-ignore", "10.0.0.0/33",
         "--subnets-to-ignore: invalid CIDR \"10.0.0.0/33\": prefix length must be 0-32"},
        {"--subnets-to-ignore", "example.com",
         "--subnets-to-ignore: invalid CIDR \"example.com\": not an IPv4 or IPv6 address"},
        {"--firewall-bin-path", "", "--firewall-bin-path: invalid path \"\": must be a file name"},
        {"--firewall-save-bin-path", "",
         "--firewall-save-bin-path: invalid path \"\": must be a file name"},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        CHECK_EQ_INT(parse(bad[i].flag, bad[i].val, NULL), WF_EINVAL);
        CHECK_EQ_STR(err, bad[i].msg);
        /* The same with --flag=value. */
        char joined[256];
        snprintf(joined, sizeof(joined), "%s=%s", bad[i].flag, bad[i].val);
        CHECK_EQ_INT(parse(joined, NULL), WF_EINVAL);
        CHECK_EQ_STR(err, bad[i].msg);
        /* A bad value after good ones still fails the whole parse, and the
         * config is left freed. */
        CHECK_EQ_INT(
            parse("--dry-run", "--subnets-to-ignore", "10.0.0.0/8", bad[i].flag, bad[i].val, NULL),
            WF_EINVAL);
        CHECK(cfg.subnets == NULL);
    }
}

static void test_bad_flags(void)
{
    CHECK_EQ_INT(parse("--bogus", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "unknown flag \"--bogus\"");
    CHECK_EQ_INT(parse("--bogus=1", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "unknown flag \"--bogus=1\"");
    CHECK_EQ_INT(parse("-x", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "unknown flag \"-x\"");
    CHECK_EQ_INT(parse("--dry-run=yes", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "flag \"--dry-run=yes\" takes no value");
    CHECK_EQ_INT(parse("--proxy-uid", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "flag \"--proxy-uid\" needs a value");
    CHECK_EQ_INT(parse("--dry-run", "iptables", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "unexpected argument \"iptables\" (weft-init takes only flags)");
    /* No permutation: a flag after a stray argument is not silently used. */
    CHECK_EQ_INT(parse("stray", "--dry-run", NULL), WF_EINVAL);
    CHECK_EQ_STR(err, "unexpected argument \"stray\" (weft-init takes only flags)");
    /* After a failure, the next parse starts clean. */
    CHECK_EQ_INT(parse("--dry-run", NULL), 0);
    CHECK(cfg.dry_run);
    CHECK_EQ_STR(err, "");
}

static void test_help(void)
{
    CHECK_EQ_INT(parse("--help", NULL), WF_INIT_CLI_HELP);
    CHECK_EQ_INT(parse("-h", NULL), WF_INIT_CLI_HELP);
    CHECK_EQ_INT(parse("--dry-run", "-h", NULL), WF_INIT_CLI_HELP);
    /* The help text names every long flag. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    if (f == NULL)
        return;
    wf_init_cli_usage(f);
    fclose(f);
    for (const struct option *o = wf_init_options; o->name != NULL; o++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s", o->name);
        CHECK(strstr(text, flag) != NULL);
    }
    free(text);
}

static void test_tools(void)
{
    wf_init_tools_t t;
    CHECK_EQ_INT(wf_init_tools_derive(&t, "iptables-nft", NULL, WF_INIT_IPV4, err, sizeof(err)), 0);
    CHECK_EQ_STR(t.restore, "iptables-nft-restore");
    CHECK_EQ_STR(t.save, "iptables-nft-save");
    CHECK_EQ_INT(wf_init_tools_derive(&t, "iptables-nft", NULL, WF_INIT_IPV6, err, sizeof(err)), 0);
    CHECK_EQ_STR(t.restore, "ip6tables-nft-restore");
    CHECK_EQ_STR(t.save, "ip6tables-nft-save");
    CHECK_EQ_INT(wf_init_tools_derive(&t, "/usr/sbin/iptables", "/opt/x/iptables-save",
                                      WF_INIT_IPV6, err, sizeof(err)),
                 0);
    CHECK_EQ_STR(t.restore, "/usr/sbin/ip6tables-restore");
    CHECK_EQ_STR(t.save, "/opt/x/ip6tables-save");
    /* Only the file name is rewritten, never a directory called iptables. */
    CHECK_EQ_INT(
        wf_init_tools_derive(&t, "/iptables/iptables-legacy", NULL, WF_INIT_IPV6, err, sizeof(err)),
        0);
    CHECK_EQ_STR(t.restore, "/iptables/ip6tables-legacy-restore");
    CHECK_EQ_STR(t.save, "/iptables/ip6tables-legacy-save");

    /* Any name works for IPv4; IPv6 needs one it can translate. */
    CHECK_EQ_INT(wf_init_tools_derive(&t, "/opt/fw", "/opt/fwsave", WF_INIT_IPV4, err, sizeof(err)),
                 0);
    CHECK_EQ_STR(t.restore, "/opt/fw-restore");
    CHECK_EQ_STR(t.save, "/opt/fwsave");
    CHECK_EQ_INT(wf_init_tools_derive(&t, "/opt/fw", NULL, WF_INIT_IPV6, err, sizeof(err)),
                 WF_EINVAL);
    CHECK_EQ_STR(err, "--firewall-bin-path: cannot name the IPv6 tool for \"/opt/fw\" (its file "
                      "name must start with \"iptables\"); use --ipv6=false to skip IPv6");
    CHECK_EQ_INT(wf_init_tools_derive(&t, "iptables", "/opt/save", WF_INIT_IPV6, err, sizeof(err)),
                 WF_EINVAL);
    CHECK(strncmp(err, "--firewall-save-bin-path: ", 26) == 0);
}

int main(void)
{
    WF_RUN(test_defaults);
    WF_RUN(test_every_flag);
    WF_RUN(test_lists_accumulate);
    WF_RUN(test_ipv6_spellings);
    WF_RUN(test_bad_values);
    WF_RUN(test_bad_flags);
    WF_RUN(test_help);
    WF_RUN(test_tools);
    wf_init_config_free(&cfg);
    return wf_test_done();
}

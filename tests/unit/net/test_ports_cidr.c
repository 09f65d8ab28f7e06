/*
 * test_ports_cidr.c — CIDR lists as config.linkerd.io/skip-subnets and
 * weft-init's --subnets-to-ignore spell them: IPv4 and IPv6, bare hosts,
 * host bits, prefix bounds, list rules, contains() and format().
 */
#include "net/ports.h"
#include "wf_test.h"

#include <arpa/inet.h>

/* Parses s and formats it back ("ERR <message>" on failure). */
static const char *cidr_rt(const char *s)
{
    static char out[256];
    char err[200];
    wf_cidr_t c;
    int rc = wf_cidr_parse(&c, wf_str_from(s), err, sizeof(err));
    if (rc < 0) {
        snprintf(out, sizeof(out), "ERR %s", err);
        return out;
    }
    wf_cidr_format(&c, out, sizeof(out));
    return out;
}

static struct sockaddr_storage ss;

static const struct sockaddr *v4(const char *a)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    memset(&ss, 0, sizeof(ss));
    sin->sin_family = AF_INET;
    CHECK_EQ_INT(inet_pton(AF_INET, a, &sin->sin_addr), 1);
    return (const struct sockaddr *)&ss;
}

static const struct sockaddr *v6(const char *a)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    sin6->sin6_family = AF_INET6;
    CHECK_EQ_INT(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
    return (const struct sockaddr *)&ss;
}

static void test_parse_ipv4(void)
{
    wf_cidr_t c;
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("10.0.0.0/8"), NULL, 0), 0);
    CHECK_EQ_INT(c.family, AF_INET);
    CHECK_EQ_INT(c.prefix, 8);
    CHECK_EQ_INT(c.addr[0], 10);
    CHECK_EQ_INT(c.addr[1], 0);
    CHECK_EQ_STR(cidr_rt("10.0.0.0/8"), "10.0.0.0/8");
    CHECK_EQ_STR(cidr_rt("192.168.1.7"), "192.168.1.7/32"); /* bare host */
    CHECK_EQ_STR(cidr_rt("0.0.0.0/0"), "0.0.0.0/0");
    CHECK_EQ_STR(cidr_rt("100.64.0.0/10"), "100.64.0.0/10");
    CHECK_EQ_STR(cidr_rt("172.16.0.0/12"), "172.16.0.0/12");
    CHECK_EQ_STR(cidr_rt(" 192.168.0.0/16\t"), "192.168.0.0/16");
    CHECK_EQ_STR(cidr_rt("10.1.2.3/32"), "10.1.2.3/32");
    CHECK_EQ_STR(cidr_rt("10.0.0.0/08"), "10.0.0.0/8");
}

static void test_parse_ipv6(void)
{
    wf_cidr_t c;
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("fd00::/8"), NULL, 0), 0);
    CHECK_EQ_INT(c.family, AF_INET6);
    CHECK_EQ_INT(c.prefix, 8);
    CHECK_EQ_INT(c.addr[0], 0xfd);
    CHECK_EQ_STR(cidr_rt("fd00::/8"), "fd00::/8");
    CHECK_EQ_STR(cidr_rt("2001:DB8::/32"), "2001:db8::/32");
    CHECK_EQ_STR(cidr_rt("::1"), "::1/128");
    CHECK_EQ_STR(cidr_rt("::/0"), "::/0");
    CHECK_EQ_STR(cidr_rt("2001:db8:0:0:0:0:0:1/128"), "2001:db8::1/128");
    CHECK_EQ_STR(cidr_rt("::ffff:10.0.0.0/104"), "::ffff:10.0.0.0/104");
    CHECK_EQ_STR(cidr_rt("fd00::/127"), "fd00::/127");
}

static void test_host_bits(void)
{
    CHECK_EQ_STR(cidr_rt("10.0.0.1/8"),
                 "ERR invalid CIDR \"10.0.0.1/8\": host bits set below the /8 prefix "
                 "(did you mean 10.0.0.0/8?)");
    CHECK_EQ_STR(cidr_rt("192.168.1.7/24"),
                 "ERR invalid CIDR \"192.168.1.7/24\": host bits set below the /24 prefix "
                 "(did you mean 192.168.1.0/24?)");
    CHECK_EQ_STR(cidr_rt("10.0.0.128/25"), "10.0.0.128/25");
    CHECK_EQ_STR(cidr_rt("10.0.0.129/25"),
                 "ERR invalid CIDR \"10.0.0.129/25\": host bits set below the /25 prefix "
                 "(did you mean 10.0.0.128/25?)");
    CHECK_EQ_STR(cidr_rt("fd00::1/64"),
                 "ERR invalid CIDR \"fd00::1/64\": host bits set below the /64 prefix "
                 "(did you mean fd00::/64?)");
    CHECK_EQ_STR(cidr_rt("1.0.0.0/0"),
                 "ERR invalid CIDR \"1.0.0.0/0\": host bits set below the /0 prefix "
                 "(did you mean 0.0.0.0/0?)");
}

static void test_bad_cidrs(void)
{
    wf_cidr_t c;
    char err[200];
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("10.0.0.0/33"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_STR(err, "invalid CIDR \"10.0.0.0/33\": prefix length must be 0-32");
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("fd00::/129"), err, sizeof(err)), WF_ERANGE);
    CHECK_EQ_STR(err, "invalid CIDR \"fd00::/129\": prefix length must be 0-128");
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("fd00::/1280"), NULL, 0), WF_ERANGE);
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("10.0.0.0/"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid CIDR \"10.0.0.0/\": prefix length must be a number 0-32");
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("10.0.0.0/x"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid CIDR \"10.0.0.0/x\": prefix length must be a number 0-32");
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("/8"), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid CIDR \"/8\": missing address");
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR(""), err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid CIDR \"\": empty");
    CHECK_EQ_INT(wf_cidr_parse(&c, WF_STR("  "), NULL, 0), WF_EINVAL);

    const char *bad[] = {
        "10.0.0",
        "10.0.0.0.0",
        "256.0.0.0",
        "010.0.0.0",
        "10.0.0.0/8/8",
        "10.0.0.0 /8",
        "10.0.0.0/ 8",
        "10.0.0.0/+8",
        "10.0.0.0/-1",
        "fe80::1%eth0",
        "fd00:::/8",
        "g::/8",
        "localhost",
        "10.0.0.0/8,",
        "1.2.3.4:80",
        "[::1]",
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1/128",
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        int rc = wf_cidr_parse(&c, wf_str_from(bad[i]), err, sizeof(err));
        CHECK(rc == WF_EINVAL || rc == WF_ERANGE);
        if (rc >= 0)
            fprintf(stderr, "  accepted bad CIDR \"%s\"\n", bad[i]);
        CHECK(strncmp(err, "invalid CIDR \"", 14) == 0);
        /* A failed parse never leaves a usable-looking network behind. */
        CHECK_EQ_INT(c.family, 0);
    }

    /* An embedded NUL must not let "10.0.0.1\0junk" pass as 10.0.0.1. */
    static const char nul[] = "10.0.0.1\0junk";
    CHECK_EQ_INT(wf_cidr_parse(&c, (wf_str_t){nul, sizeof(nul) - 1}, err, sizeof(err)), WF_EINVAL);
    CHECK_EQ_STR(err, "invalid CIDR \"10.0.0.1\\x00junk\": not an IPv4 or IPv6 address");
}

static void test_list(void)
{
    wf_cidr_t c[4];
    char err[200];
    CHECK_EQ_INT(
        wf_cidr_list_parse(c, 4, WF_STR("10.0.0.0/8, fd00::/8,,192.168.1.7"), err, sizeof(err)), 3);
    CHECK_EQ_INT(c[0].family, AF_INET);
    CHECK_EQ_INT(c[1].family, AF_INET6);
    CHECK_EQ_INT(c[2].prefix, 32);
    CHECK_EQ_INT(wf_cidr_list_parse(c, 4, WF_STR(""), NULL, 0), 0);
    CHECK_EQ_INT(wf_cidr_list_parse(c, 4, WF_STR(" , "), NULL, 0), 0);

    CHECK_EQ_INT(wf_cidr_list_parse(c, 4, WF_STR("10.0.0.0/8,10.0.0.1/8"), err, sizeof(err)),
                 WF_EINVAL);
    CHECK_EQ_STR(err, "invalid CIDR \"10.0.0.1/8\" in \"10.0.0.0/8,10.0.0.1/8\": host bits set "
                      "below the /8 prefix (did you mean 10.0.0.0/8?)");
    CHECK_EQ_INT(
        wf_cidr_list_parse(c, 2, WF_STR("1.0.0.0/8,2.0.0.0/8,3.0.0.0/8"), err, sizeof(err)),
        WF_ELIMIT);
    CHECK_EQ_STR(err, "invalid CIDR list \"1.0.0.0/8,2.0.0.0/8,3.0.0.0/8\": more than 2 networks");
    CHECK_EQ_INT(wf_cidr_list_parse(c, 4, WF_STR("10.0.0.0/8;fd00::/8"), NULL, 0), WF_EINVAL);
}

static void test_contains(void)
{
    wf_cidr_t net, net6, all, host;
    wf_cidr_parse(&net, WF_STR("10.42.0.0/16"), NULL, 0);
    wf_cidr_parse(&net6, WF_STR("fd00::/8"), NULL, 0);
    wf_cidr_parse(&all, WF_STR("0.0.0.0/0"), NULL, 0);
    wf_cidr_parse(&host, WF_STR("10.42.0.9"), NULL, 0);

    CHECK(wf_cidr_contains(&net, v4("10.42.0.1")));
    CHECK(wf_cidr_contains(&net, v4("10.42.255.255")));
    CHECK(!wf_cidr_contains(&net, v4("10.43.0.1")));
    CHECK(!wf_cidr_contains(&net, v4("11.42.0.1")));
    CHECK(wf_cidr_contains(&all, v4("203.0.113.9")));
    CHECK(wf_cidr_contains(&host, v4("10.42.0.9")));
    CHECK(!wf_cidr_contains(&host, v4("10.42.0.8")));

    CHECK(wf_cidr_contains(&net6, v6("fd12::1")));
    CHECK(!wf_cidr_contains(&net6, v6("fe80::1")));
    /* Families never mix, except an IPv4-mapped address in an IPv4 net. */
    CHECK(!wf_cidr_contains(&net6, v4("10.42.0.1")));
    CHECK(!wf_cidr_contains(&net, v6("fd00::1")));
    CHECK(wf_cidr_contains(&net, v6("::ffff:10.42.3.4")));
    CHECK(!wf_cidr_contains(&net, v6("::ffff:10.43.3.4")));
    CHECK(!wf_cidr_contains(&net, v6("::10.42.3.4"))); /* compatible, not mapped */
    CHECK(!wf_cidr_contains(&net, NULL));

    /* Prefix edges inside a byte. */
    wf_cidr_t n25;
    wf_cidr_parse(&n25, WF_STR("10.0.0.128/25"), NULL, 0);
    CHECK(wf_cidr_contains(&n25, v4("10.0.0.128")));
    CHECK(wf_cidr_contains(&n25, v4("10.0.0.255")));
    CHECK(!wf_cidr_contains(&n25, v4("10.0.0.127")));
}

static void test_format(void)
{
    wf_cidr_t c;
    wf_cidr_parse(&c, WF_STR("10.0.0.0/8"), NULL, 0);
    char small[5];
    CHECK_EQ_INT(wf_cidr_format(&c, small, sizeof(small)), 10);
    CHECK_EQ_STR(small, "10.0");
    CHECK_EQ_INT(wf_cidr_format(&c, NULL, 0), 10);
    wf_cidr_t zero;
    memset(&zero, 0, sizeof(zero));
    char out[8] = "XXXXXXX";
    CHECK_EQ_INT(wf_cidr_format(&zero, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "");
    /* The longest form fits INET6_ADDRSTRLEN + "/128". */
    wf_cidr_parse(&c, WF_STR("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), NULL, 0);
    char big[INET6_ADDRSTRLEN + 4];
    CHECK_EQ_INT(wf_cidr_format(&c, big, sizeof(big)), 43);
    CHECK_EQ_STR(big, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
}

int main(void)
{
    WF_RUN(test_parse_ipv4);
    WF_RUN(test_parse_ipv6);
    WF_RUN(test_host_bits);
    WF_RUN(test_bad_cidrs);
    WF_RUN(test_list);
    WF_RUN(test_contains);
    WF_RUN(test_format);
    return wf_test_done();
}

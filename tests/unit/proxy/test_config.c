/* Unit tests: WEFT_PROXY_* configuration parsing and validation. */
#include "config.h"
#include "wf_test.h"

static char err[512];
static int warnings;

static void count_warn(const char *msg)
{
    warnings++;
}

static int load(wf_proxy_config_t *cfg, char **env)
{
    err[0] = '\0';
    return wf_proxy_config_load(cfg, env, err, sizeof(err), count_warn);
}

static void test_defaults(void)
{
    wf_proxy_config_t cfg;
    char *env[] = {NULL};
    CHECK_EQ_INT(load(&cfg, env), 0);
    CHECK_EQ_INT(cfg.cores, 1);
    CHECK_EQ_INT(wf_addr_port(&cfg.inbound_addr), 4143);
    CHECK_EQ_INT(cfg.n_outbound_addrs, 1);
    CHECK_EQ_INT(wf_addr_port(&cfg.outbound_addrs[0]), 4140);
    CHECK(wf_addr_is_loopback(&cfg.outbound_addrs[0]));
    CHECK_EQ_INT(wf_addr_port(&cfg.admin_addr), 4191);
    CHECK_EQ_INT(cfg.inbound_detect_timeout_ms, 10000);
    CHECK_EQ_INT(cfg.outbound_connect_timeout_ms, 1000);
    CHECK_EQ_INT(cfg.inbound_connect_timeout_ms, 100);
    CHECK_EQ_INT(cfg.shutdown_grace_ms, 120000);
    CHECK_EQ_INT(cfg.metrics_retain_idle_ms, 600000);
    CHECK(!cfg.shutdown_endpoint_enabled);
    CHECK_EQ_STR(cfg.inbound_default_policy, "all-unauthenticated");
    CHECK(cfg.ipv6_defaults); /* IPv6 twins of the default listeners */
    /* The seed's default opaque ports. */
    int opaque[] = {25, 587, 3306, 4444, 5432, 6379, 9300, 11211};
    for (size_t i = 0; i < WF_ARRAY_LEN(opaque); i++)
        CHECK(wf_portset_has(&cfg.inbound_opaque, (uint16_t)opaque[i]));
    CHECK(!wf_portset_has(&cfg.inbound_opaque, 80));
}

static void test_values(void)
{
    wf_proxy_config_t cfg;
    char *env[] = {"WEFT_PROXY_CORES=4",
                   "WEFT_PROXY_INBOUND_DETECT_TIMEOUT=500ms",
                   "WEFT_PROXY_OUTBOUND_LISTEN_ADDRS=127.0.0.1:4140,[::1]:4140",
                   "WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION=8000-8002,9",
                   "WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED=true",
                   "WEFT_PROXY_LOG=warn,linkerd=debug",
                   "WEFT_PROXY_LOG_FORMAT=json",
                   "OTHER=1",
                   NULL};
    warnings = 0;
    CHECK_EQ_INT(load(&cfg, env), 0);
    CHECK_EQ_INT(cfg.cores, 4);
    CHECK_EQ_INT(cfg.inbound_detect_timeout_ms, 500);
    CHECK_EQ_INT(cfg.n_outbound_addrs, 2);
    CHECK(cfg.outbound_addrs[1].u.sa.sa_family == AF_INET6);
    CHECK(!cfg.ipv6_defaults); /* explicit addresses are used as given */
    CHECK(wf_portset_has(&cfg.inbound_opaque, 8001));
    CHECK(wf_portset_has(&cfg.inbound_opaque, 9));
    CHECK(!wf_portset_has(&cfg.inbound_opaque, 6379)); /* the list replaces the default */
    CHECK(cfg.shutdown_endpoint_enabled);
    CHECK_EQ_INT(cfg.log_level, WF_LOG_DEBUG);
    CHECK(cfg.log_json);
    CHECK_EQ_INT(warnings, 0);
}

/* Each bad value fails and the message names the variable. */
static void check_bad(const char *assign, const char *name)
{
    wf_proxy_config_t cfg;
    char *env[] = {(char *)assign, NULL};
    int rc = load(&cfg, env);
    CHECK(rc != 0);
    if (strstr(err, name) == NULL) {
        fprintf(stderr, "message for %s does not name %s: %s\n", assign, name, err);
        CHECK(0);
    }
}

static void test_bad_values(void)
{
    check_bad("WEFT_PROXY_CORES=0", "WEFT_PROXY_CORES");
    check_bad("WEFT_PROXY_CORES=abc", "WEFT_PROXY_CORES");
    check_bad("WEFT_PROXY_CORES=65", "WEFT_PROXY_CORES");
    check_bad("WEFT_PROXY_CORES=", "WEFT_PROXY_CORES");
    check_bad("WEFT_PROXY_INBOUND_DETECT_TIMEOUT=10", "WEFT_PROXY_INBOUND_DETECT_TIMEOUT");
    check_bad("WEFT_PROXY_INBOUND_DETECT_TIMEOUT=0s", "WEFT_PROXY_INBOUND_DETECT_TIMEOUT");
    check_bad("WEFT_PROXY_OUTBOUND_CONNECT_TIMEOUT=fast", "WEFT_PROXY_OUTBOUND_CONNECT_TIMEOUT");
    check_bad("WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION=70000",
              "WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION");
    check_bad("WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION=9-3",
              "WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION");
    check_bad("WEFT_PROXY_ADMIN_LISTEN_ADDR=nope", "WEFT_PROXY_ADMIN_LISTEN_ADDR");
    check_bad("WEFT_PROXY_ADMIN_LISTEN_ADDR=0.0.0.0:0", "listen");
    check_bad("WEFT_PROXY_OUTBOUND_LISTEN_ADDRS=,", "WEFT_PROXY_OUTBOUND_LISTEN_ADDRS");
    check_bad("WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED=yes", "WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED");
    check_bad("WEFT_PROXY_LOG=loud", "WEFT_PROXY_LOG");
    check_bad("WEFT_PROXY_LOG_FORMAT=xml", "WEFT_PROXY_LOG_FORMAT");
    check_bad("WEFT_PROXY_INBOUND_DEFAULT_POLICY=allow-all", "WEFT_PROXY_INBOUND_DEFAULT_POLICY");
    check_bad("WEFT_PROXY_BUFFER_SIZE=12", "WEFT_PROXY_BUFFER_SIZE");
}

static void test_unknown_names_warn(void)
{
    wf_proxy_config_t cfg;
    char *env[] = {"WEFT_PROXY_COERS=2", "WEFT_PROXY_IDENTITY_DIR=/x", NULL};
    warnings = 0;
    CHECK_EQ_INT(load(&cfg, env), 0);
    CHECK_EQ_INT(warnings, 1); /* the typo, not the reserved identity variable */
}

static void test_env_json(void)
{
    char *env[] = {"WEFT_PROXY_LOG=debug", "PATH=/bin", "WEFT_PROXY_X=a\"b", NULL};
    wf_sbuf_t out = {0};
    wf_proxy_config_env_json(env, &out);
    CHECK_EQ_STR(out.ptr, "{\"WEFT_PROXY_LOG\":\"debug\",\"WEFT_PROXY_X\":\"a\\\"b\"}\n");
    wf_sbuf_free(&out);
}

int main(void)
{
    WF_RUN(test_defaults);
    WF_RUN(test_values);
    WF_RUN(test_bad_values);
    WF_RUN(test_unknown_names_warn);
    WF_RUN(test_env_json);
    return wf_test_done();
}

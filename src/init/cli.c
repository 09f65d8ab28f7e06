/*
 * cli.c — weft-init's flags (see cli.h). Flag names and meanings follow
 * Linkerd's proxy-init so that an injector can pass the same arguments.
 */
#include "cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>

enum {
    WF_INIT_OPT_INBOUND_PORT = 256,
    WF_INIT_OPT_OUTBOUND_PORT,
    WF_INIT_OPT_PROXY_UID,
    WF_INIT_OPT_INBOUND_IGNORE,
    WF_INIT_OPT_OUTBOUND_IGNORE,
    WF_INIT_OPT_SUBNETS_IGNORE,
    WF_INIT_OPT_IPV6,
    WF_INIT_OPT_BIN,
    WF_INIT_OPT_SAVE_BIN,
    WF_INIT_OPT_DRY_RUN,
    WF_INIT_OPT_CLEAN,
};

static const struct option wf_init_options[] = {
    {"incoming-proxy-port", required_argument, NULL, WF_INIT_OPT_INBOUND_PORT},
    {"outgoing-proxy-port", required_argument, NULL, WF_INIT_OPT_OUTBOUND_PORT},
    {"proxy-uid", required_argument, NULL, WF_INIT_OPT_PROXY_UID},
    {"inbound-ports-to-ignore", required_argument, NULL, WF_INIT_OPT_INBOUND_IGNORE},
    {"outbound-ports-to-ignore", required_argument, NULL, WF_INIT_OPT_OUTBOUND_IGNORE},
    {"subnets-to-ignore", required_argument, NULL, WF_INIT_OPT_SUBNETS_IGNORE},
    /* Optional argument so that both "--ipv6" and proxy-init's
     * "--ipv6=false" work; "--ipv6 false" would leave a stray argument. */
    {"ipv6", optional_argument, NULL, WF_INIT_OPT_IPV6},
    {"firewall-bin-path", required_argument, NULL, WF_INIT_OPT_BIN},
    {"firewall-save-bin-path", required_argument, NULL, WF_INIT_OPT_SAVE_BIN},
    {"dry-run", no_argument, NULL, WF_INIT_OPT_DRY_RUN},
    {"clean", no_argument, NULL, WF_INIT_OPT_CLEAN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void wf_init_cli_usage(FILE *f)
{
    fputs("usage: weft-init [flags]\n"
          "\n"
          "Installs the nat rules that send a pod's TCP traffic through its weft proxy\n"
          "(run inside the pod's network namespace; needs CAP_NET_ADMIN). Inbound TCP is\n"
          "redirected to the proxy's inbound port, outbound TCP to its outbound port.\n"
          "Running it again leaves exactly one copy of every rule.\n"
          "\n"
          "flags:\n"
          "  --incoming-proxy-port PORT      proxy's inbound port (default 4143)\n"
          "  --outgoing-proxy-port PORT      proxy's outbound port (default 4140)\n"
          "  --proxy-uid UID                 the proxy's uid; its traffic is never\n"
          "                                  redirected (default 2102)\n"
          "  --inbound-ports-to-ignore LIST  inbound ports not redirected, e.g.\n"
          "                                  \"25,587,8000-9000\"; 4190,4191 always are\n"
          "  --outbound-ports-to-ignore LIST outbound ports not redirected\n"
          "  --subnets-to-ignore CIDRS       networks not redirected: inbound from them\n"
          "                                  and outbound to them, e.g. \"10.0.0.0/8,fd00::/8\"\n"
          "  --ipv6[=BOOL]                   also set up IPv6 with ip6tables (default true;\n"
          "                                  --ipv6=false skips it)\n"
          "  --firewall-bin-path PATH        iptables binary; weft-init runs its -restore\n"
          "                                  and -save siblings (default: iptables-nft if\n"
          "                                  in PATH or /usr/sbin, else iptables); IPv6\n"
          "                                  uses the ip6tables* sibling\n"
          "  --firewall-save-bin-path PATH   save binary (default: <firewall-bin-path>-save)\n"
          "  --dry-run                       print the rules (iptables-restore input) and\n"
          "                                  change nothing; needs no privileges\n"
          "  --clean                         remove every rule and chain weft-init added\n"
          "  -h, --help                      this text\n"
          "\n"
          "List flags may be repeated; their items accumulate. Chains (nat table):\n"
          "  " WF_INIT_CHAIN_INBOUND " from PREROUTING, " WF_INIT_CHAIN_OUTBOUND " from OUTPUT.\n"
          "\n"
          "exit status: 0 done, 1 an iptables tool failed (its stderr is shown),\n"
          "2 bad flag or value (nothing was changed).\n",
          f);
}

static void wf_init_cli_error(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void wf_init_cli_error(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* Decimal digits only, saturating at limit + 1; false if not all digits. */
static bool wf_init_cli_number(const char *s, uint64_t limit, uint64_t *out)
{
    if (*s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > limit)
            v = limit + 1;
    }
    *out = v;
    return true;
}

static int wf_init_cli_port(const char *flag, const char *val, uint16_t *out, char *errbuf,
                            size_t errlen)
{
    uint64_t v;
    if (!wf_init_cli_number(val, 65535, &v) || v == 0 || v > 65535) {
        wf_init_cli_error(errbuf, errlen, "--%s: invalid port \"%s\": must be 1-65535", flag, val);
        return WF_EINVAL;
    }
    *out = (uint16_t)v;
    return 0;
}

/* Adds a port list to `set` (items accumulate across repeated flags). */
static int wf_init_cli_ports(const char *flag, const char *val, wf_portset_t *set, char *errbuf,
                             size_t errlen)
{
    static wf_portset_t more; /* 8 KiB scratch; the CLI is single-threaded */
    char msg[384];
    if (wf_portset_parse(&more, wf_str_from(val), msg, sizeof(msg)) < 0) {
        wf_init_cli_error(errbuf, errlen, "--%s: %s", flag, msg);
        return WF_EINVAL;
    }
    for (size_t i = 0; i < WF_ARRAY_LEN(set->bits); i++)
        set->bits[i] |= more.bits[i];
    return 0;
}

static int wf_init_cli_subnets(wf_init_config_t *cfg, const char *flag, const char *val,
                               char *errbuf, size_t errlen)
{
    /* Every network takes at least one byte and one comma: an upper bound. */
    size_t max = 1;
    for (const char *p = val; *p; p++)
        max += *p == ',';
    wf_cidr_t *nets = realloc(cfg->subnets, (cfg->nsubnets + max) * sizeof(*nets));
    if (nets == NULL) {
        wf_init_cli_error(errbuf, errlen, "--%s: out of memory", flag);
        return WF_ENOMEM;
    }
    cfg->subnets = nets;
    char msg[384];
    int n = wf_cidr_list_parse(nets + cfg->nsubnets, max, wf_str_from(val), msg, sizeof(msg));
    if (n < 0) {
        wf_init_cli_error(errbuf, errlen, "--%s: %s", flag, msg);
        return WF_EINVAL;
    }
    cfg->nsubnets += (size_t)n;
    return 0;
}

/* proxy-init's flags are Go (cobra) booleans; accept the spellings
 * strconv.ParseBool accepts. */
static int wf_init_cli_bool(const char *flag, const char *val, bool *out, char *errbuf,
                            size_t errlen)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    if (val == NULL) {
        *out = true;
        return 0;
    }
    for (size_t i = 0; i < WF_ARRAY_LEN(yes); i++) {
        if (strcmp(val, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(val, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    wf_init_cli_error(errbuf, errlen, "--%s: invalid value \"%s\": must be true or false", flag,
                      val);
    return WF_EINVAL;
}

static int wf_init_cli_path(const char *flag, const char *val, const char **out, char *errbuf,
                            size_t errlen)
{
    if (*val == '\0' || strlen(val) >= PATH_MAX - 16) {
        wf_init_cli_error(errbuf, errlen, "--%s: invalid path \"%s\": must be a file name", flag,
                          val);
        return WF_EINVAL;
    }
    *out = val;
    return 0;
}

int wf_init_cli_parse(wf_init_config_t *cfg, int argc, char **argv, char *errbuf, size_t errlen)
{
    wf_init_config_defaults(cfg);
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';

    /* optind = 0 makes glibc's getopt start afresh (tests parse many argvs);
     * '+' stops at the first non-flag (an error here) instead of permuting;
     * ':' reports a missing value as ':' rather than '?'. */
    optind = 0;
    opterr = 0;
    int rc = 0, c, idx;
    while (rc == 0 && (c = getopt_long(argc, argv, "+:h", wf_init_options, &idx)) != -1) {
        const char *flag = c >= 256 ? wf_init_options[idx].name : NULL;
        switch (c) {
        case WF_INIT_OPT_INBOUND_PORT:
            rc = wf_init_cli_port(flag, optarg, &cfg->inbound_port, errbuf, errlen);
            break;
        case WF_INIT_OPT_OUTBOUND_PORT:
            rc = wf_init_cli_port(flag, optarg, &cfg->outbound_port, errbuf, errlen);
            break;
        case WF_INIT_OPT_PROXY_UID: {
            /* (uid_t)-1 means "no change" to the kernel; never a real uid. */
            uint64_t v;
            if (!wf_init_cli_number(optarg, 4294967294u, &v) || v > 4294967294u) {
                wf_init_cli_error(errbuf, errlen,
                                  "--%s: invalid uid \"%s\": must be a number 0-4294967294", flag,
                                  optarg);
                rc = WF_EINVAL;
            } else {
                cfg->proxy_uid = (uint32_t)v;
            }
            break;
        }
        case WF_INIT_OPT_INBOUND_IGNORE:
            rc = wf_init_cli_ports(flag, optarg, &cfg->inbound_ignore, errbuf, errlen);
            break;
        case WF_INIT_OPT_OUTBOUND_IGNORE:
            rc = wf_init_cli_ports(flag, optarg, &cfg->outbound_ignore, errbuf, errlen);
            break;
        case WF_INIT_OPT_SUBNETS_IGNORE:
            rc = wf_init_cli_subnets(cfg, flag, optarg, errbuf, errlen);
            break;
        case WF_INIT_OPT_IPV6:
            rc = wf_init_cli_bool(flag, optarg, &cfg->ipv6, errbuf, errlen);
            break;
        case WF_INIT_OPT_BIN:
            rc = wf_init_cli_path(flag, optarg, &cfg->bin, errbuf, errlen);
            break;
        case WF_INIT_OPT_SAVE_BIN:
            rc = wf_init_cli_path(flag, optarg, &cfg->save_bin, errbuf, errlen);
            break;
        case WF_INIT_OPT_DRY_RUN:
            cfg->dry_run = true;
            break;
        case WF_INIT_OPT_CLEAN:
            cfg->clean = true;
            break;
        case 'h':
            rc = WF_INIT_CLI_HELP;
            break;
        case ':':
            wf_init_cli_error(errbuf, errlen, "flag \"%s\" needs a value", argv[optind - 1]);
            rc = WF_EINVAL;
            break;
        default:
            /* '?': unknown flag, or a value given to a flag that takes none
             * (then optopt holds that flag's code). */
            if (optopt >= 256)
                wf_init_cli_error(errbuf, errlen, "flag \"%s\" takes no value", argv[optind - 1]);
            else if (optopt != 0)
                wf_init_cli_error(errbuf, errlen, "unknown flag \"-%c\"", optopt);
            else
                wf_init_cli_error(errbuf, errlen, "unknown flag \"%s\"", argv[optind - 1]);
            rc = WF_EINVAL;
            break;
        }
    }
    if (rc == 0 && optind < argc) {
        wf_init_cli_error(errbuf, errlen, "unexpected argument \"%s\" (weft-init takes only flags)",
                          argv[optind]);
        rc = WF_EINVAL;
    }
    if (rc < 0)
        wf_init_config_free(cfg);
    return rc;
}

/* Copies `name` into out (of PATH_MAX), with the file name's leading
 * "iptables" turned into "ip6tables" when `v6`, and `suffix` appended. */
static int wf_init_tool_name(char *out, const char *name, bool v6, const char *suffix,
                             const char *flag, char *errbuf, size_t errlen)
{
    const char *base = strrchr(name, '/');
    size_t dir = base ? (size_t)(base - name) + 1 : 0;
    base = name + dir;
    int n;
    if (!v6) {
        n = snprintf(out, PATH_MAX, "%s%s", name, suffix);
    } else {
        if (strncmp(base, "iptables", 8) != 0) {
            wf_init_cli_error(errbuf, errlen,
                              "--%s: cannot name the IPv6 tool for \"%s\" (its file name must "
                              "start with \"iptables\"); use --ipv6=false to skip IPv6",
                              flag, name);
            return WF_EINVAL;
        }
        n = snprintf(out, PATH_MAX, "%.*sip6tables%s%s", (int)dir, name, base + 8, suffix);
    }
    if (n < 0 || n >= PATH_MAX) {
        wf_init_cli_error(errbuf, errlen, "--%s: path too long", flag);
        return WF_EINVAL;
    }
    return 0;
}

int wf_init_tools_derive(wf_init_tools_t *t, const char *bin, const char *save_bin,
                         wf_init_family_t family, char *errbuf, size_t errlen)
{
    bool v6 = family == WF_INIT_IPV6;
    int rc =
        wf_init_tool_name(t->restore, bin, v6, "-restore", "firewall-bin-path", errbuf, errlen);
    if (rc == 0)
        rc = save_bin != NULL ? wf_init_tool_name(t->save, save_bin, v6, "",
                                                  "firewall-save-bin-path", errbuf, errlen)
                              : wf_init_tool_name(t->save, bin, v6, "-save", "firewall-bin-path",
                                                  errbuf, errlen);
    return rc;
}

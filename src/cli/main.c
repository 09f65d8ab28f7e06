/*
 * main.c — `weft`, the mesh's command-line tool (Linkerd's `linkerd` CLI).
 * Thin: finds the subcommand in a table and runs it. Future subcommands
 * (install, check, inject, viz...) are one table row each.
 */
#include "cli.h"
#include "local.h"
#include "kube.h"

#include <stdio.h>

static int wf_cli_version_main(int argc, char **argv);

static const wf_cli_cmd_t wf_cli_cmds[] = {
    {"identity", "create and inspect the mesh's CA certificates (trust anchor, issuer)",
     wf_cli_identity_main},
    {"up", "run Kubernetes manifests on this machine, meshed (local mode)", wf_cli_up_main},
    {"down", "stop everything `weft up` started and remove its state", wf_cli_down_main},
    {"get", "list local-mode pods or services (get pods|svc)", wf_cli_get_main},
    {"logs", "print a local-mode pod container's log", wf_cli_logs_main},
    {"exec", "run a command inside a local-mode pod", wf_cli_exec_main},
    {"viz", "golden metrics of local-mode workloads (viz stat deploy|sts|pod|svc)",
     wf_cli_viz_main},
    {"install", "print the Kubernetes manifests of the mesh (--crds: its CRDs)",
     wf_cli_install_main},
    {"check", "check a cluster: API access, control plane, certificates, webhook, proxies",
     wf_cli_check_main},
    {"inject", "add the weft proxy to Kubernetes manifests (files, dirs or stdin)",
     wf_cli_inject_main},
    {"uninject", "remove the weft proxy from Kubernetes manifests", wf_cli_uninject_main},
    {"version", "print weft's version", wf_cli_version_main},
};

static void wf_cli_usage(FILE *f)
{
    fprintf(f, "usage: weft <command> [flags]\n\n"
               "weft is a service mesh with Linkerd's interfaces. Commands:\n");
    wf_cli_cmd_list(f, wf_cli_cmds, WF_ARRAY_LEN(wf_cli_cmds));
    fprintf(f, "\nRun `weft <command> --help` for a command's flags.\n"
               "Exit codes: 0 ok, 1 runtime error, 2 usage error.\n");
}

static int wf_cli_version_main(int argc, char **argv)
{
    bool help = false;
    const wf_cli_flag_t flags[] = {{"help", NULL, &help}};
    const char *pos[1];
    size_t npos;
    char err[256];
    if (wf_cli_parse_flags(argc - 1, argv + 1, flags, WF_ARRAY_LEN(flags), pos, 0, &npos, err,
                           sizeof(err)) != 0) {
        wf_cli_errorf("version: %s", err);
        fprintf(stderr, "usage: weft version\n");
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        printf("usage: weft version\n\nPrints weft's version.\n");
        return WF_CLI_EXIT_OK;
    }
    printf("weft %s\n", WEFT_VERSION);
    return WF_CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        wf_cli_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        wf_cli_usage(stdout);
        return WF_CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0)
        name = "version";
    /* The local-mode supervisor daemon: started by `weft up`, not listed. */
    if (strcmp(name, "__supervise") == 0)
        return wf_cli_supervise_main(argc - 1, argv + 1);
    const wf_cli_cmd_t *cmd = wf_cli_cmd_find(wf_cli_cmds, WF_ARRAY_LEN(wf_cli_cmds), name);
    if (cmd == NULL) {
        wf_cli_errorf("unknown command \"%s\"", argv[1]);
        wf_cli_usage(stderr);
        return WF_CLI_EXIT_USAGE;
    }
    return cmd->run(argc - 1, argv + 1);
}

/*
 * main.c — weft-controller: the control plane's processes in one binary,
 * one subcommand each (Linkerd runs identity, destination and the proxy
 * injector as separate Deployments; so do we, from this one image).
 */
#include "destination.h"
#include "identity.h"
#include "injector.h"

#include "ctl.h"

#include <stdio.h>
#include <string.h>

typedef struct subcommand {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv); /* argv[0] is the subcommand's name */
} subcommand_t;

/* The subcommands, in the order --help lists them. */
static const subcommand_t subcommands[] = {
    {"identity", "serve Identity.Certify: sign workload certificates (port 8080)",
     wf_identity_main},
    {"destination", "serve Destination.Get/GetProfile: discovery from cluster state (port 8086)",
     wf_destination_main},
    {"injector", "serve the admission webhook that adds the proxy to pods (HTTPS, port 8443)",
     wf_injector_main},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: weft-controller COMMAND [flags]\n\ncommands:\n");
    for (size_t i = 0; i < WF_ARRAY_LEN(subcommands); i++)
        fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\n'weft-controller COMMAND --help' shows a command's flags.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return WF_CTL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return WF_CTL_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("weft-controller %s\n", WEFT_VERSION);
        return WF_CTL_EXIT_OK;
    }
    for (size_t i = 0; i < WF_ARRAY_LEN(subcommands); i++)
        if (strcmp(cmd, subcommands[i].name) == 0)
            return subcommands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "weft-controller: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return WF_CTL_EXIT_USAGE;
}

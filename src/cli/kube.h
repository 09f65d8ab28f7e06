/*
 * kube.h — the CLI's Kubernetes commands: inject / uninject (offline
 * manifest transformation), install (manifests to stdout) and check
 * (against a cluster's API server).
 */
#ifndef WF_CLI_KUBE_H
#define WF_CLI_KUBE_H

#include "cli.h"

int wf_cli_inject_main(int argc, char **argv);
int wf_cli_uninject_main(int argc, char **argv);
int wf_cli_install_main(int argc, char **argv);
int wf_cli_check_main(int argc, char **argv);

#endif

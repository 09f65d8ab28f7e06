/*
 * destination.h — `weft-controller destination`: the Destination service
 * (Get, GetProfile) over cluster state from the local store or the
 * Kubernetes API.
 */
#ifndef WF_CONTROLLER_DESTINATION_H
#define WF_CONTROLLER_DESTINATION_H

/* Entry point of the subcommand (argv[0] is "destination"); returns the
 * exit code (see WF_CTL_EXIT_*). */
int wf_destination_main(int argc, char **argv);

#endif

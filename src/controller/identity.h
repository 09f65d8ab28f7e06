/*
 * identity.h — `weft-controller identity`: the Identity.Certify service.
 */
#ifndef WF_CONTROLLER_IDENTITY_H
#define WF_CONTROLLER_IDENTITY_H

/* Entry point of the subcommand (argv[0] is "identity"); returns the exit
 * code (see WF_CTL_EXIT_*). */
int wf_identity_main(int argc, char **argv);

#endif

/* vitalctl.h - the commands of vitalctl, each in its own file. */
#ifndef VITALCTL_H
#define VITALCTL_H

#include "client.h"

/* Exit codes. */
enum { VC_EXIT_OK = 0, VC_EXIT_FAIL = 1, VC_EXIT_REFUSED = 2 };

/* Each command parses its own arguments (argv[0] is the command name) and returns an exit
 * code. */
int vc_cmd_import(vc_client *c, int argc, char **argv);
int vc_cmd_status(vc_client *c, int argc, char **argv);
int vc_cmd_match(vc_client *c, int argc, char **argv);
int vc_cmd_health(vc_client *c, int argc, char **argv);
/* "audit verify" needs no gateway and accepts c NULL; "audit list" does not. */
int vc_cmd_audit(vc_client *c, int argc, char **argv);

/* Prints "vitalctl: CALL failed: CODE: details" to stderr for a status that is not OK. */
void vc_report_status(const char *what, const vc_status *st);

#endif

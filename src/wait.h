/*
 * wait.h -- WAIT numreplicas timeout (DESIGN I6), with Redis's semantics:
 * the number of replicas that acknowledged the client's last write,
 * returned as soon as it reaches numreplicas or when the timeout (ms; 0 =
 * forever) expires. A waiting client holds its place in its own reply
 * order and delays nobody else.
 */
#ifndef TD_WAIT_H
#define TD_WAIT_H

#include <stddef.h>

#include "resp.h"

struct client;

void wait_command(struct client *c, size_t argc, const struct resp_arg *argv);
/* Re-evaluates every pending WAIT (after acks and replies). */
void wait_check_all(void);
/* CLIENT UNBLOCK: c's WAIT answers now (its count, or the UNBLOCKED
 * error). Returns 0 when c is not in WAIT. */
int wait_unblock(struct client *c, int error);
/* The client is going: drop its WAITs. */
void wait_client_gone(struct client *c);
/* Clients blocked in WAIT (INFO blocked_clients). */
size_t wait_count(void);

#endif

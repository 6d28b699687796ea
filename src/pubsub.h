/*
 * pubsub.h -- Pub/Sub served through one subscriber connection to the
 * primary (DESIGN section 4): however many clients subscribe to a
 * channel, the primary sees one subscription, and each message it
 * delivers is fanned out to the tandem clients that want it. PUBLISH goes
 * on the pipe like any command, so messages published through tandem or
 * directly on the primary reach subscribers alike. After a reconnect the
 * subscriptions are made again.
 */
#ifndef TD_PUBSUB_H
#define TD_PUBSUB_H

#include <stddef.h>

#include "resp.h"

struct client;

enum pubsub_kind {
    PS_CHANNEL = 0,    /* SUBSCRIBE */
    PS_PATTERN,        /* PSUBSCRIBE */
    PS_SHARD,          /* SSUBSCRIBE */
    PS_KINDS
};

void pubsub_start(void);
void pubsub_stop(void);
/* The primary changed (failover): subscriptions are made on the new one
 * when it is up. */
void pubsub_retarget(void);

/* (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE for c; argv[0] is the command. */
void pubsub_subscribe(struct client *c, enum pubsub_kind kind, size_t argc,
                      const struct resp_arg *argv);
void pubsub_unsubscribe(struct client *c, enum pubsub_kind kind,
                        size_t argc, const struct resp_arg *argv);
/* PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB, from tandem's
 * subscribers. */
void pubsub_command(struct client *c, size_t argc,
                    const struct resp_arg *argv);

/* PUBLISH (SPUBLISH when shard) on channel, about to go to the primary
 * for request r: its reply will count tandem's clients, not tandem's
 * one connection. */
struct req;
void pubsub_publish_hook(struct req *r, int shard,
                         const struct resp_arg *channel);

/* Subscriptions of c (RESP2's subscribed mode when > 0). */
size_t pubsub_count(const struct client *c);
/* The client is going, or RESET: every subscription ends. */
void pubsub_client_gone(struct client *c);

#endif

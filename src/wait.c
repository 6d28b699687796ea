/*
 * wait.c -- pending WAITs.
 *
 * A WAIT becomes a request in its client's reply queue. It is evaluated
 * only once it reaches the head of that queue: by then every earlier
 * reply of the client was released, and a write's reply is released only
 * after its effect entered the stream, so the client's last write offset
 * (client->woff) is final. Each pending WAIT has its own libev timer;
 * acknowledgements re-evaluate the list (no polling).
 */
#include "wait.h"

#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "replica.h"
#include "server.h"

struct wait {
    struct wait   *next;
    struct wait   *prev;
    struct client *client;
    struct req    *req;
    long long     numreplicas;
    ev_timer      timer;
    int           timed_out;
};

static struct wait *waits = NULL;
static size_t nwaits = 0;

static void
wait_remove(struct wait *w)
{
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        waits = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    ev_timer_stop(srv.loop, &w->timer);
    nwaits--;
    free(w);
}

/* Answers w if it can be answered now. Returns 1 when it was. */
static int
wait_try(struct wait *w)
{
    struct client *c = w->client;
    int acked;
    char reply[32];
    int n;

    if (c->head != w->req) {
        return 0;    /* earlier replies are still due */
    }
    acked = replica_count_acked(c->woff);
    if (acked < w->numreplicas && !w->timed_out) {
        return 0;
    }
    n = snprintf(reply, sizeof(reply), ":%d\r\n", acked);
    req_reply(w->req, reply, (size_t)n);
    wait_remove(w);
    return 1;
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct wait *w = t->data;

    w->timed_out = 1;
    if (!wait_try(w)) {
        /* Still behind earlier replies: answered as soon as it is at the
         * head, with the count at that time. */
        ev_timer_stop(loop, t);
    }
}

void
wait_command(struct client *c, size_t argc, const struct resp_arg *argv)
{
    long long numreplicas;
    long long timeout;
    struct wait *w;

    if (!td_str2ll(argv[1].ptr, argv[1].len, &numreplicas)) {
        resp_add_error(client_reply_buf(c),
                       "value is not an integer or out of range");
        return;
    }
    if (!td_str2ll(argv[2].ptr, argv[2].len, &timeout)) {
        resp_add_error(client_reply_buf(c),
                       "timeout is not an integer or out of range");
        return;
    }
    if (timeout < 0) {
        resp_add_error(client_reply_buf(c), "timeout is negative");
        return;
    }
    w = td_calloc(1, sizeof(*w));
    w->client = c;
    w->req = client_req_push(c);
    w->numreplicas = numreplicas;
    w->next = waits;
    if (waits != NULL) {
        waits->prev = w;
    }
    waits = w;
    nwaits++;
    ev_timer_init(&w->timer, timeout_cb, (double)timeout / 1000.0, 0.0);
    w->timer.data = w;
    if (timeout > 0) {
        ev_timer_start(srv.loop, &w->timer);
    }
    wait_try(w);
}

void
wait_check_all(void)
{
    struct wait *w = waits;

    while (w != NULL) {
        struct wait *next = w->next;

        wait_try(w);
        w = next;
    }
}

int
wait_unblock(struct client *c, int error)
{
    struct wait *w;

    for (w = waits; w != NULL; w = w->next) {
        if (w->client == c) {
            if (error) {
                static const char unblocked[] =
                    "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n";

                if (c->head != w->req) {
                    return 0;    /* not waiting yet: earlier replies due */
                }
                req_reply(w->req, unblocked, sizeof(unblocked) - 1);
                wait_remove(w);
            } else {
                w->timed_out = 1;
                wait_try(w);
            }
            return 1;
        }
    }
    return 0;
}

void
wait_client_gone(struct client *c)
{
    struct wait *w = waits;

    while (w != NULL) {
        struct wait *next = w->next;

        if (w->client == c) {
            /* The request is the client's to free: it is not done, so
             * client_free leaves it; mark it done so it is released. */
            w->req->done = 1;
            wait_remove(w);
        }
        w = next;
    }
}

size_t
wait_count(void)
{
    return nwaits;
}

/*
 * resp.h -- RESP2 on the wire: the streaming request parser for client
 * input, the framing scanner for backend replies, and reply writers.
 *
 * The request parser never copies a multibulk argument: a parsed command is
 * an argv of (pointer, length) slices into the caller's buffer, and the raw
 * bytes of the request (its first `consumed` bytes) can be forwarded to a
 * backend as they are. Only inline commands, whose arguments may carry
 * quotes and escapes, are unescaped into the parser's own scratch buffer.
 *
 * Bad input is answered with Redis 7's own words (networking.c), returned in
 * resp_parser.error without the "-ERR " prefix.
 */
#ifndef TD_RESP_H
#define TD_RESP_H

#include <stddef.h>

#include "buf.h"

/* Longest inline request or count line without a newline, as Redis's
 * PROTO_INLINE_MAX_SIZE. The fuzz build (scripts/fuzz) defines a smaller
 * one so that short inputs reach the "too big" errors. */
#ifndef RESP_INLINE_MAX
#define RESP_INLINE_MAX (64 * 1024)
#endif
/* Limits applied before a client has authenticated (Redis 6.2.6+). */
#define RESP_UNAUTH_MAX_ARGS 10
#define RESP_UNAUTH_MAX_BULK 16384

struct resp_arg {
    const char *ptr;
    size_t     len;
};

enum resp_result {
    RESP_NEED_MORE = 0,   /* incomplete: call again when more bytes arrive */
    RESP_COMMAND,         /* a command: argc/argv are set */
    RESP_EMPTY,           /* bytes that carry no command (blank line, *0) */
    RESP_PROTO_ERROR      /* bad input: error is set; close the client */
};

struct resp_parser {
    long long       max_bulk;     /* proto-max-bulk-len */
    int             unauth;       /* apply the unauthenticated limits */

    /* The request in progress; offsets are relative to its first byte. */
    long long       multibulk;    /* arguments announced, 0 before '*' */
    long long       bulk;         /* length of the bulk being read, or -1 */
    size_t          pos;          /* bytes of the request parsed so far */
    size_t          argc;         /* arguments complete so far */
    size_t          argcap;       /* room in off/argv */
    size_t          *off;         /* argument offsets */
    struct resp_arg *argv;        /* the command, valid until the next call */
    struct buf      scratch;      /* unescaped inline arguments */

    size_t          want;         /* bytes the request needs in all, if known */
    const char      *error;       /* protocol error text */
    char            errbuf[64];   /* room for a formatted error */
};

void resp_parser_init(struct resp_parser *rp, long long max_bulk);
void resp_parser_free(struct resp_parser *rp);
/* Forgets a partial request (after an error or a reset). */
void resp_parser_reset(struct resp_parser *rp);

/*
 * Parses one request at the start of p[0..n). Returns RESP_COMMAND or
 * RESP_EMPTY with *consumed set to the request's length, RESP_NEED_MORE
 * with *consumed 0 (the parser keeps its place: call again with the same
 * start and more bytes), or RESP_PROTO_ERROR.
 */
enum resp_result resp_parse_request(struct resp_parser *rp, const char *p,
                                    size_t n, size_t *consumed);

/*
 * Walks a run of whole RESP commands (a batch of the stream, the writes in
 * flight on the pipe, a transaction's queued commands) with the database
 * each runs in. A SELECT is returned too, flagged, and moves the walk to
 * its database for the commands after it.
 */
struct resp_walk {
    struct resp_parser parser;    /* parser.argc/argv: the command */
    const char         *p;
    size_t             len;
    size_t             off;
    long long          db;        /* where the command runs */
    int                is_select;
};

void resp_walk_init(struct resp_walk *w, const char *p, size_t len,
                    long long db);
/* 1: the next command is in w->parser; 0: the end; -1: not whole RESP
 * commands. */
int resp_walk_next(struct resp_walk *w);
void resp_walk_free(struct resp_walk *w);

/*
 * Splits an inline line into arguments, with Redis's sdssplitargs rules
 * (double quotes with \n \r \t \b \a \\ \" \xHH escapes, single quotes
 * with \'; only space, tab, CR and LF end an unquoted argument, so "a\vb"
 * is one). Appends the unescaped bytes to out and their (offset, length)
 * pairs to offs/lens. Returns the count, or -1 on unbalanced quotes.
 */
long resp_split_inline(const char *line, size_t len, struct buf *out,
                       size_t **offs, size_t **lens, size_t *cap);

/*
 * Scanner for one RESP2 reply from a backend, resumable across reads.
 */
#define RESP_SCAN_MAX_DEPTH 128

struct resp_scan {
    size_t    pos;                             /* scanned so far */
    int       depth;                           /* open aggregates */
    long long left[RESP_SCAN_MAX_DEPTH];       /* elements each still owes */
};

void resp_scan_init(struct resp_scan *s);
/* Returns 1 with *len set when p[0..n) begins with a complete reply (the
 * scanner is reset for the next one), 0 when more bytes are needed, -1 on a
 * malformed reply. */
int resp_scan_reply(struct resp_scan *s, const char *p, size_t n,
                    size_t *len);

/* Parses one complete reply into hiredis's tree (tandem's own control
 * traffic only); NULL when malformed. Free with freeReplyObject(). */
struct redisReply;
struct redisReply *resp_read_reply(const char *p, size_t len);

/* Reply writers. Error texts get Redis's treatment: a leading '-' is kept
 * as the error code's prefix, otherwise "-ERR " is added, and CR/LF become
 * spaces. */
void resp_add_simple(struct buf *b, const char *s);
void resp_add_error(struct buf *b, const char *msg);
void resp_add_errorf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void resp_add_int(struct buf *b, long long v);
void resp_add_bulk(struct buf *b, const char *p, size_t len);
void resp_add_bulk_str(struct buf *b, const char *s);
void resp_add_null_bulk(struct buf *b);
void resp_add_array(struct buf *b, long long n);
/* Appends a command as a multibulk request. */
void resp_add_command(struct buf *b, size_t argc, const struct resp_arg *argv);

#endif

/*
 * tls.h -- TLS with OpenSSL, as a transport under tandem's own sockets:
 * one server context for clients on tls-port, one client context for
 * backends written rediss:// (or every replica with tls-replication yes).
 *
 * All I/O is non-blocking. A call that cannot go on says which readiness
 * it waits for (TLS_WANT_READ or TLS_WANT_WRITE); the caller arms that
 * watcher and calls again. Contexts are reference-counted by OpenSSL, so
 * a reload swaps them for new connections while established ones keep
 * theirs.
 */
#ifndef TD_TLS_H
#define TD_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

typedef struct ssl_st SSL;

#define TLS_WANT_READ 1
#define TLS_WANT_WRITE 2

/* Builds the contexts the configuration asks for. On error, fills err and
 * keeps whatever contexts were there (a reload is all or nothing). */
struct config;
td_status tls_configure(const struct config *cfg, char *err,
                        size_t errlen) TD_WUR;
void tls_shutdown(void);

/* True when clients can connect on tls-port. */
int tls_server_ready(void);

/* A new server-side TLS session on an accepted socket, or NULL. */
SSL *tls_accept(int fd);
/* A new client-side session to a backend: SNI and, when the CA is known,
 * certificate and host name verification. NULL when TLS is not set up. */
SSL *tls_connect(int fd, const char *host);
void tls_free(SSL *ssl);

/* Drives the handshake: 1 done, 0 in progress (*want set), -1 failed (the
 * reason is in tls_last_error()). */
int tls_handshake(SSL *ssl, int *want);

/* Bytes moved (> 0); 0: the peer closed (read); -1: failed; -2: would
 * block, *want set. */
ssize_t tls_read(SSL *ssl, void *buf, size_t len, int *want);
ssize_t tls_write(SSL *ssl, const void *buf, size_t len, int *want);
/* Bytes already decrypted and waiting in the session. */
int tls_pending(SSL *ssl);

/* The last error, for logs. */
const char *tls_last_error(void);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", for CLIENT LIST and logs. */
const char *tls_describe(SSL *ssl);

#endif

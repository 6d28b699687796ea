/*
 * tls.c -- OpenSSL contexts and non-blocking I/O; see tls.h.
 *
 * Directives follow Redis's: tls-cert-file, tls-key-file(-pass),
 * tls-ca-cert-file/dir, tls-auth-clients, tls-protocols, tls-ciphers,
 * tls-ciphersuites, tls-prefer-server-ciphers, tls-session-caching, and
 * tls-client-cert-file/key-file for backends that require client
 * certificates.
 */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

static SSL_CTX *server_ctx = NULL;
static SSL_CTX *client_ctx = NULL;
static char last_error[256];

static void
record_error(const char *what)
{
    unsigned long e = ERR_get_error();
    char detail[200] = "";

    if (e != 0) {
        ERR_error_string_n(e, detail, sizeof(detail));
    } else if (errno != 0) {
        snprintf(detail, sizeof(detail), "%s", strerror(errno));
    }
    snprintf(last_error, sizeof(last_error), "%s%s%s", what,
             detail[0] != '\0' ? ": " : "", detail);
    ERR_clear_error();
}

const char *
tls_last_error(void)
{
    return last_error;
}

static int
password_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pass = u;
    int n;

    if (pass == NULL) {
        return 0;
    }
    n = (int)strlen(pass);
    if (n > size) {
        n = size;
    }
    memcpy(buf, pass, (size_t)n);
    return n;
}

/* "TLSv1.2 TLSv1.3" -> minimum and maximum versions. */
static td_status
set_protocols(SSL_CTX *ctx, const char *list, char *err, size_t errlen)
{
    int min = 0;
    int max = 0;
    char copy[128];
    char *tok;
    char *save = NULL;

    if (list == NULL) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        return TD_OK;
    }
    snprintf(copy, sizeof(copy), "%s", list);
    for (tok = strtok_r(copy, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        int v;

        if (strcasecmp(tok, "TLSv1.2") == 0) {
            v = TLS1_2_VERSION;
        } else if (strcasecmp(tok, "TLSv1.3") == 0) {
            v = TLS1_3_VERSION;
        } else if (strcasecmp(tok, "TLSv1.1") == 0) {
            v = TLS1_1_VERSION;
        } else if (strcasecmp(tok, "TLSv1") == 0) {
            v = TLS1_VERSION;
        } else {
            snprintf(err, errlen, "tls-protocols: unknown protocol '%s'",
                     tok);
            return TD_ERR;
        }
        min = min == 0 || v < min ? v : min;
        max = v > max ? v : max;
    }
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_max_proto_version(ctx, max);
    return TD_OK;
}

static td_status
load_identity(SSL_CTX *ctx, const char *cert, const char *key,
              const char *pass, char *err, size_t errlen)
{
    SSL_CTX_set_default_passwd_cb(ctx, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)pass);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) <= 0) {
        record_error("certificate");
        snprintf(err, errlen, "can't load the certificate %s (%s)", cert,
                 last_error);
        return TD_ERR;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) <= 0) {
        record_error("key");
        snprintf(err, errlen, "can't load the private key %s (%s)", key,
                 last_error);
        return TD_ERR;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        record_error("key");
        snprintf(err, errlen, "the private key %s does not match the "
                 "certificate %s", key, cert);
        return TD_ERR;
    }
    return TD_OK;
}

static td_status
load_ca(SSL_CTX *ctx, const struct config *c, char *err, size_t errlen)
{
    if (c->tls_ca_cert_file == NULL && c->tls_ca_cert_dir == NULL) {
        return TD_OK;
    }
    if (SSL_CTX_load_verify_locations(ctx, c->tls_ca_cert_file,
                                      c->tls_ca_cert_dir) != 1) {
        record_error("CA");
        snprintf(err, errlen, "can't load the CA certificates %s%s%s (%s)",
                 c->tls_ca_cert_file != NULL ? c->tls_ca_cert_file : "",
                 c->tls_ca_cert_dir != NULL ? " " : "",
                 c->tls_ca_cert_dir != NULL ? c->tls_ca_cert_dir : "",
                 last_error);
        return TD_ERR;
    }
    return TD_OK;
}

static SSL_CTX *
build_server(const struct config *c, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int verify = SSL_VERIFY_NONE;

    if (ctx == NULL) {
        record_error("SSL_CTX_new");
        snprintf(err, errlen, "%s", last_error);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION);
    if (c->tls_prefer_server_ciphers) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    if (c->tls_session_caching) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, 20480);
        SSL_CTX_set_timeout(ctx, 300);
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tandem",
                                       6);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    if (set_protocols(ctx, c->tls_protocols, err, errlen) != TD_OK ||
        load_identity(ctx, c->tls_cert_file, c->tls_key_file,
                      c->tls_key_file_pass, err, errlen) != TD_OK ||
        load_ca(ctx, c, err, errlen) != TD_OK) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (c->tls_ciphers != NULL &&
        SSL_CTX_set_cipher_list(ctx, c->tls_ciphers) != 1) {
        snprintf(err, errlen, "tls-ciphers: no usable cipher in '%s'",
                 c->tls_ciphers);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (c->tls_ciphersuites != NULL &&
        SSL_CTX_set_ciphersuites(ctx, c->tls_ciphersuites) != 1) {
        snprintf(err, errlen, "tls-ciphersuites: no usable suite in '%s'",
                 c->tls_ciphersuites);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (c->tls_auth_clients == TLS_AUTH_YES) {
        verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    } else if (c->tls_auth_clients == TLS_AUTH_OPTIONAL) {
        verify = SSL_VERIFY_PEER;
    }
    if (verify != SSL_VERIFY_NONE && c->tls_ca_cert_file == NULL &&
        c->tls_ca_cert_dir == NULL) {
        snprintf(err, errlen, "tls-auth-clients needs tls-ca-cert-file or "
                 "tls-ca-cert-dir to verify client certificates");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, verify, NULL);
    return ctx;
}

static SSL_CTX *
build_client(const struct config *c, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        record_error("SSL_CTX_new");
        snprintf(err, errlen, "%s", last_error);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION);
    if (set_protocols(ctx, c->tls_protocols, err, errlen) != TD_OK ||
        load_ca(ctx, c, err, errlen) != TD_OK) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* The cipher settings apply to backend links too, as in Redis. */
    if ((c->tls_ciphers != NULL &&
         SSL_CTX_set_cipher_list(ctx, c->tls_ciphers) != 1) ||
        (c->tls_ciphersuites != NULL &&
         SSL_CTX_set_ciphersuites(ctx, c->tls_ciphersuites) != 1)) {
        snprintf(err, errlen, "tls-ciphers/tls-ciphersuites: no usable "
                 "cipher for backend links");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (c->tls_client_cert_file != NULL || c->tls_cert_file != NULL) {
        /* Backends that require client certificates get tandem's own:
         * tls-client-cert-file, or else tls-cert-file, as Redis does. */
        const char *cert = c->tls_client_cert_file != NULL
                               ? c->tls_client_cert_file : c->tls_cert_file;
        const char *key = c->tls_client_cert_file != NULL
                              ? c->tls_client_key_file : c->tls_key_file;
        const char *pass = c->tls_client_cert_file != NULL
                               ? c->tls_client_key_file_pass
                               : c->tls_key_file_pass;

        if (key == NULL ||
            load_identity(ctx, cert, key, pass, err, errlen) != TD_OK) {
            if (key == NULL) {
                snprintf(err, errlen, "%s needs %s",
                         c->tls_client_cert_file != NULL
                             ? "tls-client-cert-file" : "tls-cert-file",
                         c->tls_client_cert_file != NULL
                             ? "tls-client-key-file" : "tls-key-file");
            }
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (c->tls_ca_cert_file != NULL || c->tls_ca_cert_dir != NULL) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_default_verify_paths(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

static int
backends_use_tls(const struct config *c)
{
    size_t i;

    if (c->primary.tls) {
        return 1;
    }
    for (i = 0; i < c->nreplicas; i++) {
        if (c->replicas[i].tls || c->tls_replication) {
            return 1;
        }
    }
    return 0;
}

td_status
tls_configure(const struct config *cfg, char *err, size_t errlen)
{
    SSL_CTX *server = NULL;
    SSL_CTX *client = NULL;

    if (cfg->tls_port != 0) {
        if (cfg->tls_cert_file == NULL || cfg->tls_key_file == NULL) {
            snprintf(err, errlen, "tls-port needs tls-cert-file and "
                     "tls-key-file");
            return TD_ERR;
        }
        server = build_server(cfg, err, errlen);
        if (server == NULL) {
            return TD_ERR;
        }
    }
    if (backends_use_tls(cfg)) {
        client = build_client(cfg, err, errlen);
        if (client == NULL) {
            SSL_CTX_free(server);
            return TD_ERR;
        }
    }
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    server_ctx = server;
    client_ctx = client;
    return TD_OK;
}

void
tls_shutdown(void)
{
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    server_ctx = NULL;
    client_ctx = NULL;
}

int
tls_server_ready(void)
{
    return server_ctx != NULL;
}

SSL *
tls_accept(int fd)
{
    SSL *ssl;

    if (server_ctx == NULL || (ssl = SSL_new(server_ctx)) == NULL) {
        record_error("SSL_new");
        return NULL;
    }
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    return ssl;
}

SSL *
tls_connect(int fd, const char *host)
{
    SSL *ssl;

    if (client_ctx == NULL || (ssl = SSL_new(client_ctx)) == NULL) {
        record_error("SSL_new");
        return NULL;
    }
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_host_name(ssl, host);
    /* Host name checking: an IP literal matches the certificate's IP
     * addresses, a name its DNS names. */
    if (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

        if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) {
            SSL_set1_host(ssl, host);
        }
    }
    return ssl;
}

void
tls_free(SSL *ssl)
{
    if (ssl != NULL) {
        SSL_free(ssl);
    }
}

/* Maps an OpenSSL result: -2 would block (*want set), -1 failed. */
static int
classify(SSL *ssl, int rc, int *want, const char *what)
{
    int e = SSL_get_error(ssl, rc);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = TLS_WANT_READ;
        return -2;
    case SSL_ERROR_WANT_WRITE:
        *want = TLS_WANT_WRITE;
        return -2;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            snprintf(last_error, sizeof(last_error), "%s: %s", what,
                     errno != 0 ? strerror(errno) : "connection closed");
            ERR_clear_error();
            return -1;
        }
        record_error(what);
        return -1;
    default: {
        long vr = SSL_get_verify_result(ssl);

        record_error(what);
        if (vr != X509_V_OK) {
            size_t n = strlen(last_error);

            snprintf(last_error + n, sizeof(last_error) - n,
                     " (certificate: %s)",
                     X509_verify_cert_error_string(vr));
        }
        return -1;
    }
    }
}

int
tls_handshake(SSL *ssl, int *want)
{
    int rc;

    ERR_clear_error();
    errno = 0;
    rc = SSL_do_handshake(ssl);
    if (rc == 1) {
        return 1;
    }
    rc = classify(ssl, rc, want, "TLS handshake");
    return rc == -2 ? 0 : -1;
}

ssize_t
tls_read(SSL *ssl, void *buf, size_t len, int *want)
{
    int rc;

    ERR_clear_error();
    errno = 0;
    rc = SSL_read(ssl, buf, (int)TD_MIN(len, (size_t)1 << 30));
    if (rc > 0) {
        return rc;
    }
    return classify(ssl, rc, want, "TLS read");
}

ssize_t
tls_write(SSL *ssl, const void *buf, size_t len, int *want)
{
    int rc;

    if (len == 0) {
        return 0;
    }
    ERR_clear_error();
    errno = 0;
    rc = SSL_write(ssl, buf, (int)TD_MIN(len, (size_t)1 << 30));
    if (rc > 0) {
        return rc;
    }
    rc = classify(ssl, rc, want, "TLS write");
    return rc == 0 ? -1 : rc;
}

int
tls_pending(SSL *ssl)
{
    return SSL_pending(ssl);
}

const char *
tls_describe(SSL *ssl)
{
    static char text[128];

    snprintf(text, sizeof(text), "%s %s", SSL_get_version(ssl),
             SSL_get_cipher_name(ssl));
    return text;
}

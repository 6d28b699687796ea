/*
 * test_tls.c -- integration: TLS on tandem's client port and on every
 * backend link (DESIGN: "It terminates TLS on the client side and on every
 * backend link"; section 6, tls-* directives and SIGHUP).
 *
 * Certificates are made once per run with the openssl command, in a
 * private temp dir (make_certs): a CA, a server certificate for
 * CN=localhost with SAN DNS:localhost,IP:127.0.0.1 (serial 1001), a second
 * one from the same CA (serial 1002, CN "localhost renewed") for the
 * reload test, a client certificate, an EXPIRED client certificate
 * (`openssl ca -startdate/-enddate` in 2020: OpenSSL 3.0 has no
 * `x509 -not_after`), certificates from ANOTHER CA (server and client),
 * and a certificate of the right CA for the wrong name (CN=other, SAN
 * DNS:other only).
 *
 * Clients talk TLS through a small blocking OpenSSL client written here
 * (struct tlsc: SSL_connect with optional client certificate, RESP out,
 * replies parsed with hiredis's reader). hiredis 0.14 has no TLS.
 *
 * TLS backends are redis-server processes with BOTH a plain port and a
 * TLS port: tandem is told rediss://127.0.0.1:<tls-port>, while the
 * checker (replcheck_compare, plain hiredis) reads the plain port. Every
 * replication test asserts with CLIENT LIST on each backend that tandem's
 * connections arrived on the TLS port (laddr=127.0.0.1:<tls-port>).
 *
 *   clients             SET/GET over TLS, 1,000 pipelined commands in one
 *                       write, a 2 MB value, a plain-text client on the
 *                       TLS port closed and counted, a stuck handshake
 *                       and the plain client disturb no one
 *   mtls_yes            tls-auth-clients yes: no / expired / other-CA
 *                       certificate refused, a valid one works
 *   mtls_optional       tls-auth-clients optional: no certificate works,
 *                       expired / other-CA refused
 *   reload              new certificate by SIGHUP and TANDEM RELOAD-TLS
 *                       for new connections, old connections untouched;
 *                       garbage or a mismatched key keeps the old one
 *   replication         TLS primary + 2 TLS replicas: 100,000 mixed
 *                       commands from 8 clients (2 of them over TLS),
 *                       WAIT 2 0 = 2, both replicas identical
 *   replication_mtls    the same with backends requiring client
 *                       certificates (tls-client-cert-file/key-file)
 *   seed_and_reads      a TLS replica with foreign data is seeded; reads
 *                       with read-policy replica served by TLS replicas;
 *                       the backends require client certificates and
 *                       tandem presents its tls-cert-file (no
 *                       tls-client-cert-file)
 *   backend_verify      replicas with another CA's certificate, with a
 *                       certificate for another name, or requiring a
 *                       client certificate tandem does not have: never
 *                       online, the log says why; the good one works
 *
 * Processes are stopped by PID only. 127.0.0.1 only.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "replcheck.h"

#define MAX_BACKENDS 4

/* The certificates, made once by main() (children of Check's fork see
 * them). */
static char certs[256];

/* The path of a file of the certificates dir, in a ring of 32 buffers
 * (an argument list holds several at once). */
static const char *
cert(const char *name)
{
    static char paths[32][320];
    static int next;
    char *p = paths[next++ % 32];

    snprintf(p, 320, "%s/%s", certs, name);
    return p;
}

/* A backend: redis-server with a plain port (p.port, for the checker)
 * and a TLS port (tandem's link). */
struct backend {
    struct proc p;
    int         tls_port;
    char        spec[64];      /* "rediss://127.0.0.1:<tls_port>" */
    char        tport[16];
};

static struct {
    struct backend primary;
    struct backend replica[MAX_BACKENDS];
    int            nreplicas;
    struct proc    tandem;
    int            tandem_tls_port;   /* 0: none */
    char           work[256];         /* per-test files (reload) */
} F;

/* ---- certificates ------------------------------------------------- */

static const char gen_script[] =
    "set -e\n"
    "cd \"$1\"\n"
    "key() { openssl genpkey -algorithm EC -pkeyopt "
    "ec_paramgen_curve:prime256v1 -out \"$1.key\"; }\n"
    "ca() { key \"$1\"; openssl req -x509 -new -key \"$1.key\" -out "
    "\"$1.crt\" -days 3650 -subj \"$2\" -addext basicConstraints=critical,"
    "CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; }\n"
    "csr() { key \"$1\"; openssl req -new -key \"$1.key\" -out \"$1.csr\" "
    "-subj \"$2\"; }\n"
    "sign() { csr \"$1\" \"$2\"; openssl x509 -req -in \"$1.csr\" -CA "
    "\"$3.crt\" -CAkey \"$3.key\" -set_serial \"$5\" -days 365 -extfile "
    "ext.cnf -extensions \"$4\" -out \"$1.crt\"; }\n"
    "cat >ext.cnf <<'EOF'\n"
    "[server]\n"
    "basicConstraints = CA:FALSE\n"
    "extendedKeyUsage = serverAuth,clientAuth\n"
    "subjectAltName = DNS:localhost,IP:127.0.0.1\n"
    "[wrongname]\n"
    "basicConstraints = CA:FALSE\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:other\n"
    "[client]\n"
    "basicConstraints = CA:FALSE\n"
    "extendedKeyUsage = clientAuth\n"
    "EOF\n"
    "ca ca '/CN=tandem test CA'\n"
    "ca other-ca '/CN=another test CA'\n"
    "sign server /CN=localhost ca server 1001\n"
    "sign server2 '/CN=localhost renewed' ca server 1002\n"
    "sign client '/CN=tandem test client' ca client 2001\n"
    "sign wrongname /CN=other ca wrongname 3001\n"
    "sign other-server /CN=localhost other-ca server 4001\n"
    "sign other-client '/CN=tandem test client' other-ca client 4002\n"
    /* An expired certificate: openssl ca takes explicit dates. */
    "mkdir cadb\n"
    ": >cadb/index.txt\n"
    "echo 5001 >cadb/serial\n"
    "cat >ca.cnf <<'EOF'\n"
    "[ca]\n"
    "default_ca = test\n"
    "[test]\n"
    "database = ./cadb/index.txt\n"
    "serial = ./cadb/serial\n"
    "new_certs_dir = ./cadb\n"
    "default_md = sha256\n"
    "policy = any\n"
    "unique_subject = no\n"
    "[any]\n"
    "commonName = supplied\n"
    "[client]\n"
    "basicConstraints = CA:FALSE\n"
    "extendedKeyUsage = clientAuth\n"
    "EOF\n"
    "csr expired '/CN=expired client'\n"
    "openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in "
    "expired.csr -out expired.crt -startdate 20200101000000Z -enddate "
    "20200102000000Z -extensions client -notext\n"
    "openssl verify -CAfile ca.crt server.crt server2.crt client.crt "
    "wrongname.crt\n"
    "if openssl verify -CAfile ca.crt expired.crt; then exit 1; fi\n"
    "printf 'this is not a certificate\\n' >garbage.crt\n";

static int
make_certs(void)
{
    char path[320];
    char cmdline[1200];
    FILE *f;

    snprintf(certs, sizeof(certs), "/tmp/tandem-test-certs-XXXXXX");
    if (mkdtemp(certs) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/gen.sh", certs);
    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fputs(gen_script, f);
    fclose(f);
    snprintf(cmdline, sizeof(cmdline), "sh '%s/gen.sh' '%s' >'%s/gen.log' "
             "2>&1", certs, certs, certs);
    if (system(cmdline) != 0) {
        snprintf(cmdline, sizeof(cmdline), "cat '%s/gen.log' >&2", certs);
        if (system(cmdline) != 0) {
            fprintf(stderr, "could not show %s/gen.log\n", certs);
        }
        return -1;
    }
    return 0;
}

static void
remove_tree(const char *dir)
{
    char cmdline[400];

    if (dir[0] == '\0' || strncmp(dir, "/tmp/tandem-test-", 17) != 0 ||
        strchr(dir, '\'') != NULL || getenv("TANDEM_KEEP_TEST_DIRS") != NULL) {
        return;
    }
    snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", dir);
    if (system(cmdline) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
}

/* Copies src over dst through a temp file and a rename (a reader never
 * sees half a file). */
static void
install_file(const char *src, const char *dst)
{
    char tmp[400];
    char buf[4096];
    FILE *in = fopen(src, "rb");
    FILE *out;
    size_t n;

    ck_assert_msg(in != NULL, "open %s: %s", src, strerror(errno));
    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    out = fopen(tmp, "wb");
    ck_assert_msg(out != NULL, "open %s: %s", tmp, strerror(errno));
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        ck_assert(fwrite(buf, 1, n, out) == n);
    }
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    ck_assert_msg(rename(tmp, dst) == 0, "rename %s: %s", tmp,
                  strerror(errno));
}

/* ---- a small blocking TLS client ------------------------------------ */

struct tlsc {
    int         fd;
    SSL_CTX     *ctx;
    SSL         *ssl;
    redisReader *rd;
    char        err[512];
};

static void
ssl_errors(char *out, size_t len, const char *what)
{
    unsigned long e;
    size_t off;

    off = (size_t)snprintf(out, len, "%s", what);
    while ((e = ERR_get_error()) != 0 && off < len) {
        char s[200];

        ERR_error_string_n(e, s, sizeof(s));
        off += (size_t)snprintf(out + off, len - off, ": %s", s);
    }
}

static void
tlsc_close(struct tlsc *t)
{
    if (t->ssl != NULL) {
        SSL_free(t->ssl);
    }
    if (t->ctx != NULL) {
        SSL_CTX_free(t->ctx);
    }
    if (t->fd >= 0) {
        close(t->fd);
    }
    if (t->rd != NULL) {
        redisReaderFree(t->rd);
    }
    t->ssl = NULL;
    t->ctx = NULL;
    t->rd = NULL;
    t->fd = -1;
}

/* A TCP connection to 127.0.0.1:port, or -1 (errno set). */
static int
tcp_connect(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/*
 * Connects to 127.0.0.1:port and completes a TLS handshake, verifying the
 * server's certificate against the test CA and the address 127.0.0.1;
 * presents crt/key when not NULL. Reads and writes time out after
 * timeout_s. Returns 0, or -1 with t->err set (t is then closed).
 */
static int
tlsc_open_ex(struct tlsc *t, int port, const char *crt, const char *key,
             int timeout_s, SSL_SESSION *resume)
{
    struct timeval tv = {timeout_s, 0};
    int rc;

    memset(t, 0, sizeof(*t));
    t->fd = -1;
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL ||
        SSL_CTX_load_verify_locations(t->ctx, cert("ca.crt"), NULL) != 1 ||
        (crt != NULL &&
         (SSL_CTX_use_certificate_chain_file(t->ctx, crt) != 1 ||
          SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1))) {
        ssl_errors(t->err, sizeof(t->err), "client context");
        tlsc_close(t);
        return -1;
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_AUTO_RETRY);
    t->fd = tcp_connect(port);
    if (t->fd < 0) {
        snprintf(t->err, sizeof(t->err), "connect to %d: %s", port,
                 strerror(errno));
        tlsc_close(t);
        return -1;
    }
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    t->ssl = SSL_new(t->ctx);
    SSL_set_fd(t->ssl, t->fd);
    SSL_set_tlsext_host_name(t->ssl, "localhost");
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), "127.0.0.1");
    if (resume != NULL) {
        SSL_set_session(t->ssl, resume);
    }
    t->rd = redisReaderCreate();
    rc = SSL_connect(t->ssl);
    if (rc != 1) {
        char what[160];

        snprintf(what, sizeof(what), "SSL_connect (error %d, errno %s)",
                 SSL_get_error(t->ssl, rc), strerror(errno));
        ssl_errors(t->err, sizeof(t->err), what);
        tlsc_close(t);
        return -1;
    }
    return 0;
}

static int
tlsc_open_timeout(struct tlsc *t, int port, const char *crt, const char *key,
                  int timeout_s)
{
    return tlsc_open_ex(t, port, crt, key, timeout_s, NULL);
}

static int
tlsc_open(struct tlsc *t, int port, const char *crt, const char *key)
{
    return tlsc_open_timeout(t, port, crt, key, 10);
}

/* Connects or fails the test. */
static void
tlsc_must_open(struct tlsc *t, int port, const char *crt, const char *key)
{
    ck_assert_msg(tlsc_open(t, port, crt, key) == 0,
                  "TLS connect to %d: %s", port, t->err);
}

static int
tlsc_send(struct tlsc *t, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        int n = SSL_write(t->ssl, p, (int)(len > (1u << 30) ? (1u << 30)
                                                             : len));

        if (n <= 0) {
            char what[120];

            snprintf(what, sizeof(what), "SSL_write (error %d, errno %s)",
                     SSL_get_error(t->ssl, n), strerror(errno));
            ssl_errors(t->err, sizeof(t->err), what);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The next reply (caller frees), or NULL: closed, timeout or error
 * (t->err says which). */
static redisReply *
tlsc_reply(struct tlsc *t)
{
    for (;;) {
        void *reply = NULL;
        char buf[16384];
        int n;

        if (redisReaderGetReply(t->rd, &reply) != REDIS_OK) {
            snprintf(t->err, sizeof(t->err), "protocol error: %s",
                     t->rd->errstr);
            return NULL;
        }
        if (reply != NULL) {
            return reply;
        }
        errno = 0;
        n = SSL_read(t->ssl, buf, sizeof(buf));
        if (n <= 0) {
            char what[160];
            int e = SSL_get_error(t->ssl, n);

            snprintf(what, sizeof(what), "SSL_read (error %d%s, errno %s)", e,
                     e == SSL_ERROR_ZERO_RETURN ? ": closed by the peer" : "",
                     strerror(errno));
            ssl_errors(t->err, sizeof(t->err), what);
            return NULL;
        }
        redisReaderFeed(t->rd, buf, (size_t)n);
    }
}

static redisReply *
tlsc_vcmd(struct tlsc *t, const char *fmt, va_list ap)
{
    char *out = NULL;
    int len = redisvFormatCommand(&out, fmt, ap);
    int rc;

    ck_assert_int_gt(len, 0);
    rc = tlsc_send(t, out, (size_t)len);
    redisFreeCommand(out);
    return rc == 0 ? tlsc_reply(t) : NULL;
}

/* A command over TLS; the reply (caller frees), or NULL. */
static redisReply *
tlsc_cmd(struct tlsc *t, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = tlsc_vcmd(t, fmt, ap);
    va_end(ap);
    return r;
}

/* Asserts a status or bulk reply equal to want. */
static void
tlsc_expect(struct tlsc *t, const char *want, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = tlsc_vcmd(t, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "%s over TLS: no reply: %s", fmt, t->err);
    ck_assert_msg((r->type == REDIS_REPLY_STATUS ||
                   r->type == REDIS_REPLY_STRING) &&
                      strcmp(r->str, want) == 0,
                  "%s over TLS: expected \"%s\", got type %d \"%s\"", fmt,
                  want, r->type, r->str != NULL ? r->str : "");
    freeReplyObject(r);
}

/* Serial number and subject CN of the server's certificate. */
static long
tlsc_peer(struct tlsc *t, char *cn, size_t cnlen)
{
    X509 *x = SSL_get1_peer_certificate(t->ssl);
    long serial;

    ck_assert_msg(x != NULL, "no peer certificate");
    serial = ASN1_INTEGER_get(X509_get0_serialNumber(x));
    cn[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                              (int)cnlen);
    X509_free(x);
    return serial;
}

/*
 * One attempt: TLS connect with crt/key (may be NULL), then PING. Returns
 * 1 when +PONG came back, else 0 with why filled (handshake failure, the
 * connection closed, an alert).
 */
static int
tls_ping(int port, const char *crt, const char *key, char *why, size_t len)
{
    struct tlsc t;
    redisReply *r;
    int ok;

    if (tlsc_open_timeout(&t, port, crt, key, 5) != 0) {
        snprintf(why, len, "handshake: %s", t.err);
        return 0;
    }
    r = tlsc_cmd(&t, "PING");
    ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
         strcmp(r->str, "PONG") == 0;
    if (r == NULL) {
        snprintf(why, len, "after the handshake: %s", t.err);
    } else {
        snprintf(why, len, "reply type %d \"%s\"", r->type,
                 r->str != NULL ? r->str : "");
        freeReplyObject(r);
    }
    tlsc_close(&t);
    return ok;
}

/* Value of "field:" in INFO section, over TLS, into out ("" if absent). */
static void
tlsc_info(struct tlsc *t, const char *section, const char *field, char *out,
          size_t len)
{
    redisReply *r = tlsc_cmd(t, "INFO %s", section);
    size_t flen = strlen(field);
    const char *p;

    out[0] = '\0';
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STRING,
                  "INFO %s over TLS: %s", section, r == NULL ? t->err : "?");
    for (p = r->str; p != NULL && *p != '\0';) {
        const char *eol = strstr(p, "\r\n");

        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            size_t vlen = (eol != NULL ? (size_t)(eol - p) : strlen(p)) -
                          flen - 1;

            snprintf(out, len, "%.*s", (int)vlen, p + flen + 1);
            break;
        }
        p = eol != NULL ? eol + 2 : NULL;
    }
    freeReplyObject(r);
}

static long long
tlsc_info_num(struct tlsc *t, const char *section, const char *field)
{
    char v[64];

    tlsc_info(t, section, field, v, sizeof(v));
    ck_assert_msg(v[0] != '\0', "INFO %s has no %s", section, field);
    return atoll(v);
}

/* ---- processes ------------------------------------------------------ */

static void
dump_logs(void)
{
    int i;

    harness_dump_log(&F.tandem);
    harness_dump_log(&F.primary.p);
    for (i = 0; i < F.nreplicas; i++) {
        harness_dump_log(&F.replica[i].p);
    }
}

/*
 * Starts a TLS backend: plain port (harness) + TLS port, with the given
 * certificate (NULL: server.crt/key) and tls-auth-clients value.
 */
static void
backend_start(struct backend *b, const char *crt, const char *key,
              const char *auth)
{
    const char *extra[16];
    int n = 0;

    memset(b, 0, sizeof(*b));
    b->tls_port = harness_free_port();
    snprintf(b->tport, sizeof(b->tport), "%d", b->tls_port);
    snprintf(b->spec, sizeof(b->spec), "rediss://127.0.0.1:%d", b->tls_port);
    extra[n++] = "--tls-port";
    extra[n++] = b->tport;
    extra[n++] = "--tls-cert-file";
    extra[n++] = crt != NULL ? crt : cert("server.crt");
    extra[n++] = "--tls-key-file";
    extra[n++] = key != NULL ? key : cert("server.key");
    extra[n++] = "--tls-ca-cert-file";
    extra[n++] = cert("ca.crt");
    extra[n++] = "--tls-auth-clients";
    extra[n++] = auth;
    extra[n] = NULL;
    ck_assert_msg(harness_start_redis(&b->p, extra) == 0,
                  "redis-server with tls-port %d did not start", b->tls_port);
}

/* A plain backend (no TLS port). */
static void
plain_backend_start(struct backend *b)
{
    memset(b, 0, sizeof(*b));
    ck_assert_int_eq(harness_start_redis(&b->p, NULL), 0);
    snprintf(b->spec, sizeof(b->spec), "127.0.0.1:%d", b->p.port);
}

/* Spawns tandem with these arguments; waits until it answers PING on the
 * plain port (when port != 0) or over TLS on tls_port. */
static void
tandem_spawn(const char *const *args, int port, int tls_port)
{
    long long deadline = replcheck_now_ms() + 15000;
    char why[600] = "";

    ck_assert_int_eq(harness_spawn_tandem(&F.tandem, args), 0);
    F.tandem.port = port;
    F.tandem_tls_port = tls_port;
    if (port != 0) {
        if (harness_wait_ready(&F.tandem, 15000) != 0) {
            harness_dump_log(&F.tandem);
            ck_abort_msg("tandem did not answer PING on %d", port);
        }
        return;
    }
    while (!tls_ping(tls_port, NULL, NULL, why, sizeof(why))) {
        if (replcheck_now_ms() > deadline || kill(F.tandem.pid, 0) != 0) {
            harness_dump_log(&F.tandem);
            ck_abort_msg("tandem did not answer PING over TLS on %d: %s",
                         tls_port, why);
        }
        replcheck_sleep_ms(50);
    }
}

/* Waits until tandem's primary link is up (over TLS when it has no plain
 * port). */
static void
wait_primary_up(void)
{
    long long deadline = replcheck_now_ms() + 15000;
    char v[64] = "";

    for (;;) {
        if (F.tandem.port != 0) {
            redisContext *c = harness_connect(F.tandem.port);
            const char *s = harness_info_field(c, "primary",
                                               "primary_link_status");

            snprintf(v, sizeof(v), "%s", s != NULL ? s : "");
            redisFree(c);
        } else {
            struct tlsc t;

            tlsc_must_open(&t, F.tandem_tls_port, NULL, NULL);
            tlsc_info(&t, "primary", "primary_link_status", v, sizeof(v));
            tlsc_close(&t);
        }
        if (strcmp(v, "up") == 0) {
            return;
        }
        if (replcheck_now_ms() > deadline) {
            dump_logs();
            ck_abort_msg("tandem's primary link is not up: %s", v);
        }
        replcheck_sleep_ms(50);
    }
}

static void
setup(void)
{
    memset(&F, 0, sizeof(F));
}

static void
teardown(void)
{
    int status = replcheck_stop_tandem(&F.tandem);
    int i;

    for (i = 0; i < F.nreplicas; i++) {
        harness_stop(&F.replica[i].p);
    }
    harness_stop(&F.primary.p);
    remove_tree(F.work);
    ck_assert_msg(status == 0, "tandem did not exit cleanly on SIGTERM "
                  "(status %d, -2: sanitizer report in its log)", status);
}

/* Lines of tandem's log that contain both needles. */
static int
log_lines_with(const char *a, const char *b)
{
    FILE *f = fopen(F.tandem.log, "r");
    char line[4096];
    int n = 0;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL)) {
            n++;
        }
    }
    fclose(f);
    return n;
}

/* Waits until tandem's log has more than `before` lines with a (and b). */
static void
wait_log(const char *a, const char *b, int before, int timeout_ms)
{
    long long deadline = replcheck_now_ms() + timeout_ms;

    while (log_lines_with(a, b) <= before) {
        if (replcheck_now_ms() > deadline) {
            harness_dump_log(&F.tandem);
            ck_abort_msg("no log line with \"%s\"%s%s%s within %d ms", a,
                         b != NULL ? " and \"" : "", b != NULL ? b : "",
                         b != NULL ? "\"" : "", timeout_ms);
        }
        replcheck_sleep_ms(20);
    }
}

/*
 * Asserts that every connection on the backend's plain port other than
 * this one came in on the TLS port (laddr=127.0.0.1:<tls_port>), and that
 * there are at least min_tls of them: tandem's links. Retries briefly, as
 * the checker's plain connections may still be closing.
 */
static int
assert_links_on_tls(const struct backend *b, int min_tls, const char *what)
{
    long long deadline = replcheck_now_ms() + 5000;
    char want[64];
    char report[1024] = "";
    int tls_links = 0;

    snprintf(want, sizeof(want), "laddr=127.0.0.1:%d ", b->tls_port);
    for (;;) {
        redisContext *c = harness_connect(b->p.port);
        redisReply *id = harness_cmd(c, "CLIENT ID");
        redisReply *r = harness_cmd(c, "CLIENT LIST");
        char self[32];
        int others_plain = 0;
        const char *p;

        ck_assert(id != NULL && id->type == REDIS_REPLY_INTEGER);
        ck_assert(r != NULL && r->type == REDIS_REPLY_STRING);
        snprintf(self, sizeof(self), "id=%lld ", id->integer);
        tls_links = 0;
        report[0] = '\0';
        for (p = r->str; *p != '\0';) {
            size_t l = strcspn(p, "\n");
            char line[1024];

            snprintf(line, sizeof(line), "%.*s", (int)l, p);
            if (line[0] != '\0' && strncmp(line, self, strlen(self)) != 0) {
                if (strstr(line, want) != NULL) {
                    tls_links++;
                } else {
                    others_plain++;
                    snprintf(report + strlen(report),
                             sizeof(report) - strlen(report), "[%.200s] ",
                             line);
                }
            }
            p += l;
            if (*p == '\n') {
                p++;
            }
        }
        freeReplyObject(id);
        freeReplyObject(r);
        redisFree(c);
        if (others_plain == 0 && tls_links >= min_tls) {
            return tls_links;
        }
        if (replcheck_now_ms() > deadline) {
            ck_abort_msg("%s %s: %d connection(s) on the TLS port %d (want "
                         ">= %d), others not on it: %s", what, b->spec,
                         tls_links, b->tls_port, min_tls, report);
        }
        replcheck_sleep_ms(50);
    }
}

/* Compares replica i (plain port) with the primary (plain port). */
static long
compare_one(const char *test, int i)
{
    struct replcheck_stats st;
    char report[4096];
    int diffs = replcheck_compare_ex(F.primary.p.port, F.replica[i].p.port,
                                     &st, report, sizeof(report));

    printf("tls %s: %s: %s\n", test, F.replica[i].spec, report);
    fflush(stdout);
    if (diffs != 0) {
        dump_logs();
    }
    ck_assert_msg(diffs == 0, "%s: replica %s differs from the primary: %s",
                  test, F.replica[i].spec, report);
    return st.keys;
}

/* Waits until replica i is online with nothing to catch up. */
static void
wait_replica_synced(int i, int timeout_ms)
{
    char line[2048];

    if (replcheck_wait_replica_synced(F.tandem.port, F.replica[i].tls_port,
                                      timeout_ms, line, sizeof(line)) != 0) {
        dump_logs();
        ck_abort_msg("replica %s not in sync within %d ms: %s",
                     F.replica[i].spec, timeout_ms, line);
    }
}

/* ---- a. clients over TLS ------------------------------------------- */

#define PIPELINED 1000
#define BIG_VALUE (2 * 1024 * 1024)

START_TEST(test_clients)
{
    const char *args[24];
    char tport[16];
    struct tlsc a;
    struct tlsc b;
    char *buf;
    char *big;
    size_t len = 0;
    redisReply *r;
    long long failures0;
    long long conns0;
    long long incr = 0;
    char got[4096];
    int closed = 0;
    int fd;
    int stuck_fd;
    int n = 0;
    int i;

    plain_backend_start(&F.primary);
    snprintf(tport, sizeof(tport), "%d", harness_free_port());
    args[n++] = "--port";
    args[n++] = "0";
    args[n++] = "--tls-port";
    args[n++] = tport;
    args[n++] = "--bind";
    args[n++] = "127.0.0.1";
    args[n++] = "--primary";
    args[n++] = F.primary.spec;
    args[n++] = "--tls-cert-file";
    args[n++] = cert("server.crt");
    args[n++] = "--tls-key-file";
    args[n++] = cert("server.key");
    args[n++] = "--tls-ca-cert-file";
    args[n++] = cert("ca.crt");
    args[n++] = "--tls-auth-clients";
    args[n++] = "no";
    args[n++] = "--loglevel";
    args[n++] = "verbose";
    args[n] = NULL;
    tandem_spawn(args, 0, atoi(tport));
    wait_primary_up();

    /* SET / GET over TLS, seen on the primary. */
    tlsc_must_open(&a, F.tandem_tls_port, NULL, NULL);
    tlsc_expect(&a, "OK", "SET tls:key %s", "hello over TLS");
    tlsc_expect(&a, "hello over TLS", "GET tls:key");
    {
        redisContext *pc = harness_connect(F.primary.p.port);

        r = harness_cmd(pc, "GET tls:key");
        ck_assert(r != NULL && r->type == REDIS_REPLY_STRING);
        ck_assert_str_eq(r->str, "hello over TLS");
        freeReplyObject(r);
        redisFree(pc);
    }

    /* 1,000 commands in one write: all replies, in order. */
    buf = malloc(PIPELINED * 96);
    ck_assert(buf != NULL);
    for (i = 0; i < PIPELINED; i++) {
        char *c = NULL;
        int l;

        if (i % 3 == 0) {
            l = redisFormatCommand(&c, "SET pipe:%d value-%d", i, i);
        } else if (i % 3 == 1) {
            l = redisFormatCommand(&c, "GET pipe:%d", i - 1);
        } else {
            l = redisFormatCommand(&c, "INCR pipe:counter");
        }
        ck_assert(l > 0 && len + (size_t)l < PIPELINED * 96);
        memcpy(buf + len, c, (size_t)l);
        len += (size_t)l;
        redisFreeCommand(c);
    }
    ck_assert_int_eq(tlsc_send(&a, buf, len), 0);
    free(buf);
    for (i = 0; i < PIPELINED; i++) {
        char want[64];

        r = tlsc_reply(&a);
        ck_assert_msg(r != NULL, "pipelined reply %d of %d missing: %s", i,
                      PIPELINED, a.err);
        if (i % 3 == 0) {
            ck_assert_msg(r->type == REDIS_REPLY_STATUS &&
                              strcmp(r->str, "OK") == 0,
                          "reply %d: type %d", i, r->type);
        } else if (i % 3 == 1) {
            snprintf(want, sizeof(want), "value-%d", i - 1);
            ck_assert_msg(r->type == REDIS_REPLY_STRING &&
                              strcmp(r->str, want) == 0,
                          "reply %d: type %d \"%s\", want \"%s\"", i, r->type,
                          r->str != NULL ? r->str : "", want);
        } else {
            ck_assert_msg(r->type == REDIS_REPLY_INTEGER &&
                              r->integer == ++incr,
                          "reply %d: type %d %lld, want %lld", i, r->type,
                          r->integer, incr);
        }
        freeReplyObject(r);
    }

    /* A 2 MB value each way: many records, partial writes. */
    big = malloc(BIG_VALUE + 1);
    ck_assert(big != NULL);
    for (i = 0; i < BIG_VALUE; i++) {
        big[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    }
    big[BIG_VALUE] = '\0';
    r = tlsc_cmd(&a, "SET tls:big %b", big, (size_t)BIG_VALUE);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STATUS,
                  "SET of 2 MB over TLS: %s", r == NULL ? a.err : r->str);
    freeReplyObject(r);
    r = tlsc_cmd(&a, "GET tls:big");
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STRING,
                  "GET of 2 MB over TLS: %s", r == NULL ? a.err : "?");
    ck_assert_int_eq(r->len, BIG_VALUE);
    ck_assert(memcmp(r->str, big, BIG_VALUE) == 0);
    freeReplyObject(r);
    free(big);

    /* A handshake that never completes (half a record) and a plain-text
     * client on the TLS port. */
    failures0 = tlsc_info_num(&a, "stats", "tls_handshake_failures");
    conns0 = tlsc_info_num(&a, "stats", "tls_connections_received");
    stuck_fd = harness_raw_connect(F.tandem_tls_port);
    ck_assert_int_eq(harness_send_all(stuck_fd, "\x16\x03\x01\x02", 4), 0);
    fd = harness_raw_connect(F.tandem_tls_port);
    ck_assert_int_eq(harness_send_all(fd, "PING\r\n", 6), 0);
    harness_read_until_close(fd, got, sizeof(got), 5000, &closed);
    close(fd);
    ck_assert_msg(closed, "a plain-text client on the TLS port was not "
                  "closed within 5 s");
    ck_assert_msg(strstr(got, "PONG") == NULL, "a plain-text client got "
                  "an answer on the TLS port");
    {
        long long deadline = replcheck_now_ms() + 5000;
        long long now;

        while ((now = tlsc_info_num(&a, "stats", "tls_handshake_failures")) <
                   failures0 + 1 &&
               replcheck_now_ms() < deadline) {
            replcheck_sleep_ms(20);
        }
        ck_assert_msg(now == failures0 + 1, "tls_handshake_failures went "
                      "from %lld to %lld after one plain-text client",
                      failures0, now);
    }
    ck_assert_int_ge(log_lines_with("TLS handshake failed", NULL), 1);

    /* Others are undisturbed: the established client, and a new one, while
     * the stuck handshake is still open. */
    tlsc_expect(&a, "PONG", "PING");
    tlsc_expect(&a, "hello over TLS", "GET tls:key");
    tlsc_must_open(&b, F.tandem_tls_port, NULL, NULL);
    tlsc_expect(&b, "OK", "SET tls:b %s", "second");
    tlsc_expect(&a, "second", "GET tls:b");
    {
        char cn[128];

        ck_assert_int_eq(tlsc_peer(&b, cn, sizeof(cn)), 1001);
        ck_assert_str_eq(cn, "localhost");
        ck_assert_str_eq(SSL_get_version(b.ssl), "TLSv1.3");
    }
    /* The stuck client did not block the accept loop, and is counted as
     * accepted on tls-port like the others (a, stuck, plain, b). */
    ck_assert_int_ge(tlsc_info_num(&b, "stats", "tls_connections_received"),
                     conns0 + 3);
    ck_assert_int_eq(tlsc_info_num(&b, "stats", "tls_handshake_failures"),
                     failures0 + 1);
    close(stuck_fd);
    tlsc_close(&b);

    /* CLIENT LIST through tandem works over TLS too. */
    r = tlsc_cmd(&a, "CLIENT LIST");
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STRING,
                  "CLIENT LIST over TLS");
    freeReplyObject(r);
    tlsc_expect(&a, "OK", "QUIT");
    tlsc_close(&a);
}
END_TEST

/* ---- b. mutual TLS ------------------------------------------------- */

static void
start_tandem_auth(const char *auth)
{
    const char *args[24];
    static char tport[16];
    int n = 0;

    plain_backend_start(&F.primary);
    snprintf(tport, sizeof(tport), "%d", harness_free_port());
    args[n++] = "--port";
    args[n++] = "0";
    args[n++] = "--tls-port";
    args[n++] = tport;
    args[n++] = "--bind";
    args[n++] = "127.0.0.1";
    args[n++] = "--primary";
    args[n++] = F.primary.spec;
    args[n++] = "--tls-cert-file";
    args[n++] = cert("server.crt");
    args[n++] = "--tls-key-file";
    args[n++] = cert("server.key");
    args[n++] = "--tls-ca-cert-file";
    args[n++] = cert("ca.crt");
    args[n++] = "--tls-auth-clients";
    args[n++] = auth;
    args[n++] = "--loglevel";
    args[n++] = "verbose";
    args[n] = NULL;
    /* Readiness over TLS needs a certificate when auth is "yes". */
    ck_assert_int_eq(harness_spawn_tandem(&F.tandem, args), 0);
    F.tandem.port = 0;
    F.tandem_tls_port = atoi(tport);
    {
        long long deadline = replcheck_now_ms() + 15000;
        char why[600] = "";

        while (!tls_ping(F.tandem_tls_port, cert("client.crt"),
                         cert("client.key"), why, sizeof(why))) {
            if (replcheck_now_ms() > deadline ||
                kill(F.tandem.pid, 0) != 0) {
                harness_dump_log(&F.tandem);
                ck_abort_msg("tandem did not answer over TLS: %s", why);
            }
            replcheck_sleep_ms(50);
        }
    }
}

static long long
failures_with_cert(void)
{
    struct tlsc t;
    long long v;

    tlsc_must_open(&t, F.tandem_tls_port, cert("client.crt"),
                   cert("client.key"));
    v = tlsc_info_num(&t, "stats", "tls_handshake_failures");
    tlsc_close(&t);
    return v;
}

/* Asserts a refusal, and that tandem counted it as a failed handshake. */
static void
assert_refused(const char *what, const char *crt, const char *key)
{
    char why[600];
    long long before = failures_with_cert();
    long long deadline = replcheck_now_ms() + 5000;
    long long after;

    ck_assert_msg(!tls_ping(F.tandem_tls_port, crt, key, why, sizeof(why)),
                  "%s: PING answered over TLS", what);
    printf("tls mtls: %s refused (%s)\n", what, why);
    fflush(stdout);
    while ((after = failures_with_cert()) == before &&
           replcheck_now_ms() < deadline) {
        replcheck_sleep_ms(20);
    }
    ck_assert_msg(after == before + 1, "%s: tls_handshake_failures %lld -> "
                  "%lld", what, before, after);
}

static void
assert_accepted(const char *what, const char *crt, const char *key)
{
    char why[600];
    struct tlsc t;

    ck_assert_msg(tls_ping(F.tandem_tls_port, crt, key, why, sizeof(why)),
                  "%s: refused: %s", what, why);
    tlsc_must_open(&t, F.tandem_tls_port, crt, key);
    tlsc_expect(&t, "OK", "SET mtls:%s yes", what);
    tlsc_expect(&t, "yes", "GET mtls:%s", what);
    tlsc_close(&t);
}

/* tls-session-caching (on by default): a client that comes back with
 * its session resumes it, certificate checks included. */
static void
assert_resumes(const char *crt, const char *key)
{
    struct tlsc t;
    SSL_SESSION *sess;

    tlsc_must_open(&t, F.tandem_tls_port, crt, key);
    tlsc_expect(&t, "PONG", "PING");    /* TLS 1.3 tickets come after */
    sess = SSL_get1_session(t.ssl);
    ck_assert(sess != NULL);
    /* Without a close_notify, OpenSSL marks the session not resumable. */
    SSL_shutdown(t.ssl);
    tlsc_close(&t);
    ck_assert_msg(tlsc_open_ex(&t, F.tandem_tls_port, crt, key, 10, sess) ==
                      0, "resuming: %s", t.err);
    ck_assert_msg(SSL_session_reused(t.ssl) == 1, "the session was not "
                  "resumed");
    tlsc_expect(&t, "PONG", "PING");
    tlsc_close(&t);
    SSL_SESSION_free(sess);
}

START_TEST(test_mtls_yes)
{
    start_tandem_auth("yes");
    assert_refused("no certificate", NULL, NULL);
    assert_refused("expired certificate", cert("expired.crt"),
                   cert("expired.key"));
    assert_refused("certificate of another CA", cert("other-client.crt"),
                   cert("other-client.key"));
    assert_accepted("valid", cert("client.crt"), cert("client.key"));
    assert_resumes(cert("client.crt"), cert("client.key"));
    ck_assert_int_ge(log_lines_with("TLS handshake failed", NULL), 1);
}
END_TEST

START_TEST(test_mtls_optional)
{
    start_tandem_auth("optional");
    assert_accepted("none", NULL, NULL);
    assert_accepted("valid", cert("client.crt"), cert("client.key"));
    assert_refused("expired certificate", cert("expired.crt"),
                   cert("expired.key"));
    assert_refused("certificate of another CA", cert("other-client.crt"),
                   cert("other-client.key"));
    assert_accepted("none-again", NULL, NULL);
}
END_TEST

/* ---- c. certificate reload ----------------------------------------- */

static long
new_conn_serial(char *cn, size_t len)
{
    struct tlsc t;
    long serial;

    tlsc_must_open(&t, F.tandem_tls_port, NULL, NULL);
    serial = tlsc_peer(&t, cn, len);
    tlsc_expect(&t, "PONG", "PING");
    tlsc_close(&t);
    return serial;
}

/* TANDEM RELOAD-TLS on t: NULL for +OK, else asserts an error that
 * contains want. */
static void
reload_tls(struct tlsc *t, const char *want)
{
    redisReply *r = tlsc_cmd(t, "TANDEM RELOAD-TLS");

    ck_assert_msg(r != NULL, "TANDEM RELOAD-TLS: %s", t->err);
    if (want == NULL) {
        ck_assert_msg(r->type == REDIS_REPLY_STATUS &&
                          strcmp(r->str, "OK") == 0,
                      "TANDEM RELOAD-TLS: type %d \"%s\"", r->type,
                      r->str != NULL ? r->str : "");
    } else {
        ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                          strstr(r->str, want) != NULL,
                      "TANDEM RELOAD-TLS: expected an error with \"%s\", "
                      "got type %d \"%s\"", want, r->type,
                      r->str != NULL ? r->str : "");
        printf("tls reload: TANDEM RELOAD-TLS -> -%s\n", r->str);
        fflush(stdout);
    }
    freeReplyObject(r);
}

static void
sighup_and_wait(const char *a, const char *b)
{
    int before = log_lines_with(a, b);

    harness_signal(&F.tandem, SIGHUP);
    wait_log(a, b, before, 5000);
}

START_TEST(test_reload)
{
    char conf[400];
    char live_crt[400];
    char live_key[400];
    char cn[128];
    const char *args[2];
    struct tlsc old;
    struct tlsc old2;
    FILE *f;
    int port;
    int tls_port;

    plain_backend_start(&F.primary);
    snprintf(F.work, sizeof(F.work), "/tmp/tandem-test-tlsreload-XXXXXX");
    ck_assert(mkdtemp(F.work) != NULL);
    snprintf(live_crt, sizeof(live_crt), "%s/live.crt", F.work);
    snprintf(live_key, sizeof(live_key), "%s/live.key", F.work);
    install_file(cert("server.crt"), live_crt);
    install_file(cert("server.key"), live_key);
    port = harness_free_port();
    tls_port = harness_free_port();
    snprintf(conf, sizeof(conf), "%s/tandem.conf", F.work);
    f = fopen(conf, "w");
    ck_assert(f != NULL);
    fprintf(f, "port %d\ntls-port %d\nbind 127.0.0.1\nprimary %s\n"
            "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n"
            "tls-auth-clients no\nloglevel verbose\n", port, tls_port,
            F.primary.spec, live_crt, live_key, cert("ca.crt"));
    ck_assert_int_eq(fclose(f), 0);
    args[0] = conf;
    args[1] = NULL;
    tandem_spawn(args, port, tls_port);
    wait_primary_up();

    /* A client on the first certificate. */
    tlsc_must_open(&old, tls_port, NULL, NULL);
    ck_assert_int_eq(tlsc_peer(&old, cn, sizeof(cn)), 1001);
    ck_assert_str_eq(cn, "localhost");
    tlsc_expect(&old, "OK", "SET reload:1 before");

    /* 1. A new certificate (same paths, same CA), SIGHUP. */
    install_file(cert("server2.crt"), live_crt);
    install_file(cert("server2.key"), live_key);
    sighup_and_wait("Configuration reloaded", NULL);
    ck_assert_int_eq(new_conn_serial(cn, sizeof(cn)), 1002);
    ck_assert_str_eq(cn, "localhost renewed");
    /* The old connection goes on, on its session. */
    tlsc_expect(&old, "PONG", "PING");
    tlsc_expect(&old, "before", "GET reload:1");
    tlsc_expect(&old, "OK", "SET reload:2 after-sighup");
    ck_assert_int_eq(tlsc_peer(&old, cn, sizeof(cn)), 1001);

    /* 2. Back to the first one with TANDEM RELOAD-TLS, asked on a
     * connection made with the second. */
    tlsc_must_open(&old2, tls_port, NULL, NULL);
    install_file(cert("server.crt"), live_crt);
    install_file(cert("server.key"), live_key);
    reload_tls(&old2, NULL);
    ck_assert_int_eq(new_conn_serial(cn, sizeof(cn)), 1001);
    ck_assert_int_eq(tlsc_peer(&old2, cn, sizeof(cn)), 1002);
    tlsc_expect(&old2, "after-sighup", "GET reload:2");
    ck_assert_int_ge(log_lines_with("TLS certificates reloaded by TANDEM "
                                    "RELOAD-TLS", NULL), 1);

    /* 3. Garbage in the certificate file: both kinds of reload fail, say
     * why, and new connections keep the certificate in use. */
    install_file(cert("garbage.crt"), live_crt);
    reload_tls(&old, "TLS reload failed");
    ck_assert_int_ge(log_lines_with("TANDEM RELOAD-TLS failed",
                                    "can't load the certificate"), 1);
    ck_assert_int_eq(new_conn_serial(cn, sizeof(cn)), 1001);
    sighup_and_wait("Reload failed", "can't load the certificate");
    ck_assert_int_eq(new_conn_serial(cn, sizeof(cn)), 1001);
    ck_assert_str_eq(cn, "localhost");

    /* 4. A certificate whose key is not the one in the key file. */
    install_file(cert("server2.crt"), live_crt);
    reload_tls(&old, "mismatch");
    sighup_and_wait("Reload failed", "mismatch");
    ck_assert_int_eq(new_conn_serial(cn, sizeof(cn)), 1001);

    /* 5. A missing key file. */
    ck_assert_int_eq(unlink(live_key), 0);
    reload_tls(&old, "can't load the private key");
    ck_assert_int_eq(new_conn_serial(cn, sizeof(cn)), 1001);

    /* 6. Valid again: the reload takes. */
    install_file(cert("server2.key"), live_key);
    sighup_and_wait("Configuration reloaded", NULL);
    ck_assert_int_eq(new_conn_serial(cn, sizeof(cn)), 1002);

    /* Every connection made before any of it still works. */
    tlsc_expect(&old, "OK", "SET reload:3 end");
    tlsc_expect(&old2, "end", "GET reload:3");
    tlsc_close(&old);
    tlsc_close(&old2);
}
END_TEST

/* ---- d. replication over TLS ---------------------------------------- */

#define MIX_CLIENTS 8
#define MIX_TLS_CLIENTS 2       /* of them, over tandem's tls-port */
#define MIX_PER_CLIENT 12500
#define MIX_CHUNK 100
#define MIX_KEYS 200

struct batch {
    char   *p;
    size_t len;
    size_t cap;
    int    n;
};

static void
batch_add(struct batch *b, const char *fmt, ...)
{
    va_list ap;
    char *c = NULL;
    int l;

    va_start(ap, fmt);
    l = redisvFormatCommand(&c, fmt, ap);
    va_end(ap);
    if (l <= 0) {
        abort();
    }
    if (b->len + (size_t)l > b->cap) {
        b->cap = (b->len + (size_t)l) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            abort();
        }
    }
    memcpy(b->p + b->len, c, (size_t)l);
    b->len += (size_t)l;
    b->n++;
    redisFreeCommand(c);
}

/* One random write (or read) of the mix. */
static void
mix_command(struct batch *b, unsigned int *seed)
{
    int op = (int)(rand_r(seed) % 100);
    int k = (int)(rand_r(seed) % MIX_KEYS);
    int m = (int)(rand_r(seed) % 50);
    static const char *const fams[] = {"str", "cnt", "hash", "list", "set",
                                       "zset"};
    const char *fam = fams[rand_r(seed) % 6];

    if (op < 10) {
        char value[64];

        memset(value, 'a' + m % 26, (size_t)m);
        value[m] = '\0';
        batch_add(b, "SET str:%d v%d-%s", k, m, value);
    } else if (op < 13) {
        batch_add(b, "APPEND str:%d +%d", k, m);
    } else if (op < 18) {
        batch_add(b, "INCR cnt:%d", k);
    } else if (op < 20) {
        batch_add(b, "INCRBYFLOAT cnt:f%d 0.25", k);
    } else if (op < 27) {
        batch_add(b, "HSET hash:%d f%d v%d", k, m, op);
    } else if (op < 30) {
        batch_add(b, "HINCRBY hash:%d i%d 3", k, m % 5);
    } else if (op < 32) {
        batch_add(b, "HDEL hash:%d f%d", k, m);
    } else if (op < 38) {
        batch_add(b, "%s list:%d e%d", m % 2 ? "LPUSH" : "RPUSH", k, m);
    } else if (op < 41) {
        batch_add(b, "RPOP list:%d", k);
    } else if (op < 43) {
        batch_add(b, "LTRIM list:%d 0 19", k);
    } else if (op < 50) {
        batch_add(b, "SADD set:%d m%d", k, m);
    } else if (op < 52) {
        batch_add(b, "SREM set:%d m%d", k, m);
    } else if (op < 54) {
        batch_add(b, "SPOP set:%d", k);
    } else if (op < 59) {
        batch_add(b, "ZADD zset:%d %d m%d", k, op, m);
    } else if (op < 61) {
        batch_add(b, "ZINCRBY zset:%d 1.5 m%d", k, m);
    } else if (op < 66) {
        batch_add(b, "EXPIRE %s:%d %d", fam, k, 200 + m * 10);
    } else if (op < 69) {
        batch_add(b, "SET str:%d ex%d EX %d", k, m, 300 + m);
    } else if (op < 71) {
        batch_add(b, "PEXPIRE %s:%d %d", fam, k, 250000 + m);
    } else if (op < 73) {
        batch_add(b, "SETEX str:%d %d sx%d", k, 400 + m, m);
    } else if (op < 75) {
        batch_add(b, "GETEX str:%d EX %d", k, 500 + m);
    } else if (op < 78) {
        batch_add(b, "PERSIST %s:%d", fam, k);
    } else if (op < 81) {
        batch_add(b, "DEL %s:%d", fam, k);
    } else if (op < 84) {
        batch_add(b, "MSET str:%d a%d str:%d b%d", k, m, (k + 1) % MIX_KEYS,
                  m);
    } else if (op < 92) {
        batch_add(b, "GET str:%d", k);
    } else {
        batch_add(b, "HGETALL hash:%d", k);
    }
}

struct worker {
    pthread_t thread;
    int       id;
    int       port;          /* tandem's plain port */
    int       tls_port;      /* != 0: this client speaks TLS to tandem */
    long      sent;
    long      errors;
    long long wait_result;
    char      first_error[256];
    char      fatal[600];
};

static void
count_errors(struct worker *w, const redisReply *r)
{
    size_t i;

    if (r->type == REDIS_REPLY_ERROR) {
        if (w->errors++ == 0) {
            snprintf(w->first_error, sizeof(w->first_error), "%s", r->str);
        }
    } else if (r->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->elements; i++) {
            count_errors(w, r->element[i]);
        }
    }
}

/* Sends a batch and reads its replies, over hiredis or TLS. */
static int
worker_round(struct worker *w, redisContext *c, struct tlsc *t,
             struct batch *b, redisReply **last)
{
    int i;

    if (t != NULL) {
        if (tlsc_send(t, b->p, b->len) != 0) {
            snprintf(w->fatal, sizeof(w->fatal), "TLS send: %s", t->err);
            return -1;
        }
    } else if (redisAppendFormattedCommand(c, b->p, b->len) != REDIS_OK) {
        snprintf(w->fatal, sizeof(w->fatal), "append: %s", c->errstr);
        return -1;
    }
    for (i = 0; i < b->n; i++) {
        redisReply *r = NULL;

        if (t != NULL) {
            r = tlsc_reply(t);
        } else if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            r = NULL;
        }
        if (r == NULL) {
            snprintf(w->fatal, sizeof(w->fatal), "reply %ld: %s",
                     w->sent + i, t != NULL ? t->err : c->errstr);
            return -1;
        }
        count_errors(w, r);
        if (last != NULL && i == b->n - 1) {
            *last = r;
        } else {
            freeReplyObject(r);
        }
    }
    w->sent += b->n;
    b->len = 0;
    b->n = 0;
    return 0;
}

static void *
mix_worker(void *arg)
{
    struct worker *w = arg;
    unsigned int seed = (unsigned int)(w->id * 7919 + 17);
    struct timeval tv = {60, 0};
    redisContext *c = NULL;
    struct tlsc t;
    struct tlsc *tp = NULL;
    struct batch b;
    redisReply *last = NULL;

    memset(&b, 0, sizeof(b));
    if (w->tls_port != 0) {
        if (tlsc_open_timeout(&t, w->tls_port, NULL, NULL, 60) != 0) {
            snprintf(w->fatal, sizeof(w->fatal), "TLS connect: %s", t.err);
            return NULL;
        }
        tp = &t;
    } else {
        c = redisConnectWithTimeout("127.0.0.1", w->port, tv);
        if (c == NULL || c->err != 0) {
            snprintf(w->fatal, sizeof(w->fatal), "connect: %s",
                     c != NULL ? c->errstr : "oom");
            if (c != NULL) {
                redisFree(c);
            }
            return NULL;
        }
        redisSetTimeout(c, tv);
    }
    batch_add(&b, "SELECT %d", w->id % 3);
    while (w->fatal[0] == '\0' && w->sent < MIX_PER_CLIENT) {
        while (b.n < MIX_CHUNK) {
            if (rand_r(&seed) % 50 == 0) {
                int n = 2 + (int)(rand_r(&seed) % 3);
                int i;

                batch_add(&b, "MULTI");
                for (i = 0; i < n; i++) {
                    mix_command(&b, &seed);
                }
                batch_add(&b, "EXEC");
            } else {
                mix_command(&b, &seed);
            }
        }
        worker_round(w, c, tp, &b, NULL);
    }
    if (w->fatal[0] == '\0') {
        batch_add(&b, "WAIT 2 0");
        if (worker_round(w, c, tp, &b, &last) == 0) {
            if (last->type == REDIS_REPLY_INTEGER) {
                w->wait_result = last->integer;
            } else {
                snprintf(w->fatal, sizeof(w->fatal), "WAIT 2 0: type %d %s",
                         last->type, last->str != NULL ? last->str : "");
            }
            freeReplyObject(last);
        }
    }
    free(b.p);
    if (tp != NULL) {
        tlsc_close(tp);
    } else {
        redisFree(c);
    }
    return NULL;
}

/*
 * Primary and two replicas, all TLS-only for tandem (rediss://), each
 * with tls-auth-clients auth; tandem verifies them against the CA and,
 * when mtls, presents client.crt. tandem also listens on tls-port.
 */
static void
tls_fleet_start(const char *auth, int mtls, const char *const *extra)
{
    const char *args[40];
    char port[16];
    char tport[16];
    char report[2048];
    int n = 0;
    int i;

    backend_start(&F.primary, NULL, NULL, auth);
    F.nreplicas = 2;
    for (i = 0; i < F.nreplicas; i++) {
        backend_start(&F.replica[i], NULL, NULL, auth);
    }
    snprintf(port, sizeof(port), "%d", harness_free_port());
    snprintf(tport, sizeof(tport), "%d", harness_free_port());
    args[n++] = "--port";
    args[n++] = port;
    args[n++] = "--bind";
    args[n++] = "127.0.0.1";
    args[n++] = "--primary";
    args[n++] = F.primary.spec;
    for (i = 0; i < F.nreplicas; i++) {
        args[n++] = "--replica";
        args[n++] = F.replica[i].spec;
    }
    args[n++] = "--tls-port";
    args[n++] = tport;
    args[n++] = "--tls-cert-file";
    args[n++] = cert("server.crt");
    args[n++] = "--tls-key-file";
    args[n++] = cert("server.key");
    args[n++] = "--tls-ca-cert-file";
    args[n++] = cert("ca.crt");
    args[n++] = "--tls-auth-clients";
    args[n++] = "no";
    if (mtls) {
        args[n++] = "--tls-client-cert-file";
        args[n++] = cert("client.crt");
        args[n++] = "--tls-client-key-file";
        args[n++] = cert("client.key");
    }
    args[n++] = "--loglevel";
    args[n++] = "verbose";
    for (i = 0; extra != NULL && extra[i] != NULL && n < 38; i++) {
        args[n++] = extra[i];
    }
    args[n] = NULL;
    tandem_spawn(args, atoi(port), atoi(tport));
    wait_primary_up();
    if (replcheck_wait_synced(F.tandem.port, 15000, report,
                              sizeof(report)) != 0) {
        dump_logs();
        ck_abort_msg("TLS replicas not online within 15 s: %s", report);
    }
}

/*
 * Big values over a TLS client and the TLS replica links: rounds of
 * BIG_PER_ROUND values of BIG_SIZE random bytes in one pipeline, WAIT 2 0
 * after each. With backlog-size 16mb the ring wraps during the rounds, so
 * batches go out as two ring pieces, in many partial TLS writes; a
 * replica is never more than one round (8 MB) behind.
 */
#define BIG_ROUNDS 3
#define BIG_PER_ROUND 8
#define BIG_SIZE (1024 * 1024)

static void
big_values(void)
{
    struct tlsc t;
    struct batch b;
    char *v = malloc(BIG_SIZE);
    unsigned int seed = 4242;
    int round;
    int i;

    ck_assert(v != NULL);
    memset(&b, 0, sizeof(b));
    tlsc_must_open(&t, F.tandem_tls_port, NULL, NULL);
    for (round = 0; round < BIG_ROUNDS; round++) {
        redisReply *r;
        int k;

        for (i = 0; i < BIG_PER_ROUND; i++) {
            for (k = 0; k < BIG_SIZE; k++) {
                v[k] = (char)(rand_r(&seed) & 0xff);
            }
            batch_add(&b, "SET big:%d %b", round * BIG_PER_ROUND + i, v,
                      (size_t)BIG_SIZE);
        }
        batch_add(&b, "WAIT 2 0");
        ck_assert_int_eq(tlsc_send(&t, b.p, b.len), 0);
        for (i = 0; i < b.n; i++) {
            r = tlsc_reply(&t);
            ck_assert_msg(r != NULL, "big values, round %d, reply %d: %s",
                          round, i, t.err);
            if (i < b.n - 1) {
                ck_assert_msg(r->type == REDIS_REPLY_STATUS, "SET big: %s",
                              r->str != NULL ? r->str : "?");
            } else {
                ck_assert_msg(r->type == REDIS_REPLY_INTEGER &&
                                  r->integer == 2,
                              "big values, round %d: WAIT 2 0 -> %lld",
                              round, r->integer);
            }
            freeReplyObject(r);
        }
        b.len = 0;
        b.n = 0;
    }
    tlsc_close(&t);
    free(b.p);
    free(v);
}

static void
run_replication(const char *test, const char *auth, int mtls)
{
    static struct worker w[MIX_CLIENTS];
    long total = 0;
    long errors = 0;
    long keys = 0;
    long long t0;
    long long el;
    long long offset;
    int links[3];
    int i;
    static const char *const backlog_args[] = {"--backlog-size", "16mb",
                                               NULL};

    tls_fleet_start(auth, mtls, backlog_args);
    t0 = replcheck_now_ms();
    for (i = 0; i < MIX_CLIENTS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].id = i;
        w[i].port = F.tandem.port;
        w[i].tls_port = i < MIX_TLS_CLIENTS ? F.tandem_tls_port : 0;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, mix_worker,
                                        &w[i]), 0);
    }
    for (i = 0; i < MIX_CLIENTS; i++) {
        pthread_join(w[i].thread, NULL);
    }
    el = replcheck_now_ms() - t0;
    for (i = 0; i < MIX_CLIENTS; i++) {
        if (w[i].fatal[0] != '\0') {
            dump_logs();
        }
        ck_assert_msg(w[i].fatal[0] == '\0', "client %d%s: %s", i,
                      w[i].tls_port != 0 ? " (TLS)" : "", w[i].fatal);
        ck_assert_msg(w[i].wait_result == 2, "client %d: WAIT 2 0 returned "
                      "%lld", i, w[i].wait_result);
        ck_assert_msg(w[i].errors == 0, "client %d: %ld error replies, "
                      "first: %s", i, w[i].errors, w[i].first_error);
        total += w[i].sent;
        errors += w[i].errors;
    }
    ck_assert_msg(total >= 100000, "only %ld commands sent", total);
    big_values();
    for (i = 0; i < F.nreplicas; i++) {
        wait_replica_synced(i, 15000);
    }
    for (i = 0; i < F.nreplicas; i++) {
        keys = compare_one(test, i);
        ck_assert_msg(keys > 1000, "only %ld keys compared", keys);
    }
    /* tandem's links: the pipe (and its control connections) on the
     * primary; the stream link and the read link on each replica. */
    offset = replcheck_stream_offset(F.tandem.port);
    ck_assert_msg(offset > 16LL * 1024 * 1024, "the stream (%lld bytes) "
                  "did not wrap the 16 MB backlog", offset);
    for (i = 0; i < F.nreplicas; i++) {
        char line[2048];

        ck_assert_int_eq(replcheck_slave_line(F.tandem.port,
                                              F.replica[i].tls_port, line,
                                              sizeof(line)), 0);
        ck_assert_msg(replcheck_line_number(line, "seeds", -1) == 0,
                      "replica %s was re-seeded: %s", F.replica[i].spec,
                      line);
    }
    links[0] = assert_links_on_tls(&F.primary, 1, "primary");
    for (i = 0; i < F.nreplicas; i++) {
        links[i + 1] = assert_links_on_tls(&F.replica[i], 2, "replica");
    }
    printf("tls %s: %ld commands from %d clients (%d over TLS, pipelined "
           "by %d) in %lld ms, %ld error replies, WAIT 2 0 = 2; then %d x 1 MB "
           "values over TLS; stream %lld bytes through a 16 MB backlog; "
           "%ld keys compared on each of 2 rediss:// replicas, 0 "
           "differences; tandem's connections on the backends' TLS ports: "
           "primary %d, replicas %d and %d (backends tls-auth-clients %s)\n",
           test, total, MIX_CLIENTS, MIX_TLS_CLIENTS, MIX_CHUNK, el, errors,
           BIG_ROUNDS * BIG_PER_ROUND, offset, keys, links[0], links[1],
           links[2], auth);
    fflush(stdout);
}

START_TEST(test_replication)
{
    run_replication("replication", "no", 0);
}
END_TEST

START_TEST(test_replication_mtls)
{
    run_replication("replication_mtls", "yes", 1);
    /* The backends did require a certificate: without one, refused. */
    {
        char why[600];
        struct tlsc t;
        int ok = 0;

        if (tlsc_open_timeout(&t, F.primary.tls_port, NULL, NULL, 5) == 0) {
            redisReply *r = tlsc_cmd(&t, "PING");

            ok = r != NULL && r->type == REDIS_REPLY_STATUS;
            snprintf(why, sizeof(why), "%s", r == NULL ? t.err : r->str);
            if (r != NULL) {
                freeReplyObject(r);
            }
            tlsc_close(&t);
        }
        ck_assert_msg(!ok, "the primary answered a client without a "
                      "certificate: the test proves nothing");
    }
}
END_TEST

/* ---- e. seeding and reads over TLS --------------------------------- */

#define SEED_KEYS 6000

static void
load_primary(int port)
{
    redisContext *c = harness_connect(port);
    int db;
    int i;

    for (db = 0; db < 2; db++) {
        redisReply *r = harness_cmd(c, "SELECT %d", db * 4);

        freeReplyObject(r);
        for (i = 0; i < SEED_KEYS / 2; i++) {
            switch (i % 5) {
            case 0:
                redisAppendCommand(c, "SET seed:%d value-%d-%d", i, db, i);
                break;
            case 1:
                redisAppendCommand(c, "HSET seedh:%d a %d b %d", i, i, db);
                break;
            case 2:
                redisAppendCommand(c, "RPUSH seedl:%d x y %d", i, i);
                break;
            case 3:
                redisAppendCommand(c, "SADD seeds:%d m1 m2 m%d", i, i);
                break;
            default:
                redisAppendCommand(c, "SET seed:%d ttl-%d EX %d", i, i,
                                   1000 + i);
                break;
            }
        }
        for (i = 0; i < SEED_KEYS / 2; i++) {
            redisReply *rr = NULL;

            ck_assert_int_eq(redisGetReply(c, (void **)&rr), REDIS_OK);
            ck_assert(rr->type != REDIS_REPLY_ERROR);
            freeReplyObject(rr);
        }
    }
    /* A few big values: the seed writes them in many partial TLS
     * writes. */
    {
        char *v = malloc(BIG_SIZE);
        unsigned int seed = 99;
        redisReply *rr;
        int k;

        ck_assert(v != NULL);
        for (i = 0; i < 4; i++) {
            for (k = 0; k < BIG_SIZE; k++) {
                v[k] = (char)(rand_r(&seed) & 0xff);
            }
            rr = harness_cmd(c, "SET seedbig:%d %b", i, v, (size_t)BIG_SIZE);
            ck_assert(rr != NULL && rr->type == REDIS_REPLY_STATUS);
            freeReplyObject(rr);
        }
        free(v);
    }
    redisFree(c);
}

static long long
stat_plain(const char *field)
{
    redisContext *c = harness_connect(F.tandem.port);
    const char *v = harness_info_field(c, "stats", field);
    long long n = v != NULL ? atoll(v) : -1;

    redisFree(c);
    ck_assert_msg(n >= 0, "INFO stats has no %s", field);
    return n;
}

START_TEST(test_seed_and_reads)
{
    struct replcheck_seeded s;
    struct tlsc t;
    long long served0;
    long long served1;
    long long reads_before[2];
    char line[2048];
    redisContext *rc;
    redisReply *r;
    int i;

    /* The primary holds data before tandem starts; replica 0 holds
     * foreign keys and a stamp from another stream; replica 1 is empty.
     * Every backend requires a client certificate: tandem has no
     * tls-client-cert-file and presents its tls-cert-file (server.crt,
     * extendedKeyUsage serverAuth,clientAuth), as Redis does. */
    backend_start(&F.primary, NULL, NULL, "yes");
    F.nreplicas = 2;
    for (i = 0; i < F.nreplicas; i++) {
        backend_start(&F.replica[i], NULL, NULL, "yes");
    }
    load_primary(F.primary.p.port);
    rc = harness_connect(F.replica[0].p.port);
    for (i = 0; i < 300; i++) {
        r = harness_cmd(rc, "SET foreign:%d x", i);
        freeReplyObject(r);
    }
    r = harness_cmd(rc, "SET seed:0 foreign-value");
    freeReplyObject(r);
    r = harness_cmd(rc, "SELECT 15");
    freeReplyObject(r);
    r = harness_cmd(rc, "SET tandem:stamp "
                        "0123456789abcdef0123456789abcdef01234567:777");
    freeReplyObject(r);
    redisFree(rc);

    {
        const char *args[32];
        char port[16];
        char tport[16];
        int n = 0;

        snprintf(port, sizeof(port), "%d", harness_free_port());
        snprintf(tport, sizeof(tport), "%d", harness_free_port());
        args[n++] = "--port";
        args[n++] = port;
        args[n++] = "--bind";
        args[n++] = "127.0.0.1";
        args[n++] = "--primary";
        args[n++] = F.primary.spec;
        for (i = 0; i < F.nreplicas; i++) {
            args[n++] = "--replica";
            args[n++] = F.replica[i].spec;
        }
        args[n++] = "--tls-port";
        args[n++] = tport;
        args[n++] = "--tls-cert-file";
        args[n++] = cert("server.crt");
        args[n++] = "--tls-key-file";
        args[n++] = cert("server.key");
        args[n++] = "--tls-ca-cert-file";
        args[n++] = cert("ca.crt");
        args[n++] = "--tls-auth-clients";
        args[n++] = "no";
        args[n++] = "--read-policy";
        args[n++] = "replica";
        args[n++] = "--loglevel";
        args[n++] = "verbose";
        args[n] = NULL;
        tandem_spawn(args, atoi(port), atoi(tport));
    }
    wait_primary_up();
    for (i = 0; i < F.nreplicas; i++) {
        wait_replica_synced(i, 30000);
        ck_assert_msg(replcheck_seeded_lines(F.tandem.log, F.replica[i].spec,
                                             &s) >= 1,
                      "no \"Replica %s seeded\" line", F.replica[i].spec);
        ck_assert_msg(s.keys >= SEED_KEYS, "replica %s seeded with %lld "
                      "keys", F.replica[i].spec, s.keys);
    }
    for (i = 0; i < F.nreplicas; i++) {
        compare_one("seed", i);
    }
    rc = harness_connect(F.replica[0].p.port);
    r = harness_cmd(rc, "EXISTS foreign:0 foreign:299");
    ck_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    redisFree(rc);

    /* Reads from a TLS client that has not written: the replicas serve
     * them (over their TLS read links), with the right values. */
    for (i = 0; i < F.nreplicas; i++) {
        ck_assert_int_eq(replcheck_slave_line(F.tandem.port,
                                              F.replica[i].tls_port, line,
                                              sizeof(line)), 0);
        reads_before[i] = (long long)replcheck_line_number(line, "reads", 0);
    }
    served0 = stat_plain("reads_served_by_replicas");
    tlsc_must_open(&t, F.tandem_tls_port, NULL, NULL);
    for (i = 0; i < 2000; i += 5) {
        char want[64];

        snprintf(want, sizeof(want), "value-0-%d", i);
        tlsc_expect(&t, want, "GET seed:%d", i);
    }
    r = tlsc_cmd(&t, "HGET seedh:1 a");
    ck_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "1");
    freeReplyObject(r);
    served1 = stat_plain("reads_served_by_replicas");
    printf("tls seed_and_reads: reads_served_by_replicas %lld -> %lld for "
           "401 reads over TLS\n", served0, served1);
    fflush(stdout);
    ck_assert_msg(served1 - served0 >= 300, "only %lld of 401 reads served "
                  "by the TLS replicas", served1 - served0);
    {
        long long more = 0;

        for (i = 0; i < F.nreplicas; i++) {
            ck_assert_int_eq(replcheck_slave_line(F.tandem.port,
                                                  F.replica[i].tls_port,
                                                  line, sizeof(line)), 0);
            more += (long long)replcheck_line_number(line, "reads", 0) -
                    reads_before[i];
        }
        ck_assert_msg(more >= 300, "the replicas' reads= grew by %lld", more);
    }
    /* Own writes are read back (session consistency) through TLS. */
    for (i = 0; i < 50; i++) {
        char v[32];

        snprintf(v, sizeof(v), "mine-%d", i);
        tlsc_expect(&t, "OK", "SET seed:%d %s", i * 5, v);
        tlsc_expect(&t, v, "GET seed:%d", i * 5);
    }
    r = tlsc_cmd(&t, "WAIT 2 5000");
    ck_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 2);
    freeReplyObject(r);
    tlsc_close(&t);
    for (i = 0; i < F.nreplicas; i++) {
        wait_replica_synced(i, 10000);
        compare_one("seed_and_reads", i);
    }
    assert_links_on_tls(&F.primary, 1, "primary");
    for (i = 0; i < F.nreplicas; i++) {
        assert_links_on_tls(&F.replica[i], 2, "replica");
    }
}
END_TEST

/* ---- f. backend certificate verification ---------------------------- */

START_TEST(test_backend_verify)
{
    static const char *const why_want[] = {
        "certificate verify failed", "certificate verify failed",
        "certificate required"};
    const char *args[32];
    char line[2048];
    char state[64];
    redisContext *c;
    redisReply *r;
    int n = 0;
    int i;

    plain_backend_start(&F.primary);
    /* 0: another CA's certificate; 1: the right CA, the wrong name;
     * 2: requires a client certificate (tandem has none); 3: good. */
    F.nreplicas = 4;
    backend_start(&F.replica[0], cert("other-server.crt"),
                  cert("other-server.key"), "no");
    backend_start(&F.replica[1], cert("wrongname.crt"), cert("wrongname.key"),
                  "no");
    backend_start(&F.replica[2], NULL, NULL, "yes");
    backend_start(&F.replica[3], NULL, NULL, "no");
    for (i = 0; i < F.nreplicas; i++) {
        args[n++] = "--replica";
        args[n++] = F.replica[i].spec;
    }
    args[n++] = "--tls-ca-cert-file";
    args[n++] = cert("ca.crt");
    args[n] = NULL;
    ck_assert_int_eq(harness_start_tandem(&F.tandem, F.primary.p.port, args,
                                          1), 0);
    wait_replica_synced(3, 15000);

    c = harness_connect(F.tandem.port);
    r = harness_cmd(c, "SET verify:1 x");
    freeReplyObject(r);
    r = harness_cmd(c, "WAIT 1 5000");
    ck_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    /* Several reconnection rounds (backoff 100, 200, 400 ms ...). */
    replcheck_sleep_ms(1500);
    r = harness_cmd(c, "WAIT 2 300");
    ck_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    redisFree(c);

    for (i = 0; i < 3; i++) {
        int lines;

        ck_assert_int_eq(replcheck_slave_line(F.tandem.port,
                                              F.replica[i].tls_port, line,
                                              sizeof(line)), 0);
        replcheck_line_field(line, "state", state, sizeof(state));
        ck_assert_msg(strcmp(state, "online") != 0, "replica %s is online: "
                      "%s", F.replica[i].spec, line);
        lines = log_lines_with(F.replica[i].spec, why_want[i]);
        if (i == 2) {
            /* TLS 1.3: tandem's side of the handshake completes before
             * the server checks tandem's (missing) certificate; the
             * server's alert is read, or lost to a reset when tandem
             * wrote first. */
            lines += log_lines_with(F.replica[i].spec,
                                    "TLS write: Connection reset by peer");
        }
        if (lines < 1) {
            harness_dump_log(&F.tandem);
        }
        ck_assert_msg(lines >= 1, "no log line for %s saying \"%s\"",
                      F.replica[i].spec, why_want[i]);
        printf("tls backend_verify: %s: %s\n", F.replica[i].spec, line);
        fflush(stdout);
        /* Nothing of the stream reached it. */
        c = harness_connect(F.replica[i].p.port);
        r = harness_cmd(c, "DBSIZE");
        ck_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
        ck_assert_int_eq(r->integer, 0);
        freeReplyObject(r);
        redisFree(c);
    }
    ck_assert_int_ge(log_lines_with(F.replica[0].spec,
                                    "unable to get local issuer"), 1);
    ck_assert_int_ge(log_lines_with(F.replica[1].spec, "mismatch"), 1);
    compare_one("backend_verify", 3);
    assert_links_on_tls(&F.replica[3], 2, "replica");

    /* A primary whose certificate does not verify: the pipe never comes
     * up, and clients are told why. */
    {
        struct proc t2;
        char port[16];
        const char *a2[12];
        redisContext *c2;
        long long deadline = replcheck_now_ms() + 5000;
        int ok = 0;

        n = 0;
        snprintf(port, sizeof(port), "%d", harness_free_port());
        a2[n++] = "--port";
        a2[n++] = port;
        a2[n++] = "--bind";
        a2[n++] = "127.0.0.1";
        a2[n++] = "--primary";
        a2[n++] = F.replica[0].spec;
        a2[n++] = "--tls-ca-cert-file";
        a2[n++] = cert("ca.crt");
        a2[n] = NULL;
        ck_assert_int_eq(harness_spawn_tandem(&t2, a2), 0);
        t2.port = atoi(port);
        if (harness_wait_ready(&t2, 10000) != 0) {
            harness_dump_log(&t2);
            harness_stop(&t2);
            ck_abort_msg("tandem with an unverifiable primary did not "
                         "answer PING");
        }
        c2 = harness_connect(t2.port);
        while (!ok && replcheck_now_ms() < deadline) {
            r = harness_cmd(c2, "SET k v");
            ck_assert(r != NULL);
            ok = r->type == REDIS_REPLY_ERROR &&
                 strstr(r->str, "certificate verify failed") != NULL;
            if (!ok) {
                ck_assert_msg(r->type == REDIS_REPLY_ERROR, "SET through "
                              "an unverifiable primary: type %d", r->type);
                replcheck_sleep_ms(50);
            } else {
                printf("tls backend_verify: primary %s: -%s\n",
                       F.replica[0].spec, r->str);
                fflush(stdout);
            }
            freeReplyObject(r);
        }
        redisFree(c2);
        if (!ok) {
            harness_dump_log(&t2);
        }
        harness_stop(&t2);
        ck_assert_msg(ok, "no error saying \"certificate verify failed\" "
                      "for an unverifiable primary");
    }
}
END_TEST

/* One case per test, so that CK_RUN_CASE=<name> runs one alone. */
static void
add_case(Suite *s, const char *name, const TTest *test)
{
    harness_add_case(s, name, test, setup, teardown, 120);
}

int
main(void)
{
    Suite *s = suite_create("tls");
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN);
    if (make_certs() != 0) {
        fprintf(stderr, "could not make the test certificates with the "
                "openssl command\n");
        remove_tree(certs);
        return EXIT_FAILURE;
    }
    add_case(s, "clients", test_clients);
    add_case(s, "mtls_yes", test_mtls_yes);
    add_case(s, "mtls_optional", test_mtls_optional);
    add_case(s, "reload", test_reload);
    add_case(s, "replication", test_replication);
    add_case(s, "replication_mtls", test_replication_mtls);
    add_case(s, "seed_and_reads", test_seed_and_reads);
    add_case(s, "backend_verify", test_backend_verify);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tree(certs);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

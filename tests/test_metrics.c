/*
 * test_metrics.c -- the Prometheus endpoint (DESIGN section 7, metrics.c).
 *
 * Unit cases render the text in this process (libtandem, no server) and
 * feed metrics_answer() requests: every family has one HELP and one TYPE
 * line, no series twice, histogram buckets cumulative, and each path and
 * method gets its status.
 *
 * Integration cases start a primary, one replica and the real tandem with
 * --metrics-port on loopback, scrape /metrics over a raw socket as
 * Prometheus would, and assert what an SRE would read: counters move by
 * the commands sent, the replica is online with no lag once synced, the
 * latency histogram counts every command sent, other paths get 404, an
 * over-long request is cut, and a slow or idle metrics client never
 * holds up the proxy. Processes are stopped by PID only.
 */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "harness.h"
#include "metrics.h"
#include "replcheck.h"
#include "util.h"

/* ---- the exposition format ------------------------------------------ */

struct family {
    char name[128];
    char type[16];
    int  help;
    int  typed;
    int  closed;        /* its samples ended: no more may follow */
};

struct inf_count {
    char     key[256];  /* histogram name + labels without le */
    double   value;
};

static int
name_char(char ch, int first)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '_' || ch == ':' || (!first && ch >= '0' && ch <= '9');
}

static struct family *
find_family(struct family *fams, int n, const char *name, size_t len)
{
    int i;

    for (i = 0; i < n; i++) {
        if (strlen(fams[i].name) == len &&
            memcmp(fams[i].name, name, len) == 0) {
            return &fams[i];
        }
    }
    return NULL;
}

/* The family a sample belongs to: its own name, or for a histogram's
 * _bucket, _sum and _count lines the histogram's. */
static struct family *
sample_family(struct family *fams, int n, const char *name, size_t len)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    struct family *f = find_family(fams, n, name, len);
    size_t i;

    if (f != NULL) {
        return f;
    }
    for (i = 0; i < 3; i++) {
        size_t sl = strlen(suffixes[i]);

        if (len > sl && memcmp(name + len - sl, suffixes[i], sl) == 0) {
            f = find_family(fams, n, name, len - sl);
            if (f != NULL && strcmp(f->type, "histogram") == 0) {
                return f;
            }
        }
    }
    return NULL;
}

/*
 * Checks text against the exposition format 0.0.4 as tandem writes it:
 * each family has exactly one # HELP and one # TYPE line before its
 * samples, its samples are contiguous, names are valid, counters end in
 * _total, no series (name and labels) appears twice, values parse, each
 * histogram's buckets are cumulative and its +Inf bucket equals its
 * _count. Returns the number of samples, or -1 with why in err.
 */
static int
check_exposition(const char *text, char *err, size_t errlen)
{
    static struct family fams[512];
    static char series[4096][256];
    static struct inf_count infs[64];
    struct family *current = NULL;
    char last_bucket_key[256] = "";
    double last_bucket = 0;
    int nfams = 0;
    int nseries = 0;
    int ninfs = 0;
    const char *line = text;
    int lineno = 0;

    if (text[0] == '\0' || text[strlen(text) - 1] != '\n') {
        snprintf(err, errlen, "the text does not end with a newline");
        return -1;
    }
    while (*line != '\0') {
        const char *eol = strchr(line, '\n');
        size_t len = (size_t)(eol - line);
        char buf[1024];
        char name[128];
        char type[32];

        lineno++;
        snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
        line = eol + 1;
        if (len == 0) {
            continue;
        }
        if (strncmp(buf, "# HELP ", 7) == 0 ||
            strncmp(buf, "# TYPE ", 7) == 0) {
            int is_help = buf[2] == 'H';
            struct family *f;

            if (sscanf(buf + 7, "%127s %31s", name, type) < 1) {
                snprintf(err, errlen, "line %d: bad comment: %.200s", lineno, buf);
                return -1;
            }
            f = find_family(fams, nfams, name, strlen(name));
            if (f == NULL) {
                if (nfams == 512) {
                    snprintf(err, errlen, "too many families");
                    return -1;
                }
                f = &fams[nfams++];
                memset(f, 0, sizeof(*f));
                snprintf(f->name, sizeof(f->name), "%s", name);
            }
            if ((is_help && f->help) || (!is_help && f->typed) || f->closed) {
                snprintf(err, errlen, "line %d: second %s for %s", lineno,
                         is_help ? "HELP" : "TYPE", name);
                return -1;
            }
            if (is_help) {
                f->help = 1;
            } else {
                if (strcmp(type, "counter") != 0 &&
                    strcmp(type, "gauge") != 0 &&
                    strcmp(type, "histogram") != 0) {
                    snprintf(err, errlen, "line %d: type %s", lineno, type);
                    return -1;
                }
                snprintf(f->type, sizeof(f->type), "%.15s", type);
                f->typed = 1;
            }
            continue;
        }
        if (buf[0] == '#') {
            continue;
        }
        {
            size_t nl = 0;
            const char *labels;
            const char *space;
            struct family *f;
            char *end;
            double v;
            int i;

            while (nl < len && name_char(buf[nl], nl == 0)) {
                nl++;
            }
            if (nl == 0 || (buf[nl] != '{' && buf[nl] != ' ')) {
                snprintf(err, errlen, "line %d: bad name: %.200s", lineno, buf);
                return -1;
            }
            f = sample_family(fams, nfams, buf, nl);
            if (f == NULL || !f->help || !f->typed) {
                snprintf(err, errlen, "line %d: sample without HELP and "
                         "TYPE: %.200s", lineno, buf);
                return -1;
            }
            if (f != current) {
                if (current != NULL) {
                    current->closed = 1;
                }
                if (f->closed) {
                    snprintf(err, errlen, "line %d: %s's samples are split",
                             lineno, f->name);
                    return -1;
                }
                current = f;
            }
            if (strcmp(f->type, "counter") == 0 &&
                (nl < 6 || memcmp(buf + nl - 6, "_total", 6) != 0)) {
                snprintf(err, errlen, "line %d: counter %.*s lacks _total",
                         lineno, (int)nl, buf);
                return -1;
            }
            labels = buf + nl;
            space = labels[0] == '{' ? strstr(labels, "} ") : labels;
            if (space == NULL) {
                snprintf(err, errlen, "line %d: bad labels: %.200s", lineno, buf);
                return -1;
            }
            if (labels[0] == '{') {
                space++;
            }
            /* The series: everything before the value. */
            for (i = 0; i < nseries; i++) {
                if (strlen(series[i]) == (size_t)(space - buf) &&
                    memcmp(series[i], buf, (size_t)(space - buf)) == 0) {
                    snprintf(err, errlen, "line %d: series twice: %s",
                             lineno, series[i]);
                    return -1;
                }
            }
            if (nseries == 4096) {
                snprintf(err, errlen, "too many series");
                return -1;
            }
            snprintf(series[nseries++], sizeof(series[0]), "%.*s",
                     (int)(space - buf), buf);
            v = strtod(space + 1, &end);
            if (end == space + 1 || *end != '\0') {
                snprintf(err, errlen, "line %d: bad value: %.200s", lineno, buf);
                return -1;
            }
            if (strcmp(f->type, "histogram") == 0) {
                char key[256];
                const char *le = strstr(buf, "le=\"");
                const char *sfx = buf + strlen(f->name);

                if (strncmp(sfx, "_bucket", 7) == 0) {
                    if (le == NULL) {
                        snprintf(err, errlen, "line %d: bucket without le",
                                 lineno);
                        return -1;
                    }
                    snprintf(key, sizeof(key), "%.*s", (int)(le - buf), buf);
                    if (strcmp(key, last_bucket_key) == 0 && v < last_bucket) {
                        snprintf(err, errlen, "line %d: buckets not "
                                 "cumulative", lineno);
                        return -1;
                    }
                    snprintf(last_bucket_key, sizeof(last_bucket_key), "%s",
                             key);
                    last_bucket = v;
                    if (strncmp(le, "le=\"+Inf\"", 9) == 0 && ninfs < 64) {
                        /* "name_bucket{route="x"," -> "{route="x"" */
                        snprintf(infs[ninfs].key, sizeof(infs[0].key),
                                 "%.*s", (int)(le - sfx - 8), sfx + 7);
                        infs[ninfs++].value = v;
                    }
                } else if (strncmp(sfx, "_count", 6) == 0) {
                    int found = 0;

                    snprintf(key, sizeof(key), "%.*s",
                             (int)(space - sfx - 7), sfx + 6);
                    for (i = 0; i < ninfs; i++) {
                        if (strcmp(infs[i].key, key) == 0 &&
                            infs[i].value == v) {
                            found = 1;
                        }
                    }
                    if (!found) {
                        snprintf(err, errlen, "line %d: _count differs "
                                 "from the +Inf bucket: %.200s", lineno, buf);
                        return -1;
                    }
                }
            }
        }
    }
    return nseries;
}

/* The value of the series (name and labels exactly as written) in text,
 * or NAN when absent. */
static double
metric(const char *text, const char *series)
{
    size_t len = strlen(series);
    const char *p = text;

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[len] == ' ') {
            return strtod(p + len + 1, NULL);
        }
        p += len;
    }
    return NAN;
}

/* ---- unit: the text and the HTTP answers ----------------------------- */

START_TEST(test_text_has_help_and_type_and_no_duplicate_series)
{
    struct buf b;
    char err[512] = "";
    int n;

    buf_init(&b);
    metrics_clock_reset();
    metrics_observe(METRICS_ROUTE_PRIMARY, td_nstime() - 3000000);
    metrics_render(&b);
    buf_append(&b, "", 1);
    n = check_exposition(buf_head(&b), err, sizeof(err));
    ck_assert_msg(n > 0, "%s\n%s", err, buf_head(&b));
    ck_assert_msg(strstr(buf_head(&b), "# TYPE tandem_commands_processed_"
                                       "total counter\n") != NULL,
                  "no stats.h counter:\n%s", buf_head(&b));
    /* 3 ms: above the 2.5 ms bound, within the 5 ms one. */
    ck_assert(metric(buf_head(&b), "tandem_command_duration_seconds_bucket"
                     "{route=\"primary\",le=\"0.0025\"}") == 0);
    ck_assert(metric(buf_head(&b), "tandem_command_duration_seconds_bucket"
                     "{route=\"primary\",le=\"0.005\"}") == 1);
    ck_assert(metric(buf_head(&b), "tandem_command_duration_seconds_count"
                     "{route=\"primary\"}") == 1);
    ck_assert(metric(buf_head(&b), "tandem_command_duration_seconds_sum"
                     "{route=\"primary\"}") >= 0.003);
    buf_free(&b);
}
END_TEST

/* Every family the endpoint writes is named in tandem(8), METRICS. */
START_TEST(test_every_family_is_in_the_man_page)
{
    const char *dir = getenv("TANDEM_SRCDIR");
    char path[512];
    static char man[512 * 1024];
    struct buf b;
    const char *p;
    FILE *f;
    size_t n;
    int checked = 0;

    snprintf(path, sizeof(path), "%s/man/tandem.8", dir != NULL ? dir : "..");
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    n = fread(man, 1, sizeof(man) - 1, f);
    man[n] = '\0';
    fclose(f);
    buf_init(&b);
    metrics_render(&b);
    buf_append(&b, "", 1);
    for (p = buf_head(&b); (p = strstr(p, "# TYPE ")) != NULL; p++) {
        char name[128];
        char want[140];

        ck_assert_int_eq(sscanf(p + 7, "%127s", name), 1);
        snprintf(want, sizeof(want), "%s", name);
        ck_assert_msg(strstr(man, want) != NULL,
                      "%s does not name %s (add it to METRICS)", path, name);
        checked++;
    }
    ck_assert_int_ge(checked, 40);
    buf_free(&b);
}
END_TEST

START_TEST(test_checker_rejects_what_it_should)
{
    char err[256];

    ck_assert_int_eq(check_exposition("x 1\n", err, sizeof(err)), -1);
    ck_assert_int_eq(check_exposition("# HELP a_total h\n# TYPE a_total "
                                      "counter\na_total 1\na_total 2\n",
                                      err, sizeof(err)), -1);
    ck_assert_int_eq(check_exposition("# HELP a h\n# TYPE a counter\na 1\n",
                                      err, sizeof(err)), -1);
    ck_assert_int_eq(check_exposition("# HELP a h\n# TYPE a gauge\na 1\n"
                                      "# HELP b h\n# TYPE b gauge\nb 1\n"
                                      "a{x=\"1\"} 2\n", err, sizeof(err)),
                     -1);
    ck_assert_int_eq(check_exposition("# HELP a h\n# TYPE a gauge\na 1\n",
                                      err, sizeof(err)), 1);
}
END_TEST

/* metrics_answer's status for req (with at most max bytes), its
 * response in out. */
static int
answer(const char *req, size_t max, struct buf *out)
{
    buf_clear(out);
    return metrics_answer(req, strlen(req), max, out);
}

START_TEST(test_answers_paths_methods_and_limits)
{
    struct buf out;
    char big[8192];

    buf_init(&out);
    ck_assert_int_eq(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 8192,
                            &out), 200);
    buf_append(&out, "", 1);
    ck_assert_ptr_nonnull(strstr(buf_head(&out), "Content-Type: text/plain; "
                                                 "version=0.0.4"));
    ck_assert_ptr_nonnull(strstr(buf_head(&out), "Connection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(buf_head(&out), "\r\n\r\n# HELP tandem_"));
    ck_assert_int_eq(answer("GET /metrics?name[]=x HTTP/1.0\n\n", 8192, &out),
                     200);
    /* HEAD: the header only. */
    ck_assert_int_eq(answer("HEAD /metrics HTTP/1.1\r\n\r\n", 8192, &out),
                     200);
    buf_append(&out, "", 1);
    ck_assert_ptr_null(strstr(buf_head(&out), "# HELP"));
    ck_assert_int_eq(answer("GET / HTTP/1.1\r\n\r\n", 8192, &out), 200);
    ck_assert_int_eq(answer("GET /metricsx HTTP/1.1\r\n\r\n", 8192, &out),
                     404);
    ck_assert_int_eq(answer("GET /Metrics HTTP/1.1\r\n\r\n", 8192, &out),
                     404);
    ck_assert_int_eq(answer("POST /metrics HTTP/1.1\r\n\r\n", 8192, &out),
                     405);
    buf_append(&out, "", 1);
    ck_assert_ptr_nonnull(strstr(buf_head(&out), "Allow: GET, HEAD\r\n"));
    ck_assert_int_eq(answer("GET /metrics\r\n\r\n", 8192, &out), 400);
    ck_assert_int_eq(answer("hello\r\n\r\n", 8192, &out), 400);
    ck_assert_int_eq(answer("GET /metrics HTTP/2.0\r\n\r\n", 8192, &out),
                     400);
    /* Not complete yet; complete only within the limit. */
    ck_assert_int_eq(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n", 8192,
                            &out), 0);
    ck_assert_int_eq(out.len, 0);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(answer(big, sizeof(big) - 1, &out), 431);
    buf_free(&out);
}
END_TEST

/* ---- integration ------------------------------------------------------ */

static struct fleet F;

/* Tandem's metrics endpoint in F. */
static struct {
    int  port;                          /* metrics-port */
    char label[64];                     /* replica="127.0.0.1:port" */
} M;

/* A primary, one replica online, and tandem with a metrics port. */
static void
metrics_fleet_start(void)
{
    char port[16];
    const char *args[3];

    fleet_start_servers(&F, 1, NULL);
    snprintf(M.label, sizeof(M.label), "replica=\"%.50s\"", F.spec[0]);
    M.port = harness_free_port();
    snprintf(port, sizeof(port), "%d", M.port);
    args[0] = "--metrics-port";
    args[1] = port;
    args[2] = NULL;
    fleet_start_tandem(&F, args, FLEET_ONLINE_MS);
}

static void
teardown(void)
{
    fleet_teardown(&F);
}

#define RESPONSE_MAX (1024 * 1024)

/* Sends req to the metrics port and reads the response until the server
 * closes (5 s at most). Returns the response (static) and its status
 * code in *status (0: none); *closed says whether the server closed. */
static const char *
http(const char *req, int *status, int *closed)
{
    static char resp[RESPONSE_MAX];
    int fd = harness_raw_connect(M.port);
    int c = 0;

    ck_assert_int_eq(harness_send_all(fd, req, strlen(req)), 0);
    harness_read_until_close(fd, resp, sizeof(resp), 5000, &c);
    close(fd);
    *status = 0;
    sscanf(resp, "HTTP/1.%*d %d", status);
    if (closed != NULL) {
        *closed = c;
    }
    return resp;
}

/* GET /metrics: the body (static, overwritten by the next scrape), after
 * checking the status, the header and the format. */
static const char *
scrape(void)
{
    int status;
    int closed;
    const char *resp = http("GET /metrics HTTP/1.1\r\nHost: tandem\r\n"
                            "Accept: text/plain\r\n\r\n", &status, &closed);
    const char *body = strstr(resp, "\r\n\r\n");
    char err[512];
    long long clen = -1;
    const char *cl = strstr(resp, "Content-Length: ");

    ck_assert_msg(status == 200 && closed && body != NULL,
                  "scrape: status %d, closed %d: %.200s", status, closed,
                  resp);
    body += 4;
    if (cl != NULL && cl < body) {
        clen = atoll(cl + 16);
    }
    ck_assert_msg(clen == (long long)strlen(body), "Content-Length %lld, "
                  "body %zu bytes", clen, strlen(body));
    ck_assert_msg(check_exposition(body, err, sizeof(err)) > 0, "%s", err);
    return body;
}

/* The value of name{<replica label>} in the body. */
static double
replica_metric(const char *body, const char *name)
{
    char series[256];

    snprintf(series, sizeof(series), "%s{%s}", name, M.label);
    return metric(body, series);
}

static double
timed_commands(const char *body)
{
    return metric(body, "tandem_command_duration_seconds_count"
                        "{route=\"primary\"}") +
           metric(body, "tandem_command_duration_seconds_count"
                        "{route=\"replica\"}");
}

START_TEST(test_scrape_reports_commands_replica_and_latencies)
{
    enum { NWRITES = 20, NREADS = 30 };
    redisContext *c;
    const char *body;
    char series[256];
    double processed;
    double timed;
    double stream;
    double reads;
    double offset = 0;
    long long deadline;
    int i;

    metrics_fleet_start();
    c = harness_connect(F.tandem.port);
    body = scrape();
    processed = metric(body, "tandem_commands_processed_total");
    timed = timed_commands(body);
    stream = metric(body, "tandem_stream_commands_total");
    reads = metric(body, "tandem_reads_served_by_primary_total") +
            metric(body, "tandem_reads_served_by_replicas_total");
    ck_assert(!isnan(processed) && !isnan(timed) && !isnan(stream));
    ck_assert(metric(body, "tandem_primary_up") == 1);
    ck_assert(metric(body, "tandem_replicas") == 1);
    ck_assert(metric(body, "tandem_replicas_online") == 1);
    ck_assert(metric(body, "tandem_connected_clients") >= 1);
    snprintf(series, sizeof(series), "tandem_replica_state{%s,state="
             "\"online\"}", M.label);
    ck_assert_msg(metric(body, series) == 1, "%s", body);
    snprintf(series, sizeof(series), "tandem_replica_state{%s,state="
             "\"down\"}", M.label);
    ck_assert(metric(body, series) == 0);

    for (i = 0; i < NWRITES; i++) {
        cmd_status(c, "OK", "SET k%d v%d", i, i);
    }
    for (i = 0; i < NREADS; i++) {
        char v[32];

        cmd_str(c, v, sizeof(v), "GET k%d", i % NWRITES);
    }
    body = scrape();
    ck_assert_msg(metric(body, "tandem_commands_processed_total") ==
                      processed + NWRITES + NREADS,
                  "processed %g -> %g", processed,
                  metric(body, "tandem_commands_processed_total"));
    ck_assert_msg(timed_commands(body) == timed + NWRITES + NREADS,
                  "the histogram counted %g of %d commands",
                  timed_commands(body) - timed, NWRITES + NREADS);
    ck_assert(metric(body, "tandem_stream_commands_total") ==
              stream + NWRITES);
    ck_assert(metric(body, "tandem_reads_served_by_primary_total") +
                  metric(body, "tandem_reads_served_by_replicas_total") ==
              reads + NREADS);
    ck_assert(metric(body, "tandem_net_input_bytes_total") > 0);
    ck_assert(metric(body, "tandem_command_duration_seconds_sum"
                           "{route=\"primary\"}") > 0);

    /* The replica catches up: online, no lag, acked at the stream's
     * offset. */
    deadline = replcheck_now_ms() + 10000;
    while (replcheck_now_ms() < deadline) {
        body = scrape();
        offset = metric(body, "tandem_stream_offset_bytes");
        if (replica_metric(body, "tandem_replica_lag_bytes") == 0 &&
            replica_metric(body, "tandem_replica_acked_offset_bytes") ==
                offset) {
            break;
        }
        replcheck_sleep_ms(20);
    }
    ck_assert_msg(offset > 0 &&
                      replica_metric(body, "tandem_replica_acked_offset_"
                                           "bytes") == offset,
                  "acked %g, stream %g",
                  replica_metric(body, "tandem_replica_acked_offset_bytes"),
                  offset);
    ck_assert(replica_metric(body, "tandem_replica_lag_bytes") == 0);
    ck_assert(replica_metric(body, "tandem_replica_lag_seconds") == 0);
    ck_assert(replica_metric(body, "tandem_replica_batches_total") >= 1);
    ck_assert(replica_metric(body, "tandem_replica_link_connects_total") ==
              1);
    ck_assert(replica_metric(body, "tandem_replica_link_errors_total") == 0);
    ck_assert(replica_metric(body, "tandem_replica_reads_total") ==
              metric(body, "tandem_reads_served_by_replicas_total"));
    ck_assert(metric(body, "tandem_backlog_used_bytes") == offset);
    redisFree(c);
}
END_TEST

START_TEST(test_other_paths_get_404_and_the_proxy_is_untouched)
{
    int status;
    const char *resp;
    redisContext *c;

    metrics_fleet_start();
    resp = http("GET /nope HTTP/1.1\r\n\r\n", &status, NULL);
    ck_assert_msg(status == 404, "%s", resp);
    resp = http("GET / HTTP/1.0\r\n\r\n", &status, NULL);
    ck_assert_msg(status == 200 && strstr(resp, "/metrics") != NULL, "%s",
                  resp);
    resp = http("DELETE /metrics HTTP/1.1\r\n\r\n", &status, NULL);
    ck_assert_msg(status == 405, "%s", resp);
    resp = http("HEAD /metrics HTTP/1.1\r\n\r\n", &status, NULL);
    ck_assert_msg(status == 200 && strstr(resp, "# HELP") == NULL, "%s",
                  resp);
    resp = http("\r\n\r\n", &status, NULL);
    ck_assert_msg(status == 400, "%s", resp);
    c = harness_connect(F.tandem.port);
    cmd_status(c, "PONG", "PING");
    redisFree(c);
}
END_TEST

START_TEST(test_oversized_request_is_cut)
{
    static char req[64 * 1024];
    int status;
    int closed;
    const char *resp;
    redisContext *c;
    size_t n;

    metrics_fleet_start();
    n = (size_t)snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\n");
    /* 64 KB of header lines, never ending. */
    while (n + 16 < sizeof(req)) {
        memcpy(req + n, "X-Pad: aaaaaa\r\n", 15);
        n += 15;
    }
    req[n] = '\0';
    resp = http(req, &status, &closed);
    ck_assert_msg(status == 431 && closed, "status %d closed %d: %.200s",
                  status, closed, resp);
    ck_assert_ptr_null(strstr(resp, "# HELP"));
    c = harness_connect(F.tandem.port);
    cmd_status(c, "PONG", "PING");
    redisFree(c);
    (void)scrape();
}
END_TEST

START_TEST(test_slow_metrics_clients_never_hold_the_proxy)
{
    enum { NIDLE = 16 };
    int idle[NIDLE];
    int status;
    int closed;
    char buf[4096];
    const char *resp;
    redisContext *c;
    long long t0;
    long long waited;
    int i;

    metrics_fleet_start();
    /* Every metrics slot held by a client that sends half a request and
     * then nothing. */
    for (i = 0; i < NIDLE; i++) {
        idle[i] = harness_raw_connect(M.port);
        ck_assert_int_eq(harness_send_all(idle[i], "GET /metr", 9), 0);
    }
    replcheck_sleep_ms(200);
    /* The proxy serves meanwhile, at its usual pace. */
    c = harness_connect(F.tandem.port);
    t0 = replcheck_now_ms();
    for (i = 0; i < 200; i++) {
        char v[32];

        cmd_status(c, "OK", "SET slow%d %d", i, i);
        cmd_str(c, v, sizeof(v), "GET slow%d", i);
    }
    ck_assert_msg(replcheck_now_ms() - t0 < 5000, "400 commands took %lld "
                  "ms with metrics clients stalled", replcheck_now_ms() - t0);
    /* One more metrics client is refused at once, not queued. */
    resp = http("GET /metrics HTTP/1.1\r\n\r\n", &status, &closed);
    ck_assert_msg(status == 503 && closed, "status %d: %.200s", status, resp);
    /* The stalled ones are closed by the deadline (10 s after accept). */
    t0 = replcheck_now_ms();
    for (i = 0; i < NIDLE; i++) {
        harness_read_until_close(idle[i], buf, sizeof(buf), 15000, &closed);
        ck_assert_msg(closed, "stalled metrics client %d still open", i);
        close(idle[i]);
    }
    waited = replcheck_now_ms() - t0;
    ck_assert_msg(waited < 12000, "stalled clients closed after %lld ms",
                  waited);
    cmd_status(c, "PONG", "PING");
    redisFree(c);
    (void)scrape();
}
END_TEST

START_TEST(test_metrics_port_equal_to_port_is_refused)
{
    char out[4096];
    const char *args[] = {"--check-config", "--primary", "127.0.0.1:6379",
                          "--port", "7000", "--metrics-port", "7000", NULL};

    ck_assert_int_eq(harness_run_tandem(args, out, sizeof(out), 10000), 1);
    ck_assert_msg(strstr(out, "metrics-port") != NULL, "%s", out);
}
END_TEST

static void
add_case(Suite *s, const char *name, const TTest *test, int fleet)
{
    harness_add_case(s, name, test, NULL, fleet ? teardown : NULL, 60);
}

int
main(void)
{
    Suite *s = suite_create("metrics");

    add_case(s, "text_format",
             test_text_has_help_and_type_and_no_duplicate_series, 0);
    add_case(s, "checker", test_checker_rejects_what_it_should, 0);
    add_case(s, "man_page", test_every_family_is_in_the_man_page, 0);
    add_case(s, "answers", test_answers_paths_methods_and_limits, 0);
    add_case(s, "config", test_metrics_port_equal_to_port_is_refused, 0);
    add_case(s, "scrape", test_scrape_reports_commands_replica_and_latencies,
             1);
    add_case(s, "paths", test_other_paths_get_404_and_the_proxy_is_untouched,
             1);
    add_case(s, "oversized", test_oversized_request_is_cut, 1);
    add_case(s, "slow_clients", test_slow_metrics_clients_never_hold_the_proxy,
             1);
    return harness_run_suite(s);
}

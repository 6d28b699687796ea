/*
 * test_cli.c -- integration: tandem's command line and configuration
 * loader, as a user meets them (DESIGN section 6 and the "config error"
 * row of section 5).
 *
 * Error cases run the binary to completion and check its exit status and
 * what it printed, and that it never listened: the port given is not
 * accepting afterwards and neither the pid file nor the unix socket was
 * left behind. Running cases start tandem in front of a real redis-server
 * and stop it by PID with a signal.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define OUT_LEN 16384

static struct proc redis;
static struct proc tandem;
static char dir[256];             /* this test's scratch directory */
static char out[OUT_LEN];         /* what the last run printed */

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int
file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* dir/name, in a static ring of buffers. */
static const char *
in_dir(const char *name)
{
    static char paths[32][512];
    static int next = 0;
    char *p = paths[next++ % 32];

    snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
    return p;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

static char *
read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    static char text[65536];
    size_t n;

    if (f == NULL) {
        return NULL;
    }
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* Runs tandem to completion; returns its exit status (out has its text). */
static int
run(const char *const *args)
{
    return harness_run_tandem(args, out, sizeof(out), 5000);
}

#define assert_out_has(s)                                                    \
    ck_assert_msg(strstr(out, (s)) != NULL, "output lacks \"%s\":\n%s", (s), \
                  out)

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tandem-cli-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    out[0] = '\0';
}

static void
teardown(void)
{
    char cmd[300];

    harness_stop(&tandem);
    harness_stop(&redis);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
}

/* ---- information ---- */

START_TEST(test_version_prints_version_and_exits_0)
{
    const char *args[] = {"--version", NULL};

    ck_assert_int_eq(run(args), 0);
    ck_assert_msg(strncmp(out, "tandem v=", 9) == 0, "got: %s", out);
    ck_assert_msg(out[9] >= '0' && out[9] <= '9', "no version in: %s", out);
}
END_TEST

/* Every directive the loader knows. */
static const char *const directive_names[] = {
    "port", "bind", "unixsocket", "unixsocketperm", "tcp-backlog",
    "tcp-keepalive", "primary", "replica", "backend-user",
    "backend-password", "connect-timeout", "meta-db", "requirepass",
    "maxclients", "timeout", "client-query-buffer-limit",
    "proto-max-bulk-len", "client-output-buffer-limit", "loglevel",
    "logfile", "pidfile", "daemonize", "user", NULL,
};

/* The directive's line in --help output ("  name  default"), or NULL. */
static const char *
help_line(const char *help, const char *name, char *line, size_t linelen)
{
    const char *p = help;
    size_t n = strlen(name);

    while ((p = strstr(p, "\n  ")) != NULL) {
        const char *eol;

        p += 3;
        eol = strchr(p, '\n');
        if (eol == NULL) {
            eol = p + strlen(p);
        }
        if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p + n == eol)) {
            snprintf(line, linelen, "%.*s", (int)(eol - p), p);
            return line;
        }
    }
    return NULL;
}

START_TEST(test_help_prints_usage_and_every_directive)
{
    const char *args[] = {"--help", NULL};
    char line[256];
    int i;

    ck_assert_int_eq(run(args), 0);
    assert_out_has("Usage: tandem");
    assert_out_has("--check-config");
    for (i = 0; directive_names[i] != NULL; i++) {
        ck_assert_msg(help_line(out, directive_names[i], line,
                                sizeof(line)) != NULL,
                      "--help does not list '%s':\n%s", directive_names[i],
                      out);
    }
}
END_TEST

/* ---- the shipped configuration file ---- */

static const char *
srcdir(void)
{
    const char *d = getenv("TANDEM_SRCDIR");

    return d != NULL ? d : "..";
}

START_TEST(test_check_config_accepts_the_shipped_conf)
{
    char path[512];
    const char *args[] = {"--check-config", path, NULL};

    snprintf(path, sizeof(path), "%s/conf/tandem.conf", srcdir());
    ck_assert_int_eq(run(args), 0);
    assert_out_has("configuration OK");
}
END_TEST

/* conf/tandem.conf lists every directive that --help lists, with the
 * same default ("# name default"), or sets it ("name value"). */
START_TEST(test_shipped_conf_lists_every_directive_default)
{
    char path[512];
    const char *args[] = {"--help", NULL};
    const char *p;
    char *conf;
    int checked = 0;

    snprintf(path, sizeof(path), "%s/conf/tandem.conf", srcdir());
    ck_assert_int_eq(run(args), 0);
    conf = read_text(path);
    ck_assert_msg(conf != NULL, "cannot read %s", path);
    p = strstr(out, "\nDirectives");
    ck_assert_ptr_nonnull(p);
    /* Each "  name   default" line after the heading. */
    while ((p = strstr(p, "\n  ")) != NULL) {
        char name[128];
        char def[128];
        char want[300];
        int n = 0;

        p += 3;
        if (sscanf(p, "%127s %n", name, &n) != 1 || n == 0) {
            continue;
        }
        snprintf(def, sizeof(def), "%.*s", (int)strcspn(p + n, "\n"),
                 p + n);
        if (def[0] == '(') {
            /* No default: the file must at least mention it. */
            snprintf(want, sizeof(want), "\n%s ", name);
            if (strstr(conf, want) == NULL) {
                snprintf(want, sizeof(want), "\n# %s ", name);
            }
        } else {
            snprintf(want, sizeof(want), "\n# %s %s\n", name, def);
        }
        ck_assert_msg(strstr(conf, want) != NULL,
                      "%s lacks a line \"%s\" for '%s'", path, want + 1,
                      name);
        checked++;
    }
    ck_assert_int_ge(checked, 22);
}
END_TEST

/* ---- configuration errors: exit 1, say why, never listen ---- */

/* Asserts that a failed run left nothing listening or lying around. */
static void
assert_never_started(int port)
{
    ck_assert_msg(!harness_can_connect(port), "port %d accepts connections",
                  port);
    ck_assert_msg(!file_exists(in_dir("t.pid")), "a pid file was written");
    ck_assert_msg(!file_exists(in_dir("t.sock")), "a unix socket was made");
}

START_TEST(test_unknown_directive_on_command_line_is_named)
{
    char port[16];
    const char *args[] = {"--primary", "127.0.0.1:1", "--port", port,
                          "--pidfile", in_dir("t.pid"), "--unixsocket",
                          in_dir("t.sock"), "--nosuch", "1", NULL};
    int p = harness_free_port();

    snprintf(port, sizeof(port), "%d", p);
    ck_assert_int_eq(run(args), 1);
    assert_out_has("nosuch");
    assert_out_has("argument 9");
    assert_out_has("unknown directive");
    assert_never_started(p);
}
END_TEST

struct bad_value {
    const char *name;
    const char *value;
    const char *why;       /* a word the explanation must contain */
};

static const struct bad_value bad_values[] = {
    {"maxclients", "lots", "integer"},
    {"maxclients", "0", "between 1 and"},
    {"timeout", "-1", "integer"},
    {"tcp-keepalive", "1.5", "integer"},
    {"loglevel", "loud", "debug, verbose, notice, warning"},
    {"daemonize", "maybe", "'yes' or 'no'"},
    {"client-query-buffer-limit", "10", "memory value"},
    {"proto-max-bulk-len", "1zb", "memory value"},
    {"unixsocketperm", "999", "octal"},
    {"replica", "nohost", "host:port"},
    {"primary", "127.0.0.1:70000", "port must be between 1 and 65535"},
};

#define NBAD_VALUES ((int)(sizeof(bad_values) / sizeof(bad_values[0])))

START_TEST(test_bad_value_on_command_line_names_directive_and_why)
{
    const struct bad_value *b = &bad_values[_i];
    char port[16];
    char flag[64];
    const char *args[] = {"--primary", "127.0.0.1:1", "--port", port,
                          "--pidfile", in_dir("t.pid"), "--unixsocket",
                          in_dir("t.sock"), flag, b->value, NULL};
    int p = harness_free_port();

    snprintf(port, sizeof(port), "%d", p);
    snprintf(flag, sizeof(flag), "--%s", b->name);
    ck_assert_int_eq(run(args), 1);
    assert_out_has(flag);
    assert_out_has(b->value);
    assert_out_has(b->why);
    assert_never_started(p);
}
END_TEST

START_TEST(test_bad_port_value_is_refused)
{
    const char *args[] = {"--primary", "127.0.0.1:1", "--pidfile",
                          in_dir("t.pid"), "--port", "abc", NULL};
    const char *range[] = {"--primary", "127.0.0.1:1", "--pidfile",
                           in_dir("t.pid"), "--port", "65536", NULL};

    ck_assert_int_eq(run(args), 1);
    assert_out_has("--port");
    assert_out_has("abc");
    assert_out_has("integer between 0 and 65535");
    ck_assert(!file_exists(in_dir("t.pid")));
    ck_assert_int_eq(run(range), 1);
    assert_out_has("65536");
    assert_out_has("integer between 0 and 65535");
    ck_assert(!file_exists(in_dir("t.pid")));
}
END_TEST

START_TEST(test_bad_line_in_config_file_is_shown_with_its_number)
{
    char text[1024];
    const char *conf = in_dir("bad.conf");
    const char *args[] = {conf, NULL};
    int p = harness_free_port();

    snprintf(text, sizeof(text),
             "# a comment\n"
             "primary 127.0.0.1:1\n"
             "maxclients lots\n"
             "port %d\n"
             "pidfile %s\n"
             "unixsocket %s\n",
             p, in_dir("t.pid"), in_dir("t.sock"));
    /* Line 3 is bad; the valid lines after it must not take effect. */
    write_file(conf, text);
    ck_assert_int_eq(run(args), 1);
    assert_out_has("line 3");
    assert_out_has("maxclients lots");
    assert_out_has("integer");
    assert_out_has(conf);
    assert_never_started(p);

    /* A bad line 3 after a good port: still nothing listens. */
    snprintf(text, sizeof(text),
             "port %d\n"
             "primary 127.0.0.1:1\n"
             "nosuch-directive yes\n",
             p);
    write_file(conf, text);
    ck_assert_int_eq(run(args), 1);
    assert_out_has("line 3");
    assert_out_has("nosuch-directive yes");
    assert_never_started(p);

    /* Unbalanced quotes are a line error too. */
    snprintf(text, sizeof(text),
             "port %d\n"
             "primary 127.0.0.1:1\n"
             "requirepass \"open\n",
             p);
    write_file(conf, text);
    ck_assert_int_eq(run(args), 1);
    assert_out_has("line 3");
    assert_out_has("requirepass ");     /* the line, perhaps escaped */
    assert_out_has("open");
    assert_out_has("nbalanced quotes");
    assert_never_started(p);
}
END_TEST

START_TEST(test_missing_primary_is_refused)
{
    char port[16];
    const char *args[] = {"--port", port, "--pidfile", in_dir("t.pid"),
                          "--unixsocket", in_dir("t.sock"), NULL};
    int p = harness_free_port();

    snprintf(port, sizeof(port), "%d", p);
    ck_assert_int_eq(run(args), 1);
    assert_out_has("primary");
    assert_never_started(p);
}
END_TEST

START_TEST(test_tls_port_without_certificate_is_refused_clearly)
{
    char port[16];
    const char *args[] = {"--primary", "rediss://h:1", "--port", "0",
                          "--tls-port", port, "--pidfile", in_dir("t.pid"),
                          "--unixsocket", in_dir("t.sock"), NULL};
    int p = harness_free_port();

    snprintf(port, sizeof(port), "%d", p);
    ck_assert_int_eq(run(args), 1);
    assert_out_has("tls-port needs tls-cert-file and tls-key-file");
    assert_never_started(p);
}
END_TEST

START_TEST(test_missing_config_file_is_refused)
{
    char port[16];
    const char *conf = in_dir("no/such/tandem.conf");
    const char *args[] = {conf, "--primary", "127.0.0.1:1", "--port", port,
                          "--pidfile", in_dir("t.pid"), NULL};
    int p = harness_free_port();

    snprintf(port, sizeof(port), "%d", p);
    ck_assert_int_eq(run(args), 1);
    assert_out_has(conf);
    assert_out_has("No such file");
    assert_never_started(p);
}
END_TEST

START_TEST(test_replica_repeats_across_file_and_command_line)
{
    const char *conf = in_dir("replicas.conf");
    const char *ok[] = {"--check-config", conf, "--replica",
                        "127.0.0.1:4", NULL};
    const char *bad[] = {"--check-config", conf, "--replica",
                         "127.0.0.1:4", "--replica", "nohost", NULL};

    write_file(conf,
               "primary 127.0.0.1:1\n"
               "replica 127.0.0.1:2\n"
               "replica redis://user:pass@127.0.0.1:3\n");
    ck_assert_int_eq(run(ok), 0);
    assert_out_has("configuration OK");
    /* A later --replica is parsed too, not dropped. */
    ck_assert_int_eq(run(bad), 1);
    assert_out_has("nohost");
}
END_TEST

/* ---- running ---- */

/* No sanitizer report in the process's log (the sanitizer build). */
static void
assert_log_clean(const struct proc *p)
{
    char *text = read_text(p->log);

    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "Sanitizer") == NULL &&
                      strstr(text, "runtime error") == NULL,
                  "sanitizer report in %s:\n%s", p->log, text);
}

static void
start_redis(void)
{
    ck_assert_int_eq(harness_start_redis(&redis, NULL), 0);
}

static const char *
primary_spec(void)
{
    static char spec[64];

    snprintf(spec, sizeof(spec), "127.0.0.1:%d", redis.port);
    return spec;
}

START_TEST(test_command_line_overrides_file_and_both_apply)
{
    char text[512];
    char p2s[16];
    const char *conf = in_dir("t.conf");
    const char *args[] = {conf, "--port", p2s, NULL};
    int p1 = harness_free_port();
    int p2 = harness_free_port();
    redisContext *c;
    const char *v;

    start_redis();
    while (p2 == p1) {
        p2 = harness_free_port();
    }
    snprintf(text, sizeof(text), "port %d\nprimary %s\nmaxclients 77\n", p1,
             primary_spec());
    write_file(conf, text);
    snprintf(p2s, sizeof(p2s), "%d", p2);
    ck_assert_int_eq(harness_spawn_tandem(&tandem, args), 0);
    tandem.port = p2;
    if (harness_wait_ready(&tandem, 10000) != 0) {
        harness_dump_log(&tandem);
        ck_abort_msg("tandem did not answer on the command line's port");
    }
    ck_assert_msg(!harness_can_connect(p1), "the file's port %d is open",
                  p1);
    c = harness_connect(p2);
    v = harness_info_field(c, "server", "tcp_port");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(atoi(v), p2);
    v = harness_info_field(c, "server", "config_file");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v, conf);
    /* The file's other directives still apply. */
    v = harness_info_field(c, "clients", "maxclients");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v, "77");
    redisFree(c);
    harness_signal(&tandem, SIGTERM);
    ck_assert_int_eq(harness_wait_exit(&tandem, 10000), 0);
    assert_log_clean(&tandem);
}
END_TEST

static pid_t
read_pidfile(const char *path)
{
    char *text = read_text(path);

    return text != NULL ? (pid_t)atoi(text) : 0;
}

/* SIGTERM (_i == 0) or SIGINT (_i == 1): exit 0, pid file and unix
 * socket removed. */
START_TEST(test_signal_shuts_down_cleanly)
{
    int sig = _i == 0 ? SIGTERM : SIGINT;
    char port[16];
    const char *pidfile = in_dir("t.pid");
    const char *sock = in_dir("t.sock");
    const char *args[] = {"--port", port, "--primary", NULL, "--pidfile",
                          pidfile, "--unixsocket", sock, NULL};
    redisContext *c;
    redisReply *r;
    int status;

    start_redis();
    args[3] = primary_spec();
    tandem.port = harness_free_port();
    snprintf(port, sizeof(port), "%d", tandem.port);
    ck_assert_int_eq(harness_spawn_tandem(&tandem, args), 0);
    tandem.port = atoi(port);
    if (harness_wait_ready(&tandem, 10000) != 0) {
        harness_dump_log(&tandem);
        ck_abort_msg("tandem did not start");
    }
    ck_assert_int_eq(read_pidfile(pidfile), tandem.pid);
    ck_assert_msg(file_exists(sock), "no unix socket at %s", sock);
    c = redisConnectUnix(sock);
    ck_assert_msg(c != NULL && c->err == 0, "unix socket connect failed");
    r = redisCommand(c, "PING");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);

    harness_signal(&tandem, sig);
    status = harness_wait_exit(&tandem, 5000);
    if (status != 0) {
        harness_dump_log(&tandem);
    }
    ck_assert_int_eq(status, 0);
    assert_log_clean(&tandem);
    ck_assert_msg(!file_exists(pidfile), "pid file left behind");
    ck_assert_msg(!file_exists(sock), "unix socket left behind");
    ck_assert(!harness_can_connect(atoi(port)));
    /* The client was told by a close, not left hanging. */
    r = redisCommand(c, "PING");
    ck_assert_ptr_null(r);
    redisFree(c);
}
END_TEST

START_TEST(test_daemonize_returns_at_once_and_runs_in_background)
{
    char port[16];
    const char *pidfile = in_dir("d.pid");
    const char *logfile = in_dir("d.log");
    const char *args[] = {"--port", port, "--primary", NULL, "--daemonize",
                          "yes", "--pidfile", pidfile, "--logfile", logfile,
                          NULL};
    long long t0;
    long long took;
    int status;
    pid_t pid = 0;
    int pong = 0;
    int logged = 0;
    int gone = 0;
    int pidfile_removed = 0;
    long long deadline;

    start_redis();
    args[3] = primary_spec();
    snprintf(port, sizeof(port), "%d", harness_free_port());
    t0 = now_ms();
    status = run(args);
    took = now_ms() - t0;
    ck_assert_msg(status == 0, "exit status %d: %s", status, out);

    /* From here on the daemon must be stopped whatever is found, so the
     * findings are asserted only once it is gone. */
    deadline = now_ms() + 5000;
    while (now_ms() < deadline && pid <= 0) {
        pid = read_pidfile(pidfile);
        if (pid <= 0) {
            sleep_ms(20);
        }
    }
    if (pid > 0 && kill(pid, 0) == 0) {
        redisContext *c = NULL;

        deadline = now_ms() + 5000;
        while (now_ms() < deadline && !pong) {
            struct timeval tv = {1, 0};
            redisReply *r;

            c = redisConnectWithTimeout("127.0.0.1", atoi(port), tv);
            if (c != NULL && c->err == 0) {
                r = redisCommand(c, "PING");
                pong = r != NULL && r->type == REDIS_REPLY_STATUS &&
                       strcmp(r->str, "PONG") == 0;
                if (r != NULL) {
                    freeReplyObject(r);
                }
            }
            if (c != NULL) {
                redisFree(c);
            }
            if (!pong) {
                sleep_ms(20);
            }
        }
        logged = read_text(logfile) != NULL &&
                 strstr(read_text(logfile), "started") != NULL;
        kill(pid, SIGTERM);
        deadline = now_ms() + 5000;
        while (now_ms() < deadline && !gone) {
            gone = kill(pid, 0) < 0 && errno == ESRCH;
            if (!gone) {
                sleep_ms(20);
            }
        }
        if (!gone) {
            kill(pid, SIGKILL);
        }
        pidfile_removed = !file_exists(pidfile);
    }
    ck_assert_msg(took < 3000, "the command took %lld ms to return", took);
    ck_assert_msg(pid > 0, "no pid in %s", pidfile);
    ck_assert_msg(pong, "the daemon (pid %d) did not answer PING",
                  (int)pid);
    ck_assert_msg(logged, "the log file %s lacks the start line", logfile);
    ck_assert_msg(gone, "the daemon survived SIGTERM for 5 s");
    ck_assert_msg(pidfile_removed, "the daemon left its pid file");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc;
    SRunner *sr;
    int failed;

    /* A write to a connection tandem closed must fail, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_version_prints_version_and_exits_0);
    tcase_add_test(tc, test_help_prints_usage_and_every_directive);
    tcase_add_test(tc, test_check_config_accepts_the_shipped_conf);
    tcase_add_test(tc, test_shipped_conf_lists_every_directive_default);
    tcase_add_test(tc, test_unknown_directive_on_command_line_is_named);
    tcase_add_loop_test(tc,
                        test_bad_value_on_command_line_names_directive_and_why,
                        0, NBAD_VALUES);
    tcase_add_test(tc, test_bad_port_value_is_refused);
    tcase_add_test(tc, test_bad_line_in_config_file_is_shown_with_its_number);
    tcase_add_test(tc, test_missing_primary_is_refused);
    tcase_add_test(tc, test_tls_port_without_certificate_is_refused_clearly);
    tcase_add_test(tc, test_missing_config_file_is_refused);
    tcase_add_test(tc, test_replica_repeats_across_file_and_command_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("running");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_command_line_overrides_file_and_both_apply);
    tcase_add_loop_test(tc, test_signal_shuts_down_cleanly, 0, 2);
    tcase_add_test(tc, test_daemonize_returns_at_once_and_runs_in_background);
    suite_add_tcase(s, tc);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

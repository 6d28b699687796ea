/*
 * harness.c -- starts and stops real processes for integration tests.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

int
harness_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("harness_free_port");
        abort();
    }
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int
make_dir(struct proc *p, const char *what)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/tandem-test-%s-XXXXXX", what);
    if (mkdtemp(p->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(p->log, sizeof(p->log), "%s/out.log", p->dir);
    return 0;
}

/* fork + exec with stdout/stderr to p->log. */
/* RLIMIT_NOFILE for the next spawned process, set by
 * harness_spawn_tandem_nofile (0: inherited). */
static long spawn_nofile_soft;
static long spawn_nofile_hard;

pid_t
harness_spawn(struct proc *p, char *const *argv)
{
    pid_t pid = fork();

    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int devnull = open("/dev/null", O_RDONLY);

        /* A test that fails exits without its teardown (Check's forked
         * tests _exit): take the processes it started down with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        if (spawn_nofile_soft > 0) {
            struct rlimit rl;

            getrlimit(RLIMIT_NOFILE, &rl);
            rl.rlim_cur = (rlim_t)spawn_nofile_soft;
            if (spawn_nofile_hard > 0) {
                rl.rlim_max = (rlim_t)spawn_nofile_hard;
            }
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                fprintf(stderr, "setrlimit: %s\n", strerror(errno));
                _exit(127);
            }
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static int
alive(pid_t pid)
{
    int status;

    return waitpid(pid, &status, WNOHANG) == 0;
}

static int
wait_for_ping(struct proc *p, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    while (now_ms() < deadline) {
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", p->port, tv);

        if (c != NULL && c->err == 0) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL && r->type == REDIS_REPLY_STATUS;

            if (r != NULL) {
                freeReplyObject(r);
            }
            redisFree(c);
            if (ok) {
                return 0;
            }
        } else if (c != NULL) {
            redisFree(c);
        }
        if (!alive(p->pid)) {
            return -1;
        }
        sleep_ms(20);
    }
    return -1;
}

int
harness_start_redis(struct proc *p, const char *const *extra)
{
    char *argv[64];
    char port[16];
    int n = 0;
    int attempt;
    int i;

    memset(p, 0, sizeof(*p));
    if (make_dir(p, "redis") < 0) {
        return -1;
    }
    for (attempt = 0; attempt < 3; attempt++) {
        n = 0;
        p->port = harness_free_port();
        snprintf(port, sizeof(port), "%d", p->port);
        argv[n++] = (char *)"redis-server";
        argv[n++] = (char *)"--port";
        argv[n++] = port;
        argv[n++] = (char *)"--bind";
        argv[n++] = (char *)"127.0.0.1";
        argv[n++] = (char *)"--save";
        argv[n++] = (char *)"";
        argv[n++] = (char *)"--appendonly";
        argv[n++] = (char *)"no";
        argv[n++] = (char *)"--dir";
        argv[n++] = p->dir;
        argv[n++] = (char *)"--daemonize";
        argv[n++] = (char *)"no";
        for (i = 0; extra != NULL && extra[i] != NULL && n < 62; i++) {
            argv[n++] = (char *)extra[i];
        }
        argv[n] = NULL;
        p->pid = harness_spawn(p, argv);
        if (p->pid > 0 && wait_for_ping(p, 10000) == 0) {
            return 0;
        }
        harness_stop(p);
    }
    harness_dump_log(p);
    return -1;
}

static const char *
tandem_bin(void)
{
    const char *bin = getenv("TANDEM_BIN");

    return bin != NULL ? bin : "../src/tandem";
}

int
harness_start_tandem(struct proc *p, int primary_port,
                     const char *const *extra, int wait_up)
{
    char *argv[96];
    char port[16];
    char primary[64];
    int n;
    int attempt;
    int i;

    memset(p, 0, sizeof(*p));
    if (make_dir(p, "tandem") < 0) {
        return -1;
    }
    for (attempt = 0; attempt < 3; attempt++) {
        n = 0;
        p->port = harness_free_port();
        snprintf(port, sizeof(port), "%d", p->port);
        snprintf(primary, sizeof(primary), "127.0.0.1:%d", primary_port);
        argv[n++] = (char *)tandem_bin();
        argv[n++] = (char *)"--port";
        argv[n++] = port;
        argv[n++] = (char *)"--primary";
        argv[n++] = primary;
        argv[n++] = (char *)"--loglevel";
        argv[n++] = (char *)"verbose";
        for (i = 0; extra != NULL && extra[i] != NULL && n < 94; i++) {
            argv[n++] = (char *)extra[i];
        }
        argv[n] = NULL;
        p->pid = harness_spawn(p, argv);
        if (p->pid > 0 && wait_for_ping(p, 10000) == 0) {
            long long deadline = now_ms() + 10000;
            redisContext *c;

            if (!wait_up) {
                return 0;
            }
            c = harness_connect(p->port);
            while (now_ms() < deadline) {
                const char *s = harness_info_field(c, "primary",
                                                   "primary_link_status");

                if (s != NULL && strcmp(s, "up") == 0) {
                    redisFree(c);
                    return 0;
                }
                sleep_ms(20);
            }
            redisFree(c);
        }
        harness_stop(p);
    }
    harness_dump_log(p);
    return -1;
}

int
harness_run_tandem(const char *const *args, char *out, size_t outlen,
                   int timeout_ms)
{
    struct proc p;
    char *argv[64];
    int n = 0;
    long long deadline;
    int status = 0;
    FILE *f;
    size_t got = 0;

    memset(&p, 0, sizeof(p));
    if (make_dir(&p, "run") < 0) {
        return -1;
    }
    argv[n++] = (char *)tandem_bin();
    while (args != NULL && args[n - 1] != NULL && n < 62) {
        argv[n] = (char *)args[n - 1];
        n++;
    }
    argv[n] = NULL;
    p.pid = harness_spawn(&p, argv);
    deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        pid_t r = waitpid(p.pid, &status, WNOHANG);

        if (r == p.pid) {
            break;
        }
        sleep_ms(10);
    }
    if (now_ms() >= deadline) {
        kill(p.pid, SIGKILL);
        waitpid(p.pid, &status, 0);
        status = -1;
    } else {
        status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    out[0] = '\0';
    f = fopen(p.log, "r");
    if (f != NULL) {
        got = fread(out, 1, outlen - 1, f);
        out[got] = '\0';
        fclose(f);
    }
    unlink(p.log);
    rmdir(p.dir);
    return status;
}

void
harness_signal(struct proc *p, int sig)
{
    if (p->pid > 0) {
        kill(p->pid, sig);
    }
}

void
harness_stop(struct proc *p)
{
    long long deadline;
    int status;
    char cmd[300];

    if (p->pid <= 0) {
        return;
    }
    kill(p->pid, SIGCONT);
    kill(p->pid, SIGTERM);
    deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            break;
        }
        sleep_ms(10);
    }
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        p->pid = 0;
    }
    if (p->dir[0] != '\0' && getenv("TANDEM_KEEP_TEST_DIRS") == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "harness: could not remove %s\n", p->dir);
        }
    }
}

redisContext *
harness_connect(int port)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

    if (c == NULL || c->err != 0) {
        fprintf(stderr, "harness: connect to %d: %s\n", port,
                c != NULL ? c->errstr : "out of memory");
        abort();
    }
    redisSetTimeout(c, tv);
    return c;
}

int
harness_raw_connect(int port)
{
    struct sockaddr_in sa;
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("harness_raw_connect");
        abort();
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

int
harness_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t
harness_read_until_close(int fd, char *out, size_t outlen, int timeout_ms,
                         int *closed)
{
    long long deadline = now_ms() + timeout_ms;
    size_t got = 0;

    *closed = 0;
    while (got + 1 < outlen) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            break;
        }
        n = recv(fd, out + got, outlen - 1 - got, 0);
        if (n == 0) {
            *closed = 1;
            break;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            *closed = errno == ECONNRESET;
            break;
        }
        got += (size_t)n;
    }
    out[got] = '\0';
    return got;
}

redisReply *
harness_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    return r;
}

const char *
harness_info_field(redisContext *c, const char *section, const char *field)
{
    static char value[512];
    redisReply *r = redisCommand(c, "INFO %s", section);
    const char *p;
    size_t flen = strlen(field);

    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        if (r != NULL) {
            freeReplyObject(r);
        }
        return NULL;
    }
    for (p = r->str; p != NULL && *p != '\0';) {
        const char *eol = strstr(p, "\r\n");

        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            size_t vlen = (eol != NULL ? (size_t)(eol - p) : strlen(p)) -
                          flen - 1;

            if (vlen >= sizeof(value)) {
                vlen = sizeof(value) - 1;
            }
            memcpy(value, p + flen + 1, vlen);
            value[vlen] = '\0';
            freeReplyObject(r);
            return value;
        }
        p = eol != NULL ? eol + 2 : NULL;
    }
    freeReplyObject(r);
    return NULL;
}

void
harness_dump_log(const struct proc *p)
{
    FILE *f = fopen(p->log, "r");
    char line[1024];

    if (f == NULL) {
        return;
    }
    fprintf(stderr, "---- %s\n", p->log);
    while (fgets(line, sizeof(line), f) != NULL) {
        fputs(line, stderr);
    }
    fclose(f);
}

/* ---- helpers added for the cli and limits suites ---- */

int
harness_spawn_tandem(struct proc *p, const char *const *args)
{
    char *argv[64];
    int n = 0;

    memset(p, 0, sizeof(*p));
    if (make_dir(p, "tandem") < 0) {
        return -1;
    }
    argv[n++] = (char *)tandem_bin();
    while (args != NULL && args[n - 1] != NULL && n < 62) {
        argv[n] = (char *)args[n - 1];
        n++;
    }
    argv[n] = NULL;
    p->pid = harness_spawn(p, argv);
    return p->pid > 0 ? 0 : -1;
}

int
harness_spawn_tandem_nofile(struct proc *p, long soft, long hard,
                            const char *const *args)
{
    int rc;

    spawn_nofile_soft = soft;
    spawn_nofile_hard = hard;
    rc = harness_spawn_tandem(p, args);
    spawn_nofile_soft = 0;
    spawn_nofile_hard = 0;
    return rc;
}

int
harness_wait_ready(struct proc *p, int timeout_ms)
{
    if (wait_for_ping(p, timeout_ms) == 0) {
        return 0;
    }
    if (kill(p->pid, 0) < 0 && errno == ESRCH) {
        p->pid = 0;     /* exited, and reaped by the wait */
    }
    return -1;
}

int
harness_wait_exit(struct proc *p, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    int status;

    if (p->pid <= 0) {
        return -1;
    }
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);

        if (r == p->pid) {
            p->pid = 0;
            if (WIFEXITED(status)) {
                return WEXITSTATUS(status);
            }
            return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
        }
        if (r < 0 || now_ms() >= deadline) {
            return -1;
        }
        sleep_ms(10);
    }
}

size_t
harness_read_exact(int fd, char *out, size_t len, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t got = 0;

    while (got < len) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            break;
        }
        n = recv(fd, out + got, len - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    out[got] = '\0';
    return got;
}

int
harness_can_connect(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok;

    if (fd < 0) {
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* ---- helpers added for the pipe suite ---- */

int
harness_start_redis_on_port(struct proc *p, int port,
                            const char *const *extra)
{
    char *argv[64];
    char portstr[16];
    int n;
    int attempt;
    int i;

    memset(p, 0, sizeof(*p));
    if (make_dir(p, "redis") < 0) {
        return -1;
    }
    p->port = port;
    snprintf(portstr, sizeof(portstr), "%d", port);
    /* The port may take a moment to be free again after a stop. */
    for (attempt = 0; attempt < 3; attempt++) {
        n = 0;
        argv[n++] = (char *)"redis-server";
        argv[n++] = (char *)"--port";
        argv[n++] = portstr;
        argv[n++] = (char *)"--bind";
        argv[n++] = (char *)"127.0.0.1";
        argv[n++] = (char *)"--save";
        argv[n++] = (char *)"";
        argv[n++] = (char *)"--appendonly";
        argv[n++] = (char *)"no";
        argv[n++] = (char *)"--dir";
        argv[n++] = p->dir;
        argv[n++] = (char *)"--daemonize";
        argv[n++] = (char *)"no";
        for (i = 0; extra != NULL && extra[i] != NULL && n < 62; i++) {
            argv[n++] = (char *)extra[i];
        }
        argv[n] = NULL;
        p->pid = harness_spawn(p, argv);
        if (p->pid > 0 && wait_for_ping(p, 10000) == 0) {
            return 0;
        }
        if (p->pid > 0) {
            int status;

            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            p->pid = 0;
        }
        sleep_ms(200);
    }
    harness_dump_log(p);
    harness_stop(p);
    return -1;
}

void
harness_add_case(Suite *s, const char *name, const TTest *test,
                 void (*setup)(void), void (*teardown)(void), int timeout_s)
{
    TCase *tc = tcase_create(name);

    if (setup != NULL || teardown != NULL) {
        tcase_add_checked_fixture(tc, setup, teardown);
    }
    tcase_set_timeout(tc, timeout_s);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

int
harness_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

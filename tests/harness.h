/*
 * harness.h -- integration test harness: real redis-server processes and
 * the real tandem binary on loopback ports learned by binding port 0,
 * driven with hiredis or raw sockets, stopped by PID.
 */
#ifndef TD_HARNESS_H
#define TD_HARNESS_H

#include <check.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int   port;
    char  dir[256];       /* private temp dir (data, logs) */
    char  log[300];       /* stdout+stderr of the process */
};

/* Adds test as a case of its own (so CK_RUN_CASE=<name> runs it alone),
 * with the suite's fixture (either may be NULL) and a timeout. */
void harness_add_case(Suite *s, const char *name, const TTest *test,
                      void (*setup)(void), void (*teardown)(void),
                      int timeout_s);
/* Runs every case of s and returns the process's exit status. */
int harness_run_suite(Suite *s);

/* A port that was free a moment ago on 127.0.0.1. */
int harness_free_port(void);

/* Starts redis-server on a free port with extra "--directive value" words
 * (NULL-terminated list, may be NULL); waits until it answers PING.
 * Returns 0 or -1. */
int harness_start_redis(struct proc *p, const char *const *extra);

/* Starts tandem in front of the given primary port, with extra arguments
 * (NULL-terminated, may be NULL). Waits until the pipe is up when
 * wait_up is set, else only until it accepts connections. */
int harness_start_tandem(struct proc *p, int primary_port,
                         const char *const *extra, int wait_up);

/* Runs tandem with the given arguments to completion (e.g. a config
 * error). Fills out with its stderr+stdout; returns its exit status, or
 * -1 when it did not exit within timeout_ms (it is then killed). */
int harness_run_tandem(const char *const *args, char *out, size_t outlen,
                       int timeout_ms);

/* fork + exec of argv with stdout and stderr appended to p->log and the
 * child killed if the test dies. Returns the pid, or -1. */
pid_t harness_spawn(struct proc *p, char *const *argv);

/* SIGTERM, wait up to 5 s, then SIGKILL. */
void harness_stop(struct proc *p);
/* Sends a signal to the process. */
void harness_signal(struct proc *p, int sig);

/* A hiredis connection with a 10 s timeout (aborts the test on failure). */
redisContext *harness_connect(int port);
/* A raw blocking TCP socket to 127.0.0.1:port, with recv timeout. */
int harness_raw_connect(int port);
/* Sends all of buf. Returns 0 or -1. */
int harness_send_all(int fd, const void *buf, size_t len);
/* Reads until the peer closes, outlen-1 bytes or timeout_ms passes.
 * NUL-terminates. Returns bytes read; sets *closed when EOF was seen. */
size_t harness_read_until_close(int fd, char *out, size_t outlen,
                                int timeout_ms, int *closed);

/* Issues a command and returns the reply (caller frees). */
redisReply *harness_cmd(redisContext *c, const char *fmt, ...);
/* Value of "field:" in INFO <section> (static buffer), or NULL. */
const char *harness_info_field(redisContext *c, const char *section,
                               const char *field);

/* Prints the process's log to stderr (for failed tests). */
void harness_dump_log(const struct proc *p);

/* Spawns tandem with exactly these arguments (NULL-terminated; the binary
 * is prepended), output to p->log, without waiting. The caller sets
 * p->port when it wants harness_wait_ready. Returns 0 or -1. */
int harness_spawn_tandem(struct proc *p, const char *const *args);
/* The same, with tandem's RLIMIT_NOFILE set before it starts: soft limit
 * soft, and hard limit hard (0: the hard limit is inherited). */
int harness_spawn_tandem_nofile(struct proc *p, long soft, long hard,
                                const char *const *args);
/* Waits until the process answers PING on 127.0.0.1:p->port. Returns 0, or
 * -1 when it exited (it is then reaped) or did not answer in time. */
int harness_wait_ready(struct proc *p, int timeout_ms);
/* Waits for the process to exit and reaps it (p->pid becomes 0). Returns
 * its exit status, 128+N when killed by signal N, or -1 when it is still
 * running after timeout_ms (it is left running). */
int harness_wait_exit(struct proc *p, int timeout_ms);
/* Reads exactly len bytes unless the peer closes or timeout_ms passes; out
 * must hold len+1 bytes and is NUL-terminated. Returns bytes read. */
size_t harness_read_exact(int fd, char *out, size_t len, int timeout_ms);
/* 1 when a TCP connection to 127.0.0.1:port is accepted, else 0. */
int harness_can_connect(int port);

/* Starts redis-server on the given port (e.g. the port of one that was
 * stopped, to bring "the same" server back), with extra words as
 * harness_start_redis. Waits until it answers PING. Returns 0 or -1. */
int harness_start_redis_on_port(struct proc *p, int port,
                                const char *const *extra);

#endif

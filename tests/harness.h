/*
 * harness.h -- integration test harness: real redis-server processes and
 * the real tandem binary on loopback ports learned by binding port 0,
 * driven with hiredis or raw sockets, stopped by PID.
 */
#ifndef TD_HARNESS_H
#define TD_HARNESS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int   port;
    char  dir[256];       /* private temp dir (data, logs) */
    char  log[300];       /* stdout+stderr of the process */
};

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

#endif

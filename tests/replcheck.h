/*
 * replcheck.h -- helpers for replication tests: start and stop a fleet (a
 * primary, its replicas and tandem), compare a replica with the primary
 * key by key, wait for tandem's replicas to be in sync, read one
 * replica's line of tandem's INFO replication, restart a redis-server on
 * a given port and directory (to keep its AOF), and small timing helpers.
 *
 * Every helper talks to 127.0.0.1 only and never aborts the test: each
 * returns a status and fills a report for the assertion message. The
 * exceptions say so: the fleet helpers and the cmd_* commands fail the
 * test, as a test cannot go on without them.
 */
#ifndef TD_REPLCHECK_H
#define TD_REPLCHECK_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "harness.h"

/* Databases compared: 0 .. REPLCHECK_DBS-1 (15, tandem's meta-db, is
 * never compared). */
#define REPLCHECK_DBS 15

/* Largest difference allowed between the absolute expiry times
 * (PEXPIRETIME) of a key on the primary and on a replica. */
#define REPLCHECK_TTL_SLACK_MS 1000

struct replcheck_stats {
    long      keys;            /* keys compared (union of both sides) */
    long      dump_equal;      /* DUMP payloads identical byte for byte */
    long      content_equal;   /* DUMP differed, content identical (see
                                * replcheck.c: hash table order) */
    long      with_ttl;        /* keys with an expiry on the primary */
    long long max_ttl_diff_ms; /* largest |PEXPIRETIME primary - replica| */
    long      diffs;           /* differences found */
};

/*
 * Compares every key of every database 0..14 of the replica with the
 * primary: the key sets (SCAN on both), each key's DUMP payload byte for
 * byte (when the payloads differ, the contents are compared by type, as
 * Redis orders hash-table encoded sets and hashes by a per-process hash
 * seed), and each key's expiry: no expiry (-1) on both, or absolute
 * expiry times (PEXPIRETIME) within REPLCHECK_TTL_SLACK_MS.
 * Returns the number of differences (0: identical), a negative number
 * when a server could not be read; report gets a summary and the first
 * few differing keys. st may be NULL.
 */
int replcheck_compare(int primary_port, int replica_port, char *report,
                      size_t len);
int replcheck_compare_ex(int primary_port, int replica_port,
                         struct replcheck_stats *st, char *report,
                         size_t len);

/*
 * Waits (bounded) until tandem's INFO replication lists at least one
 * slave, every slave has state=online and lag_bytes=0. Returns 0, or -1
 * at the timeout (report then holds the last slave lines).
 */
int replcheck_wait_synced(int tandem_port, int timeout_ms, char *report,
                          size_t len);

/* The same for the one replica on replica_port only. */
int replcheck_wait_replica_synced(int tandem_port, int replica_port,
                                  int timeout_ms, char *report, size_t len);

/*
 * Copies tandem's INFO replication line of the replica on replica_port
 * ("ip=...,port=...,state=...,...") into line. Returns 0, or -1 when
 * there is no such line.
 */
int replcheck_slave_line(int tandem_port, int replica_port, char *line,
                         size_t len);

/* Value of field (e.g. "state", "lag_bytes") in a slave line, into out.
 * Returns 0, or -1 when the field is absent. */
int replcheck_line_field(const char *line, const char *field, char *out,
                         size_t len);

/*
 * Waits (bounded) until the replica on replica_port shows state (e.g.
 * "needs-seed") in tandem's INFO replication. Returns 0, or -1 at the
 * timeout (line then holds the last line seen).
 */
int replcheck_wait_slave_state(int tandem_port, int replica_port,
                               const char *state, int timeout_ms,
                               char *line, size_t len);

/* master_repl_offset of tandem's INFO replication, or -1. */
long long replcheck_stream_offset(int tandem_port);

/*
 * Starts redis-server on exactly this port and directory (the directory
 * must exist; its data, e.g. an AOF, is loaded), with the harness's
 * defaults (bind 127.0.0.1, no RDB saves, appendonly no) then the extra
 * "--directive value" words (NULL-terminated, may be NULL). Its output is
 * appended to dir/out.log. Waits until it answers PING (+PONG). Retries
 * a few times while the port is still being released. Returns 0 or -1.
 * harness_stop() stops it (and removes dir).
 */
int replcheck_start_redis_at(struct proc *p, int port, const char *dir,
                             const char *const *extra);

/* replcheck_start_redis_at on p's own port and directory: the server p
 * stood for (killed and reaped by the test) starts again and loads what
 * it saved there. Returns 0 or -1. */
int replcheck_restart_redis(struct proc *p, const char *const *extra);

/* Number of lines of the file that contain needle (-1: unreadable). */
int replcheck_count_in_file(const char *path, const char *needle);

/* Monotonic milliseconds, and a sleep. */
long long replcheck_now_ms(void);
void replcheck_sleep_ms(int ms);

/* ---- added for the seed suite ---- */

/* What tandem logs when a seed completes: "Replica <spec> seeded: N keys,
 * B bytes in T s; online at offset O". */
struct replcheck_seeded {
    long long keys;
    long long bytes;
    double    secs;
    long long offset;
};

/*
 * Reads tandem's log and counts the "Replica <spec> seeded: ..." lines;
 * last (may be NULL) gets the fields of the last one. Returns the count
 * (0: none yet), or -1 when the log can't be read.
 */
int replcheck_seeded_lines(const char *log, const char *spec,
                           struct replcheck_seeded *last);

/*
 * One replica's line of TANDEM REPLICAS ("<spec> ip=...,port=...,...")
 * from tandem on tandem_port, matched by the replica's port, copied
 * without the spec (so replcheck_line_field reads it). Returns 0, or -1
 * when there is no such line or the command failed.
 */
int replcheck_replicas_line(int tandem_port, int replica_port, char *line,
                            size_t len);

/* A numeric field of a replica line (replcheck_line_field), or dflt when
 * the field is absent. */
double replcheck_line_number(const char *line, const char *field,
                             double dflt);

/* Removes a directory left by a process that is gone (e.g. a replica
 * killed and restarted in a new directory), unless TANDEM_KEEP_TEST_DIRS
 * is set. Only paths under /tmp/tandem-test- are removed. */
void replcheck_remove_dir(const char *dir);

/* ---- the fleet: a primary, its replicas and tandem in front ---- */

/* Room for more replicas than any suite's fleet has today (two). */
#define FLEET_MAX_REPLICAS 4

/* The processes of one test. Zeroed by fleet_start_servers; a test may
 * replace a replica's proc (a restart on the same port) and the stop
 * helpers stop whatever is there. */
struct fleet {
    struct proc primary;
    struct proc replica[FLEET_MAX_REPLICAS];
    int         nreplicas;
    struct proc tandem;                       /* pid 0 until started */
    char        spec[FLEET_MAX_REPLICAS][64]; /* "127.0.0.1:port" */
};

/* Replicas reported online by fleet_start within this time, or it fails
 * the test. */
#define FLEET_ONLINE_MS 10000

/*
 * Starts the primary and nreplicas empty replicas, the replicas with the
 * extra "--directive value" words (NULL-terminated, may be NULL), and
 * fills their specs. Tandem is not started: a test that needs data on
 * the primary first (to be seeded) loads it, then fleet_start_tandem.
 */
void fleet_start_servers(struct fleet *f, int nreplicas,
                         const char *const *replica_extra);

/*
 * Starts tandem in front of the primary with every replica ("--replica
 * spec" each) then the extra arguments (NULL-terminated, may be NULL),
 * and waits until its pipe is up. When wait_online_ms > 0, also waits
 * until every replica is online with nothing to catch up (the logs are
 * printed and the test fails when they are not in time).
 */
void fleet_start_tandem(struct fleet *f, const char *const *tandem_extra,
                        int wait_online_ms);

/* Both: an empty fleet whose replicas are online (FLEET_ONLINE_MS). */
void fleet_start(struct fleet *f, int nreplicas,
                 const char *const *replica_extra,
                 const char *const *tandem_extra);

/* Prints the logs of tandem and of every replica (for a failed test). */
void fleet_dump_logs(const struct fleet *f);

/*
 * Stops tandem with SIGTERM and removes its directory. Returns its exit
 * status: 0 when it was not running, 128+N when signal N ended it, -1
 * when it did not exit within 10 s (it is then killed), -2 when it
 * exited 0 but its log shows a sanitizer report. Its log is printed
 * whenever the result is not 0.
 */
int replcheck_stop_tandem(struct proc *tandem);

/* replcheck_stop_tandem for the fleet's tandem, after SIGCONT to every
 * replica so that none a test stopped holds tandem's shutdown up. */
int fleet_stop_tandem(struct fleet *f);

/* Stops by PID whatever of the fleet is still running (tandem with
 * SIGTERM, then SIGKILL after 5 s, without judging how it exited), the
 * replicas, then the primary, and removes their directories. */
void fleet_stop(struct fleet *f);

/* A teardown: fleet_stop_tandem, fleet_stop, then fails the test unless
 * tandem's result was 0. */
void fleet_teardown(struct fleet *f);

/* Commands for tests, failing the test when the reply is not what the
 * name says. cmd_str copies a bulk or status ("(nil)" for nil, "-..."
 * for an error). */
redisReply *cmd(redisContext *c, const char *fmt, ...);
void cmd_status(redisContext *c, const char *want, const char *fmt, ...);
long long cmd_int(redisContext *c, const char *fmt, ...);
void cmd_str(redisContext *c, char *out, size_t len, const char *fmt, ...);

#endif

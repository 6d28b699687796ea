/*
 * info.c -- INFO sections:
 *
 *   # Server       version, process, ports, uptime
 *   # Clients      connected clients and limits
 *   # Memory       tandem's own memory (RSS), not the dataset's
 *   # Stats        the counters of stats.h
 *   # Primary      the pipe: link state, backend version, queue depths
 *   # Replication  tandem's stream as a master describes its own
 */
#include "info.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "failover.h"
#include "guard.h"
#include "client.h"
#include "replica.h"
#include "server.h"
#include "version.h"
#include "wait.h"
#include "watch.h"
#include "block.h"

static void
add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
    buf_append(b, "\r\n", 2);
}

static size_t
rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    unsigned long resident = 0;

    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%lu %lu", &pages, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void
section_server(struct buf *b)
{
    struct utsname u;
    int64_t uptime = (td_ustime() / 1000000) - srv.start_time;

    uname(&u);
    add(b, "# Server");
    add(b, "redis_version:%s", srv.pipe.redis_version[0] != '\0'
                                   ? srv.pipe.redis_version : "7.0.0");
    add(b, "tandem_version:%s", TANDEM_VERSION);
    add(b, "redis_mode:standalone");
    add(b, "os:%s %s %s", u.sysname, u.release, u.machine);
    add(b, "arch_bits:%d", (int)(sizeof(void *) * 8));
    add(b, "multiplexing_api:libev");
    add(b, "process_id:%d", (int)getpid());
    add(b, "run_id:%s", srv.run_id);
    add(b, "tcp_port:%lld", srv.cfg.port);
    add(b, "uptime_in_seconds:%lld", (long long)uptime);
    add(b, "uptime_in_days:%lld", (long long)(uptime / 86400));
    add(b, "executable:%s", srv.executable != NULL ? srv.executable : "");
    add(b, "config_file:%s", srv.cfg.file != NULL ? srv.cfg.file : "");
}

static void
section_clients(struct buf *b)
{
    add(b, "# Clients");
    add(b, "connected_clients:%llu", (unsigned long long)srv.nclients);
    add(b, "maxclients:%lld", srv.cfg.maxclients);
    add(b, "blocked_clients:%zu", wait_count() + block_count());
    add(b, "watching_clients:%zu", watch_clients());
}

static void
section_memory(struct buf *b)
{
    struct rusage ru;
    size_t rss = rss_bytes();
    size_t peak;

    getrusage(RUSAGE_SELF, &ru);
    peak = TD_MAX((size_t)ru.ru_maxrss * 1024, rss);
    add(b, "# Memory");
    add(b, "used_memory_rss:%zu", rss);
    add(b, "used_memory_peak_rss:%zu", peak);
    add(b, "pipe_output_buffer:%zu", srv.pipe.out.cap);
    add(b, "pipe_input_buffer:%zu", srv.pipe.conn.in.cap);
}

static void
section_stats(struct buf *b)
{
    add(b, "# Stats");
#define X(field, name, help) \
    add(b, "%s:%llu", name, (unsigned long long)srv.stats.field);
    STATS_LIST(X)
#undef X
}

static void
section_primary(struct buf *b)
{
    const struct pipe *p = &srv.pipe;

    add(b, "# Primary");
    add(b, "primary_host:%s", srv.cfg.primary.host);
    add(b, "primary_port:%lld", (long long)srv.cfg.primary.port);
    add(b, "primary_link_status:%s",
        guard_holding() ? "held" : conn_state_name(p->conn.state));
    add(b, "primary_link_up_since_seconds:%lld",
        p->conn.state == CONN_UP
            ? (long long)((td_mstime() - p->conn.up_since) / 1000)
            : -1LL);
    add(b, "primary_redis_version:%s", p->redis_version);
    add(b, "primary_run_id:%s", p->run_id);
    add(b, "primary_databases:%lld", p->databases);
    add(b, "primary_commands_known:%zu", p->table.ncmds);
    add(b, "primary_last_error:%s", p->conn.last_error);
    add(b, "pipe_inflight:%zu", p->slots.count);
    add(b, "pipe_pending_bytes:%zu", p->out.len);
    guard_info(b);
    failover_info(b);
}

static void
section_replication(struct buf *b)
{
    const struct stream *s = &srv.stream;

    add(b, "# Replication");
    add(b, "role:master");
    replica_info(b);
    add(b, "master_failover_state:no-failover");
    add(b, "master_replid:%s", s->id);
    add(b, "master_replid2:0000000000000000000000000000000000000000");
    add(b, "master_repl_offset:%llu",
        (unsigned long long)stream_offset(s));
    add(b, "second_repl_offset:-1");
    add(b, "repl_backlog_active:%d", srv.cfg.nreplicas > 0);
    add(b, "repl_backlog_size:%lld", srv.cfg.backlog_size);
    add(b, "repl_backlog_first_byte_offset:%llu",
        (unsigned long long)s->backlog.start + 1);
    add(b, "repl_backlog_histlen:%llu",
        (unsigned long long)(s->backlog.end - s->backlog.start));
    add(b, "tandem_stream_commands:%llu", (unsigned long long)s->commands);
}

struct section {
    const char *name;
    void       (*fn)(struct buf *b);
};

static const struct section sections[] = {
    {"server", section_server},
    {"clients", section_clients},
    {"memory", section_memory},
    {"stats", section_stats},
    {"primary", section_primary},
    {"replication", section_replication},
};

#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

void
info_generate(struct buf *out, size_t argc, const struct resp_arg *argv)
{
    int want[NSECTIONS];
    int first = 1;
    size_t i;
    size_t j;

    for (j = 0; j < NSECTIONS; j++) {
        want[j] = argc == 0;
    }
    for (i = 0; i < argc; i++) {
        int every = td_slice_eq(argv[i].ptr, argv[i].len, "all") ||
                    td_slice_eq(argv[i].ptr, argv[i].len, "default") ||
                    td_slice_eq(argv[i].ptr, argv[i].len, "everything");

        for (j = 0; j < NSECTIONS; j++) {
            if (every ||
                td_slice_eq(argv[i].ptr, argv[i].len, sections[j].name)) {
                want[j] = 1;
            }
        }
    }
    for (j = 0; j < NSECTIONS; j++) {
        if (!want[j]) {
            continue;
        }
        if (!first) {
            buf_append(out, "\r\n", 2);
        }
        first = 0;
        sections[j].fn(out);
    }
}

/*
 * stats.h -- tandem's counters, declared once. The same list feeds the
 * struct, INFO's # Stats section and the documentation.
 *
 *   X(field, info name, help)
 */
#ifndef TD_STATS_H
#define TD_STATS_H

#include <stdint.h>

#define STATS_LIST(X)                                                        \
    X(connections_received, "total_connections_received",                    \
      "client connections accepted")                                         \
    X(commands_processed, "total_commands_processed",                        \
      "client commands parsed and dispatched")                               \
    X(commands_forwarded, "total_commands_forwarded",                        \
      "client commands sent to the primary on the pipe")                     \
    X(net_input_bytes, "total_net_input_bytes",                              \
      "bytes read from clients")                                             \
    X(net_output_bytes, "total_net_output_bytes",                            \
      "bytes written to clients")                                            \
    X(rejected_connections, "rejected_connections",                          \
      "connections refused over maxclients")                                 \
    X(error_replies, "total_error_replies",                                  \
      "error replies produced by tandem itself")                             \
    X(protocol_errors, "total_protocol_errors",                              \
      "clients closed for malformed RESP")                                   \
    X(client_qbuf_limit_disconnections,                                      \
      "client_query_buffer_limit_disconnections",                            \
      "clients closed over client-query-buffer-limit")                       \
    X(client_obuf_limit_disconnections,                                      \
      "client_output_buffer_limit_disconnections",                           \
      "clients closed over client-output-buffer-limit")                      \
    X(client_timeouts, "client_idle_timeouts",                               \
      "clients closed after timeout seconds idle")                           \
    X(reads_primary, "reads_served_by_primary",                              \
      "read-only commands sent to the primary")                              \
    X(reads_replicas, "reads_served_by_replicas",                            \
      "read-only commands sent to a replica's read connection")              \
    X(tls_connections, "tls_connections_received",                          \
      "client connections accepted on tls-port")                             \
    X(tls_handshake_failures, "tls_handshake_failures",                      \
      "client TLS handshakes that failed (untrusted or missing "             \
      "certificates, plain-text clients on tls-port)")                       \
    X(pipe_connects, "primary_connects", "successful pipe handshakes")       \
    X(pipe_disconnects, "primary_disconnects", "pipe connections lost")      \
    X(pipe_failed_requests, "primary_failed_requests",                       \
      "requests answered with an error because the pipe was lost")           \
    X(pipe_writes, "primary_write_syscalls",                                 \
      "write calls on the pipe (batching makes this << commands)")          \
    X(keys_expired_seen, "primary_expired_keys",                             \
      "expired keyevents received from the primary")                         \
    X(keys_evicted_seen, "primary_evicted_keys",                             \
      "evicted keyevents received from the primary")                         \
    X(lost_write_transfers, "lost_write_transfers",                       \
      "keys transferred because a write naming them was in flight when "   \
      "the pipe to the primary was lost")                                  \
    X(keyevent_transfers, "keyevent_transfers",                              \
      "keys transferred to the replicas after such an event (I12 b)")     \
    X(replica_reply_differences, "replica_reply_differences",               \
      "replies of a replica to teed writes that differed from what the "   \
      "primary answered (I12 a)")                                          \
    X(replica_repairs, "replica_repairs",                                  \
      "keys transferred to the replicas because a reply differed")        \
    X(verify_keys_checked, "verify_keys_checked",                            \
      "keys compared by the verifier, TANDEM CHECK (I12 c)")                 \
    X(verify_differences, "verify_differences",                              \
      "keys found different on a replica by the verifier (one per "          \
      "replica)")                                                            \
    X(verify_repairs, "verify_repairs",                                      \
      "keys the verifier transferred to the replicas to repair them")

struct stats {
#define X(field, name, help) uint64_t field;
    STATS_LIST(X)
#undef X
};

#endif

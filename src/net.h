/*
 * net.h -- socket helpers (Redis's anet.c in spirit): they never log,
 * they fill the caller's error buffer.
 */
#ifndef TD_NET_H
#define TD_NET_H

#include <stddef.h>

#include "util.h"

/* Listening sockets, non-blocking. Return the fd or -1. */
int net_listen_tcp(const char *addr, int port, int backlog, char *err,
                   size_t errlen);
int net_listen_unix(const char *path, int perm, int backlog, char *err,
                    size_t errlen);

/* Starts a non-blocking TCP connect. Returns the fd (connected or in
 * progress) or -1. */
int net_connect_tcp(const char *host, int port, char *err, size_t errlen);

/* Returns 0 when a non-blocking connect completed, else the errno. */
int net_connect_result(int fd);

td_status net_set_nonblock(int fd) TD_WUR;
void net_set_nodelay(int fd);
void net_set_keepalive(int fd, int interval);

/* "ip:port" of the peer (or of our end when local is set); for a unix
 * socket, the path or "/unixsocket". */
void net_peer_name(int fd, int is_unix, char *dst, size_t len, int local);

#endif

/*
 * net.c -- listening, connecting and socket options.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

td_status
net_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        return TD_ERR;
    }
    return TD_OK;
}

void
net_set_nodelay(int fd)
{
    int yes = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
}

void
net_set_keepalive(int fd, int interval)
{
    int yes = 1;
    int idle = interval;
    int intvl = interval / 3 > 0 ? interval / 3 : 1;
    int cnt = 3;

    if (interval <= 0) {
        return;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof(yes));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

int
net_listen_tcp(const char *addr, int port, int backlog, char *err,
               size_t errlen)
{
    struct addrinfo hints;
    struct addrinfo *res;
    char portstr[16];
    int fd;
    int yes = 1;
    int rc;
    const char *host = addr;

    /* Redis's "-::1" (optional address) and "*" notations. */
    if (host[0] == '-') {
        host++;
    }
    if (strcmp(host, "*") == 0) {
        host = "0.0.0.0";
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "bad bind address %s: %s", addr,
                 gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (res->ai_family == AF_INET6) {
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof(yes));
    }
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
        listen(fd, backlog) < 0) {
        snprintf(err, errlen, "Could not create server TCP listening socket "
                 "%s:%d: %s", addr, port, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

int
net_listen_unix(const char *path, int perm, int backlog, char *err,
                size_t errlen)
{
    struct sockaddr_un sa;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "unix socket path too long: %s", path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, backlog) < 0) {
        snprintf(err, errlen, "Failed opening Unix socket %s: %s", path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (perm != 0) {
        (void)chmod(path, (mode_t)perm);
    }
    return fd;
}

int
net_connect_tcp(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints;
    struct addrinfo *res;
    struct addrinfo *ai;
    char portstr[16];
    int fd = -1;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "can't resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            errno == EINPROGRESS) {
            break;
        }
        snprintf(err, errlen, "connect to %s:%d: %s", host, port,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    if (fd < 0 && ai == NULL && res == NULL) {
        snprintf(err, errlen, "no address for %s", host);
    }
    freeaddrinfo(res);
    return fd;
}

int
net_connect_result(int fd)
{
    int error = 0;
    socklen_t len = sizeof(error);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0) {
        return errno;
    }
    return error;
}

void
net_peer_name(int fd, int is_unix, char *dst, size_t len, int local)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];
    int rc;

    rc = local ? getsockname(fd, (struct sockaddr *)&ss, &sl)
               : getpeername(fd, (struct sockaddr *)&ss, &sl);
    if (rc < 0) {
        snprintf(dst, len, "?:0");
        return;
    }
    if (is_unix || ss.ss_family == AF_UNIX) {
        struct sockaddr_un *sa = (struct sockaddr_un *)&ss;

        snprintf(dst, len, "%s:0",
                 sl > sizeof(sa_family_t) && sa->sun_path[0] != '\0'
                     ? sa->sun_path : "/unixsocket");
    } else if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sa = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
        snprintf(dst, len, "%s:%d", ip, ntohs(sa->sin_port));
    } else {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &sa->sin6_addr, ip, sizeof(ip));
        snprintf(dst, len, "%s:%d", ip, ntohs(sa->sin6_port));
    }
}

/*
 * echo_server: the bare HTTP/1.1 peer of the point benchmark. A blocking keep-alive server
 * with one thread per connection (the same model as cloved's HTTP API) that reads each
 * request (headers and Content-Length body) and answers with a small fixed JSON body of
 * about the size of a point-query answer. What it costs per request is the floor any HTTP
 * server on this machine pays: syscalls, loopback TCP and the thread wake-ups.
 *
 *   echo_server [--port P]      listens on 127.0.0.1:P (default: any free port) and prints
 *                               the port on stdout; runs until killed
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>

#include "bench_util.h"

#define PROG "echo_server"
#define REQ_MAX (1 << 16)

static const char BODY[] = "[{\"id\":123456,\"name\":\"name 123456\",\"amount\":30864.0,"
                           "\"category\":56,\"created\":\"2024-01-02 10:17:36\"}]";
static char g_resp[512];
static size_t g_resp_len;

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Value of header `name` (lower case) in the header block [h, e), or NULL. */
static const char *header(const char *h, const char *e, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = memmem(h, (size_t)(e - h), "\r\n", 2);
    while (p && p + 2 < e) {
        p += 2;
        const char *eol = memmem(p, (size_t)(e - p), "\r\n", 2);
        if (!eol) eol = e;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
            const char *v = p + nl + 1;
            while (v < eol && *v == ' ') v++;
            *vlen = (size_t)(eol - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(REQ_MAX);
    size_t len = 0;
    if (!buf) goto out;
    for (;;) {
        char *hend;
        while (!(hend = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len == REQ_MAX) goto out;
            ssize_t n = read(fd, buf + len, REQ_MAX - len);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        size_t head = (size_t)(hend - buf) + 4, vlen = 0;
        const char *v = header(buf, hend + 2, "content-length", &vlen);
        size_t clen = v ? (size_t)strtoull(v, NULL, 10) : 0;
        bool close_after = false;
        if ((v = header(buf, hend + 2, "connection", &vlen)) && vlen >= 5 &&
            !strncasecmp(v, "close", 5))
            close_after = true;
        if (head + clen > REQ_MAX) goto out;
        while (len < head + clen) {
            ssize_t n = read(fd, buf + len, REQ_MAX - len);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        if (write_all(fd, g_resp, g_resp_len) != 0 || close_after) goto out;
        memmove(buf, buf + head + clen, len - head - clen);
        len -= head + clen;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    int port = (int)bench_opt_ll(argc, argv, "--port", 0);
    g_resp_len = (size_t)snprintf(g_resp, sizeof g_resp,
                                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Content-Length: %zu\r\n\r\n%s",
                                  sizeof BODY - 1, BODY);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (ls < 0) bench_die(PROG, "socket: %s", strerror(errno));
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 256) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
        bench_die(PROG, "could not listen on 127.0.0.1:%d: %s", port, strerror(errno));
    printf("%d\n", ntohs(sa.sin_port));
    fflush(stdout);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            bench_die(PROG, "accept: %s", strerror(errno));
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, &attr, conn_main, (void *)(intptr_t)fd) != 0) close(fd);
    }
}

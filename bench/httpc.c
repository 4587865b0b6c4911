/*
 * httpc: the benchmarks' HTTP/1.1 client. Keep-alive connections over raw loopback sockets,
 * one thread per client, responses framed by Content-Length, chunked encoding or EOF. The
 * same client drives cloved and the bare echo server, so the difference between the two is
 * what the server does, not what the client does.
 *
 *   httpc freeport [N]          print N free 127.0.0.1 TCP ports (bound together: distinct)
 *   httpc wait  --port P [--path /v1/ready] [--timeout S] [--pid PID] [--interval-ms 1]
 *                               poll GET PATH every 1 ms (or INTERVAL) until 200; prints
 *                               ready_ms=
 *   httpc once  REQ             one request; prints the status and the body
 *   httpc lat   REQ [--n 10000] [--warmup 500] [--max-sec 10]
 *                               one client, sequential requests: p50/p99 latency
 *   httpc tput  REQ [--clients 2] [--sec 4] [--warmup-sec 0.5]
 *                               CLIENTS keep-alive clients for SEC seconds: requests/s
 *   httpc big   REQ [--pid PID] one request; counts body bytes and rows ('{'), MB/s
 *   httpc refresh --port P --metrics-port M --dataset NAME [--runs 1] [--body JSON]
 *                 [--poll-ms 5] [--timeout 300] [--pid PID]
 *                               RUNS times: POST /v1/datasets/NAME/acceleration/refresh, then
 *                               poll the metrics endpoint until the refresh histogram's count
 *                               for NAME grows; the refresh's own duration is the growth of
 *                               dataset_acceleration_refresh_duration_ms_sum, wall_ms is POST
 *                               to the poll that saw it done
 *   httpc refreshloop (same options, no --runs) [--sec S]
 *                               the same back to back until SIGTERM/SIGINT (or S seconds);
 *                               the refresh in progress is waited for, then the totals printed
 *
 * REQ: --port P [--path /v1/sql] [--sql TEXT] [--param-range R] [--check-id]
 *      [--accept application/json]. With --param-range R > 0 the body is the JSON
 *      {"sql": TEXT, "parameters": [N]} with N uniform in [0, R); otherwise the body is TEXT
 *      as text/plain. --check-id verifies that each answer holds "id": N.
 * Results are printed as key=value pairs on one line for run.sh.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>

#include "bench_util.h"

#define PROG "httpc"
#define BUF_SIZE (1 << 16)
#define STORE_SIZE 4096

/* ---- connection and response parsing -------------------------------------------------- */

typedef struct {
    int fd;
    size_t off, len; /* unread bytes are buf[off, len) */
    char buf[BUF_SIZE];
} conn_t;

typedef struct {
    int status;
    bool close;              /* the server will close the connection after this answer */
    uint64_t body_bytes;
    uint64_t braces;         /* '{' in the body when count_braces */
    bool count_braces;
    char store[STORE_SIZE];  /* first bytes of the body, NUL-terminated */
    size_t stored;
    int64_t first_byte_ns;
    bool capture;            /* keep the whole body in all (NUL-terminated) */
    char *all;
    size_t all_len, all_cap;
} resp_t;

static int conn_open(conn_t *c, int port)
{
    c->off = c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->off = c->len = 0;
}

/* Reads more bytes after the unread ones. Returns bytes read, 0 at EOF, -1 on error or when
 * the buffer is full of unread bytes (a header line longer than the buffer). */
static ssize_t conn_fill(conn_t *c)
{
    if (c->off == c->len) {
        c->off = c->len = 0;
    } else if (c->len == sizeof c->buf && c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof c->buf) return -1;
    ssize_t n;
    do {
        n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) c->len += (size_t)n;
    return n;
}

/* Next line without its CRLF; valid until the next read on c. NULL on EOF or error. */
static char *conn_line(conn_t *c, size_t *len)
{
    for (;;) {
        char *s = c->buf + c->off;
        char *e = memmem(s, c->len - c->off, "\r\n", 2);
        if (e) {
            *len = (size_t)(e - s);
            c->off += *len + 2;
            return s;
        }
        if (conn_fill(c) <= 0) return NULL;
    }
}

static int send_all(int fd, const char *p, size_t n)
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

static void sink(resp_t *r, const char *p, size_t n)
{
    r->body_bytes += n;
    if (r->capture) {
        if (r->all_len + n + 1 > r->all_cap) {
            size_t cap = r->all_cap ? r->all_cap : 65536;
            while (cap < r->all_len + n + 1) cap *= 2;
            r->all = realloc(r->all, cap);
            if (!r->all) bench_die(PROG, "out of memory");
            r->all_cap = cap;
        }
        memcpy(r->all + r->all_len, p, n);
        r->all_len += n;
        r->all[r->all_len] = '\0';
    }
    if (r->stored + 1 < sizeof r->store) {
        size_t k = sizeof r->store - 1 - r->stored;
        if (k > n) k = n;
        memcpy(r->store + r->stored, p, k);
        r->stored += k;
        r->store[r->stored] = '\0';
    }
    if (r->count_braces) {
        const char *e = p + n;
        while ((p = memchr(p, '{', (size_t)(e - p))) != NULL) {
            r->braces++;
            p++;
        }
    }
}

static int body_n(conn_t *c, resp_t *r, uint64_t n)
{
    while (n > 0) {
        if (c->off == c->len && conn_fill(c) <= 0) return -1;
        size_t avail = c->len - c->off;
        if (avail > n) avail = (size_t)n;
        sink(r, c->buf + c->off, avail);
        c->off += avail;
        n -= avail;
    }
    return 0;
}

static bool value_has(const char *v, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (!strncasecmp(v + i, word, w)) return true;
    return false;
}

/* Reads one whole response. Returns 0, or -1 when the connection failed or the answer is
 * not HTTP. */
static int read_response(conn_t *c, resp_t *r, bool head_only)
{
    r->status = 0;
    r->close = false;
    r->body_bytes = r->braces = 0;
    r->stored = 0;
    r->store[0] = '\0';
    r->all_len = 0;
    if (r->all) r->all[0] = '\0';
    size_t len;
    char *line = conn_line(c, &len);
    if (!line) return -1;
    r->first_byte_ns = bench_now_ns();
    if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0) return -1;
    r->close = line[7] == '0';
    r->status = atoi(line + 9);
    int64_t clen = -1;
    bool chunked = false;
    for (;;) {
        if (!(line = conn_line(c, &len))) return -1;
        if (len == 0) break;
        char *colon = memchr(line, ':', len);
        if (!colon) continue;
        size_t nl = (size_t)(colon - line), vl = len - nl - 1;
        const char *v = colon + 1;
        if (nl == 14 && !strncasecmp(line, "content-length", 14)) clen = strtoll(v, NULL, 10);
        else if (nl == 17 && !strncasecmp(line, "transfer-encoding", 17))
            chunked = value_has(v, vl, "chunked");
        else if (nl == 10 && !strncasecmp(line, "connection", 10)) {
            if (value_has(v, vl, "close")) r->close = true;
            else if (value_has(v, vl, "keep-alive")) r->close = false;
        }
    }
    if (head_only || r->status == 204 || r->status == 304) return 0;
    if (chunked) {
        for (;;) {
            if (!(line = conn_line(c, &len))) return -1;
            char *end;
            uint64_t sz = strtoull(line, &end, 16);
            if (end == line) return -1;
            if (sz == 0) {
                do {
                    if (!(line = conn_line(c, &len))) return -1;
                } while (len != 0);
                break;
            }
            if (body_n(c, r, sz) != 0) return -1;
            if (!(line = conn_line(c, &len)) || len != 0) return -1;
        }
    } else if (clen >= 0) {
        if (body_n(c, r, (uint64_t)clen) != 0) return -1;
    } else {
        for (;;) {
            if (c->off < c->len) {
                sink(r, c->buf + c->off, c->len - c->off);
                c->off = c->len;
            }
            ssize_t n = conn_fill(c);
            if (n == 0) break;
            if (n < 0) return -1;
        }
        r->close = true;
    }
    return 0;
}

/* ---- requests ---------------------------------------------------------------------------- */

typedef struct {
    int port;
    const char *path;
    const char *accept;
    const char *sql;
    char *sql_json;          /* sql as a JSON string literal */
    long long param_range;
    bool check_id;
    bool count_braces;
} spec_t;

static char *json_string(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 6 + 3), *o = out;
    if (!out) bench_die(PROG, "out of memory");
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static void spec_parse(spec_t *s, int argc, char **argv)
{
    memset(s, 0, sizeof *s);
    s->port = (int)bench_opt_ll(argc, argv, "--port", 0);
    if (s->port <= 0) bench_die(PROG, "--port is required");
    s->path = bench_opt(argc, argv, "--path", "/v1/sql");
    s->accept = bench_opt(argc, argv, "--accept", "application/json");
    s->sql = bench_opt(argc, argv, "--sql", "SELECT 1");
    s->sql_json = json_string(s->sql);
    s->param_range = bench_opt_ll(argc, argv, "--param-range", 0);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--check-id")) s->check_id = true;
}

/* Builds the request; returns its length. *id receives the parameter sent (or -1). */
static size_t build_request(const spec_t *s, char *out, size_t cap, uint64_t *seed,
                            long long *id)
{
    char body[4096];
    int bl;
    const char *ctype;
    *id = -1;
    if (s->param_range > 0) {
        *id = (long long)(bench_rand(seed) % (uint64_t)s->param_range);
        bl = snprintf(body, sizeof body, "{\"sql\":%s,\"parameters\":[%lld]}", s->sql_json, *id);
        ctype = "application/json";
    } else {
        bl = snprintf(body, sizeof body, "%s", s->sql);
        ctype = "text/plain";
    }
    if (bl < 0 || (size_t)bl >= sizeof body) bench_die(PROG, "request body too long");
    int n = snprintf(out, cap,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\n"
                     "Accept: %s\r\nContent-Length: %d\r\n\r\n%s",
                     s->path, s->port, ctype, s->accept, bl, body);
    if (n < 0 || (size_t)n >= cap) bench_die(PROG, "request too long");
    return (size_t)n;
}

static bool body_has_id(const char *b, long long id)
{
    const char *p = strstr(b, "\"id\"");
    if (!p) return false;
    p += 4;
    while (*p == ' ' || *p == ':') p++;
    char *end;
    long long v = strtoll(p, &end, 10);
    return end != p && v == id;
}

/* ---- one client --------------------------------------------------------------------------- */

typedef struct {
    const spec_t *spec;
    uint64_t seed;
    conn_t conn;
    resp_t resp;
    char req[8192];
    int64_t *lat;            /* latencies recorded in the measured window */
    size_t n_lat, cap_lat;
    uint64_t done, errors, bad, reconnects, failures;
    char first_error[600];
    /* tput */
    int64_t win_start, win_end;
    uint64_t in_window;
    long long max_req;
    pthread_barrier_t *barrier;
} client_t;

static void client_init(client_t *cl, const spec_t *spec, uint64_t seed)
{
    memset(cl, 0, sizeof *cl);
    cl->spec = spec;
    cl->seed = seed * 0x9E3779B97F4A7C15ULL + 1;
    cl->conn.fd = -1;
    cl->resp.count_braces = spec->count_braces;
}

static void note_error(client_t *cl, const char *what, long long id)
{
    if (cl->first_error[0]) return;
    snprintf(cl->first_error, sizeof cl->first_error, "%s (id %lld, status %d): %.400s", what,
             id, cl->resp.status, cl->resp.store);
}

/* One request on the keep-alive connection, reconnecting when the server closed it.
 * Returns the latency in ns, or -1 when the server could not be reached at all. */
static int64_t client_do(client_t *cl)
{
    long long id;
    size_t n = build_request(cl->spec, cl->req, sizeof cl->req, &cl->seed, &id);
    int64_t t0 = 0;
    bool answered = false;
    for (int attempt = 0; attempt < 2 && !answered; attempt++) {
        if (cl->conn.fd < 0) {
            if (conn_open(&cl->conn, cl->spec->port) != 0) break;
            if (cl->done > 0 || attempt > 0) cl->reconnects++;
        }
        t0 = bench_now_ns();
        answered = send_all(cl->conn.fd, cl->req, n) == 0 &&
                   read_response(&cl->conn, &cl->resp, false) == 0;
        if (!answered) conn_close(&cl->conn);
    }
    if (!answered) {
        cl->failures++;
        return -1;
    }
    int64_t dt = bench_now_ns() - t0;
    cl->done++;
    if (cl->resp.close) conn_close(&cl->conn);
    if (cl->resp.status != 200) {
        cl->errors++;
        note_error(cl, "non-200 answer", id);
    } else if (cl->spec->check_id && !body_has_id(cl->resp.store, id)) {
        cl->bad++;
        note_error(cl, "answer without the requested id", id);
    }
    return dt;
}

static void record(client_t *cl, int64_t dt)
{
    if (cl->n_lat == cl->cap_lat) {
        cl->cap_lat = cl->cap_lat ? cl->cap_lat * 2 : 16384;
        cl->lat = realloc(cl->lat, cl->cap_lat * sizeof *cl->lat);
        if (!cl->lat) bench_die(PROG, "out of memory");
    }
    cl->lat[cl->n_lat++] = dt;
}

static void print_latencies(int64_t *lat, size_t n)
{
    qsort(lat, n, sizeof *lat, bench_cmp_i64);
    printf("n=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f", n,
           (double)bench_pct(lat, n, 0.50) / 1e3, (double)bench_pct(lat, n, 0.90) / 1e3,
           (double)bench_pct(lat, n, 0.99) / 1e3, (double)bench_pct(lat, n, 0.999) / 1e3,
           n ? (double)lat[n - 1] / 1e3 : 0.0, bench_mean(lat, n) / 1e3);
}

/* ---- subcommands --------------------------------------------------------------------------- */

static int cmd_freeport(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 1;
    if (n < 1 || n > 16) bench_die(PROG, "freeport: 1..16 ports");
    int fds[16];
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof sa;
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&sa, &sl) != 0)
            bench_die(PROG, "freeport: %s", strerror(errno));
        printf("%s%d", i ? " " : "", ntohs(sa.sin_port));
    }
    printf("\n");
    for (int i = 0; i < n; i++) close(fds[i]);
    return 0;
}

static bool pid_alive(pid_t pid)
{
    char path[64], st[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(st, 1, sizeof st - 1, f);
    fclose(f);
    st[n] = '\0';
    const char *p = strrchr(st, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static int cmd_wait(int argc, char **argv)
{
    int port = (int)bench_opt_ll(argc, argv, "--port", 0);
    const char *path = bench_opt(argc, argv, "--path", "/v1/ready");
    double timeout = bench_opt_d(argc, argv, "--timeout", 60);
    pid_t pid = (pid_t)bench_opt_ll(argc, argv, "--pid", 0);
    int64_t interval_ms = bench_opt_ll(argc, argv, "--interval-ms", 1);
    if (port <= 0 || interval_ms < 1) bench_die(PROG, "wait: --port is required");
    static conn_t c;
    static resp_t r;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    int64_t t0 = bench_now_ns(), end = t0 + (int64_t)(timeout * 1e9);
    int last = 0;
    while (bench_now_ns() < end) {
        if (pid && !pid_alive(pid)) bench_die(PROG, "wait: process %d exited", (int)pid);
        if (conn_open(&c, port) == 0) {
            if (send_all(c.fd, req, (size_t)n) == 0 && read_response(&c, &r, false) == 0) {
                last = r.status;
                if (r.status == 200) {
                    conn_close(&c);
                    printf("ready_ms=%.1f\n", (double)(bench_now_ns() - t0) / 1e6);
                    return 0;
                }
            }
            conn_close(&c);
        }
        bench_sleep_ns(interval_ms * 1000000);
    }
    fprintf(stderr, "%s: wait: %s on port %d not 200 after %.0f s (last status %d)\n", PROG, path,
            port, timeout, last);
    return 1;
}

static int cmd_once(int argc, char **argv)
{
    spec_t s;
    spec_parse(&s, argc, argv);
    static client_t cl;
    client_init(&cl, &s, 42);
    int64_t dt = client_do(&cl);
    if (dt < 0) bench_die(PROG, "could not reach 127.0.0.1:%d", s.port);
    printf("status=%d bytes=%llu ms=%.2f body=%s\n", cl.resp.status,
           (unsigned long long)cl.resp.body_bytes, (double)dt / 1e6, cl.resp.store);
    conn_close(&cl.conn);
    return cl.errors || cl.bad ? 1 : 0;
}

static int cmd_lat(int argc, char **argv)
{
    spec_t s;
    spec_parse(&s, argc, argv);
    long long n = bench_opt_ll(argc, argv, "--n", 10000);
    long long warm = bench_opt_ll(argc, argv, "--warmup", 500);
    double max_sec = bench_opt_d(argc, argv, "--max-sec", 10);
    static client_t cl;
    client_init(&cl, &s, (uint64_t)bench_opt_ll(argc, argv, "--seed", 1));
    for (long long i = 0; i < warm; i++)
        if (client_do(&cl) < 0) bench_die(PROG, "could not reach 127.0.0.1:%d", s.port);
    int64_t end = bench_now_ns() + (int64_t)(max_sec * 1e9);
    for (long long i = 0; i < n && bench_now_ns() < end; i++) {
        int64_t dt = client_do(&cl);
        if (dt < 0) bench_die(PROG, "lost 127.0.0.1:%d", s.port);
        record(&cl, dt);
    }
    conn_close(&cl.conn);
    print_latencies(cl.lat, cl.n_lat);
    printf(" errors=%llu bad=%llu reconnects=%llu\n", (unsigned long long)cl.errors,
           (unsigned long long)cl.bad, (unsigned long long)cl.reconnects);
    if (cl.first_error[0]) fprintf(stderr, "%s: first error: %s\n", PROG, cl.first_error);
    free(cl.lat);
    return 0;
}

static void *tput_main(void *arg)
{
    client_t *cl = arg;
    pthread_barrier_wait(cl->barrier);
    for (long long i = 0; i < cl->max_req; i++) {
        int64_t now = bench_now_ns();
        if (now >= cl->win_end) break;
        int64_t dt = client_do(cl);
        if (dt < 0) break;
        int64_t done_at = bench_now_ns();
        if (done_at >= cl->win_start && done_at < cl->win_end) {
            cl->in_window++;
            record(cl, dt);
        }
    }
    conn_close(&cl->conn);
    return NULL;
}

static int cmd_tput(int argc, char **argv)
{
    spec_t s;
    spec_parse(&s, argc, argv);
    int clients = (int)bench_opt_ll(argc, argv, "--clients", 2);
    double sec = bench_opt_d(argc, argv, "--sec", 4);
    double warm = bench_opt_d(argc, argv, "--warmup-sec", 0.5);
    long long max_req = bench_opt_ll(argc, argv, "--max-req", 5000000);
    if (clients < 1 || clients > 256 || sec <= 0) bench_die(PROG, "tput: bad --clients/--sec");
    client_t *cls = calloc((size_t)clients, sizeof *cls);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    if (!cls || !th) bench_die(PROG, "out of memory");
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)clients + 1);
    for (int i = 0; i < clients; i++) {
        client_init(&cls[i], &s, (uint64_t)i + 7);
        cls[i].barrier = &barrier;
        cls[i].max_req = max_req;
        if (conn_open(&cls[i].conn, s.port) != 0)
            bench_die(PROG, "could not reach 127.0.0.1:%d", s.port);
    }
    int64_t t0 = bench_now_ns() + 20000000; /* threads are created within 20 ms */
    for (int i = 0; i < clients; i++) {
        cls[i].win_start = t0 + (int64_t)(warm * 1e9);
        cls[i].win_end = cls[i].win_start + (int64_t)(sec * 1e9);
        if (pthread_create(&th[i], NULL, tput_main, &cls[i]) != 0)
            bench_die(PROG, "could not start client threads");
    }
    pthread_barrier_wait(&barrier);
    uint64_t total = 0, errors = 0, bad = 0, reconnects = 0, failures = 0;
    size_t n_lat = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += cls[i].in_window;
        errors += cls[i].errors;
        bad += cls[i].bad;
        reconnects += cls[i].reconnects;
        failures += cls[i].failures;
        n_lat += cls[i].n_lat;
    }
    int64_t *all = malloc((n_lat ? n_lat : 1) * sizeof *all);
    if (!all) bench_die(PROG, "out of memory");
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, cls[i].lat, cls[i].n_lat * sizeof *all);
        k += cls[i].n_lat;
        if (cls[i].first_error[0])
            fprintf(stderr, "%s: client %d first error: %s\n", PROG, i, cls[i].first_error);
        free(cls[i].lat);
    }
    printf("clients=%d rps=%.0f ", clients, (double)total / sec);
    print_latencies(all, n_lat);
    printf(" errors=%llu bad=%llu reconnects=%llu failures=%llu\n", (unsigned long long)errors,
           (unsigned long long)bad, (unsigned long long)reconnects, (unsigned long long)failures);
    free(all);
    free(cls);
    free(th);
    pthread_barrier_destroy(&barrier);
    return failures ? 1 : 0;
}

static int cmd_big(int argc, char **argv)
{
    spec_t s;
    spec_parse(&s, argc, argv);
    s.count_braces = true;
    pid_t pid = (pid_t)bench_opt_ll(argc, argv, "--pid", 0);
    static client_t cl;
    client_init(&cl, &s, 1);
    long rss_before = pid ? bench_status_kb(pid, "VmRSS") : -1;
    int64_t t0 = bench_now_ns();
    int64_t dt = client_do(&cl);
    if (dt < 0) bench_die(PROG, "could not fetch the answer from 127.0.0.1:%d", s.port);
    double sec = (double)dt / 1e9;
    printf("status=%d bytes=%llu rows=%llu sec=%.3f ttfb_ms=%.1f mb_s=%.1f rss_before_kb=%ld "
           "hwm_kb=%ld\n",
           cl.resp.status, (unsigned long long)cl.resp.body_bytes,
           (unsigned long long)cl.resp.braces, sec, (double)(cl.resp.first_byte_ns - t0) / 1e6,
           (double)cl.resp.body_bytes / 1e6 / sec, rss_before,
           pid ? bench_status_kb(pid, "VmHWM") : -1L);
    if (cl.resp.status != 200)
        fprintf(stderr, "%s: answer %d: %.400s\n", PROG, cl.resp.status, cl.resp.store);
    conn_close(&cl.conn);
    return cl.resp.status == 200 ? 0 : 1;
}

/* ---- refresh -------------------------------------------------------------------------------- */

/* One request with an optional body on a keep-alive connection (reopened when closed).
 * Returns 0 with the answer in *r, -1 when the server could not be reached. */
static int simple_request(conn_t *c, int port, const char *method, const char *path,
                          const char *body, resp_t *r)
{
    char req[8192];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", method, path, port, bl, body ? body : "");
    if (n < 0 || (size_t)n >= sizeof req) bench_die(PROG, "request too long");
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && conn_open(c, port) != 0) return -1;
        if (send_all(c->fd, req, (size_t)n) == 0 && read_response(c, r, false) == 0) {
            if (r->close) conn_close(c);
            return 0;
        }
        conn_close(c);
    }
    return -1;
}

/* The value of one series (name plus its exact label set) in a Prometheus text answer;
 * 0 when absent (a histogram or counter not observed yet). */
static double metric_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, series, n) && p[n] == ' ') return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0;
}

typedef struct {
    int port, mport;
    const char *dataset;
    const char *body;
    int64_t poll_ns;
    double timeout;
    conn_t api, met;
    resp_t r;
    double last_loaded, last_rows;
    char path[512], s_count[512], s_sum[512], s_err[512], s_rows[512], s_loaded[512];
} refresher_t;

typedef struct {
    double count, sum, errors, rows, loaded;
} refresh_stats_t;

static void refresher_init(refresher_t *f, int argc, char **argv)
{
    memset(f, 0, sizeof *f);
    f->port = (int)bench_opt_ll(argc, argv, "--port", 0);
    f->mport = (int)bench_opt_ll(argc, argv, "--metrics-port", 0);
    f->dataset = bench_opt(argc, argv, "--dataset", NULL);
    f->body = bench_opt(argc, argv, "--body", NULL);
    f->poll_ns = (int64_t)(bench_opt_d(argc, argv, "--poll-ms", 5) * 1e6);
    f->timeout = bench_opt_d(argc, argv, "--timeout", 300);
    if (f->port <= 0 || f->mport <= 0 || !f->dataset)
        bench_die(PROG, "refresh: --port, --metrics-port and --dataset are required");
    f->api.fd = f->met.fd = -1;
    f->r.capture = true;
    snprintf(f->path, sizeof f->path, "/v1/datasets/%s/acceleration/refresh", f->dataset);
    snprintf(f->s_count, sizeof f->s_count,
             "dataset_acceleration_refresh_duration_ms_count{dataset=\"%s\"}", f->dataset);
    snprintf(f->s_sum, sizeof f->s_sum,
             "dataset_acceleration_refresh_duration_ms_sum{dataset=\"%s\"}", f->dataset);
    snprintf(f->s_err, sizeof f->s_err, "dataset_acceleration_refresh_errors_total{dataset=\"%s\"}",
             f->dataset);
    snprintf(f->s_rows, sizeof f->s_rows, "dataset_acceleration_rows{dataset=\"%s\"}", f->dataset);
    snprintf(f->s_loaded, sizeof f->s_loaded,
             "dataset_acceleration_refresh_rows_total{dataset=\"%s\"}", f->dataset);
}

static void refresher_stats(refresher_t *f, refresh_stats_t *st)
{
    if (simple_request(&f->met, f->mport, "GET", "/metrics", NULL, &f->r) != 0 ||
        f->r.status != 200)
        bench_die(PROG, "could not read the metrics on 127.0.0.1:%d (status %d)", f->mport,
                  f->r.status);
    const char *t = f->r.all ? f->r.all : "";
    st->count = metric_value(t, f->s_count);
    st->sum = metric_value(t, f->s_sum);
    st->errors = metric_value(t, f->s_err);
    st->rows = metric_value(t, f->s_rows);
    st->loaded = metric_value(t, f->s_loaded);
}

/* One refresh: POST, then poll the metrics until it is counted. *refresh_ms = its duration as
 * cloved measured it, *wall_ms = POST to seen done; f->last_loaded / f->last_rows are the rows
 * it loaded and the rows held after it. Returns 0, or 1 when the refresh failed. */
static int refresher_run(refresher_t *f, double *refresh_ms, double *wall_ms)
{
    refresh_stats_t a, b;
    refresher_stats(f, &a);
    int64_t t0 = bench_now_ns();
    if (simple_request(&f->api, f->port, "POST", f->path, f->body, &f->r) != 0)
        bench_die(PROG, "could not reach 127.0.0.1:%d", f->port);
    if (f->r.status != 201 && f->r.status != 200)
        bench_die(PROG, "POST %s: status %d: %.300s", f->path, f->r.status, f->r.store);
    int64_t end = t0 + (int64_t)(f->timeout * 1e9);
    for (;;) {
        refresher_stats(f, &b);
        if (b.count > a.count) break;
        if (bench_now_ns() > end)
            bench_die(PROG, "refresh of %s not done after %.0f s", f->dataset, f->timeout);
        bench_sleep_ns(f->poll_ns);
    }
    *wall_ms = (double)(bench_now_ns() - t0) / 1e6;
    *refresh_ms = (b.sum - a.sum) / (b.count - a.count);
    f->last_loaded = b.loaded - a.loaded;
    f->last_rows = b.rows;
    return b.errors > a.errors ? 1 : 0;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    if (n == 0) return 0;
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmd_refresh(int argc, char **argv)
{
    static refresher_t f;
    refresher_init(&f, argc, argv);
    int runs = (int)bench_opt_ll(argc, argv, "--runs", 1);
    pid_t pid = (pid_t)bench_opt_ll(argc, argv, "--pid", 0);
    if (runs < 1 || runs > 1000) bench_die(PROG, "refresh: --runs 1..1000");
    double *ms = calloc((size_t)runs, sizeof *ms), *wall = calloc((size_t)runs, sizeof *wall);
    if (!ms || !wall) bench_die(PROG, "out of memory");
    int errors = 0;
    double *loaded = calloc((size_t)runs, sizeof *loaded), *held = calloc((size_t)runs, sizeof *held);
    if (!loaded || !held) bench_die(PROG, "out of memory");
    for (int i = 0; i < runs; i++) {
        errors += refresher_run(&f, &ms[i], &wall[i]);
        loaded[i] = f.last_loaded;
        held[i] = f.last_rows;
    }
    printf("runs=%d refresh_ms=", runs);
    for (int i = 0; i < runs; i++) printf("%s%.1f", i ? "," : "", ms[i]);
    printf(" wall_ms=");
    for (int i = 0; i < runs; i++) printf("%s%.1f", i ? "," : "", wall[i]);
    printf(" loaded=");
    for (int i = 0; i < runs; i++) printf("%s%.0f", i ? "," : "", loaded[i]);
    printf(" held=");
    for (int i = 0; i < runs; i++) printf("%s%.0f", i ? "," : "", held[i]);
    free(loaded);
    free(held);
    double m = median_of(ms, runs), w = median_of(wall, runs);
    printf(" median_ms=%.1f wall_median_ms=%.1f errors=%d hwm_kb=%ld\n", m, w, errors,
           pid ? bench_status_kb(pid, "VmHWM") : -1L);
    conn_close(&f.api);
    conn_close(&f.met);
    free(ms);
    free(wall);
    return errors ? 1 : 0;
}

static volatile sig_atomic_t g_stop;
static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int cmd_refreshloop(int argc, char **argv)
{
    static refresher_t f;
    refresher_init(&f, argc, argv);
    double sec = bench_opt_d(argc, argv, "--sec", 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int64_t t0 = bench_now_ns(), end = sec > 0 ? t0 + (int64_t)(sec * 1e9) : INT64_MAX;
    size_t cap = 1024, n = 0;
    double *ms = malloc(cap * sizeof *ms), busy = 0;
    if (!ms) bench_die(PROG, "out of memory");
    int errors = 0;
    while (!g_stop && bench_now_ns() < end) {
        double r, w;
        errors += refresher_run(&f, &r, &w);
        if (n == cap) {
            cap *= 2;
            ms = realloc(ms, cap * sizeof *ms);
            if (!ms) bench_die(PROG, "out of memory");
        }
        ms[n++] = r;
        busy += r;
    }
    double total_ms = (double)(bench_now_ns() - t0) / 1e6;
    double mean = n ? busy / (double)n : 0;
    printf("refreshes=%zu refresh_mean_ms=%.1f refresh_median_ms=%.1f busy_pct=%.1f errors=%d "
           "sec=%.1f\n", n, mean, median_of(ms, (int)n), total_ms > 0 ? 100 * busy / total_ms : 0,
           errors, total_ms / 1e3);
    conn_close(&f.api);
    conn_close(&f.met);
    free(ms);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "freeport")) return cmd_freeport(argc, argv);
    if (!strcmp(cmd, "wait")) return cmd_wait(argc, argv);
    if (!strcmp(cmd, "once")) return cmd_once(argc, argv);
    if (!strcmp(cmd, "lat")) return cmd_lat(argc, argv);
    if (!strcmp(cmd, "tput")) return cmd_tput(argc, argv);
    if (!strcmp(cmd, "big")) return cmd_big(argc, argv);
    if (!strcmp(cmd, "refresh")) return cmd_refresh(argc, argv);
    if (!strcmp(cmd, "refreshloop")) return cmd_refreshloop(argc, argv);
    fprintf(stderr, "usage: httpc freeport|wait|once|lat|tput|big|refresh|refreshloop [options] "
                    "(see bench/httpc.c)\n");
    return 2;
}

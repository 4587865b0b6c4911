/*
 * startup: measures how long a program takes from exec to "ready", several times, each in a
 * fresh process, and what it holds in memory once idle.
 *
 *   startup --mode ready --runs 10 [--path /v1/ready] [--idle-ms 1000] [--log FILE] -- CMD...
 *       forks and execs CMD, polls GET PATH on 127.0.0.1:{PORT} every 1 ms until it answers
 *       200, waits idle-ms, reads VmRSS/VmHWM of the process, sends SIGTERM and times the exit.
 *       "{PORT}" and "{PORT2}" in CMD are replaced by fresh free ports for every run.
 *   startup --mode exit --runs 10 -- CMD...
 *       forks and execs CMD, which prints "loaded_mono_ns=T ... rss_kb=R hwm_kb=H" on stdout
 *       (duck_peer load); exec-to-loaded is T minus the fork time (CLOCK_MONOTONIC is one
 *       clock for every process).
 *
 * Prints one line per run on stderr and medians as key=value pairs on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bench_util.h"

#define PROG "startup"
#define MAX_RUNS 100

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        bench_die(PROG, "no free port: %s", strerror(errno));
    close(fd);
    return ntohs(sa.sin_port);
}

/* One GET on a fresh connection: the status code, 0 when nothing answered. */
static int http_status(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = 0, one = 1;
    if (fd < 0) return 0;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        char buf[512];
        int n = snprintf(buf, sizeof buf,
                         "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                         path, port);
        size_t len = 0;
        if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n) {
            while (len < sizeof buf - 1 && !memchr(buf, '\n', len)) {
                ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
                if (r <= 0) break;
                len += (size_t)r;
            }
            buf[len] = '\0';
            if (len >= 12 && !strncmp(buf, "HTTP/1.", 7)) status = atoi(buf + 9);
        }
    }
    close(fd);
    return status;
}

static char *subst(const char *arg, const char *key, int value)
{
    const char *p = strstr(arg, key);
    if (!p) return strdup(arg);
    char num[16];
    snprintf(num, sizeof num, "%d", value);
    size_t n = strlen(arg) - strlen(key) + strlen(num) + 1;
    char *out = malloc(n);
    if (!out) bench_die(PROG, "out of memory");
    snprintf(out, n, "%.*s%s%s", (int)(p - arg), arg, num, p + strlen(key));
    return out;
}

static int64_t median(int64_t *v, size_t n)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, bench_cmp_i64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Waits for pid up to timeout_ms; SIGKILLs it after that. Returns the wait status. */
static int reap(pid_t pid, int64_t timeout_ms)
{
    int st = 0;
    int64_t end = bench_now_ns() + timeout_ms * 1000000;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return st;
        if (r < 0) return -1;
        if (bench_now_ns() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -2;
        }
        bench_sleep_ns(200000);
    }
}

int main(int argc, char **argv)
{
    int dash = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            dash = i;
            break;
        }
    if (!dash || dash + 1 >= argc) bench_die(PROG, "usage: startup [options] -- CMD ARGS...");
    int oargc = dash; /* options are argv[1..dash) */
    const char *mode = bench_opt(oargc, argv, "--mode", "ready");
    const char *path = bench_opt(oargc, argv, "--path", "/v1/ready");
    const char *log = bench_opt(oargc, argv, "--log", "/dev/null");
    long long runs = bench_opt_ll(oargc, argv, "--runs", 10);
    long long idle_ms = bench_opt_ll(oargc, argv, "--idle-ms", 1000);
    double timeout_s = bench_opt_d(oargc, argv, "--timeout", 60);
    bool ready_mode = !strcmp(mode, "ready");
    if (runs < 1 || runs > MAX_RUNS) bench_die(PROG, "--runs: 1..%d", MAX_RUNS);
    int cmdc = argc - dash - 1;
    char **cmd = argv + dash + 1;

    int64_t ready[MAX_RUNS], rss[MAX_RUNS], hwm[MAX_RUNS], stop[MAX_RUNS], inproc[MAX_RUNS];
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) bench_die(PROG, "could not open %s: %s", log, strerror(errno));
    for (long long run = 0; run < runs; run++) {
        int port = free_port(), port2 = free_port();
        while (port2 == port) port2 = free_port();
        char **args = calloc((size_t)cmdc + 1, sizeof *args);
        if (!args) bench_die(PROG, "out of memory");
        for (int i = 0; i < cmdc; i++) {
            char *a = subst(cmd[i], "{PORT}", port);
            args[i] = subst(a, "{PORT2}", port2);
            free(a);
        }
        int out[2] = {-1, -1};
        if (!ready_mode && pipe2(out, O_CLOEXEC) != 0) bench_die(PROG, "pipe");
        int64_t t0 = bench_now_ns();
        pid_t pid = fork();
        if (pid < 0) bench_die(PROG, "fork: %s", strerror(errno));
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            dup2(ready_mode ? logfd : out[1], 1);
            dup2(logfd, 2);
            execv(args[0], args);
            _exit(127);
        }
        inproc[run] = 0;
        if (ready_mode) {
            int64_t end = t0 + (int64_t)(timeout_s * 1e9);
            int st = 0;
            for (;;) {
                if (http_status(port, path) == 200) break;
                if (waitpid(pid, &st, WNOHANG) == pid)
                    bench_die(PROG, "%s exited (status %d) before %s answered 200; see %s",
                              args[0], st, path, log);
                if (bench_now_ns() > end) {
                    kill(pid, SIGKILL);
                    waitpid(pid, &st, 0);
                    bench_die(PROG, "%s not ready after %.0f s; see %s", args[0], timeout_s, log);
                }
                bench_sleep_ns(1000000);
            }
            ready[run] = bench_now_ns() - t0;
            bench_sleep_ns(idle_ms * 1000000);
            rss[run] = bench_status_kb(pid, "VmRSS");
            hwm[run] = bench_status_kb(pid, "VmHWM");
            int64_t ts = bench_now_ns();
            kill(pid, SIGTERM);
            st = reap(pid, 10000);
            stop[run] = bench_now_ns() - ts;
            if (st == -2) fprintf(stderr, "%s: run %lld: did not exit 10 s after SIGTERM\n", PROG, run);
            else if (WIFSIGNALED(st))
                fprintf(stderr, "%s: run %lld: killed by signal %d after SIGTERM\n", PROG, run,
                        WTERMSIG(st));
            else if (WEXITSTATUS(st) != 0)
                fprintf(stderr, "%s: run %lld: exit status %d after SIGTERM\n", PROG, run,
                        WEXITSTATUS(st));
        } else {
            close(out[1]);
            char buf[1024];
            size_t len = 0;
            ssize_t r;
            while (len < sizeof buf - 1 && (r = read(out[0], buf + len, sizeof buf - 1 - len)) > 0)
                len += (size_t)r;
            buf[len] = '\0';
            close(out[0]);
            int st = reap(pid, (int64_t)(timeout_s * 1000));
            const char *p = strstr(buf, "loaded_mono_ns=");
            if (st != 0 || !p) bench_die(PROG, "%s failed (status %d): %s", args[0], st, buf);
            ready[run] = strtoll(p + 15, NULL, 10) - t0;
            p = strstr(buf, "load_ms=");
            inproc[run] = p ? (int64_t)(strtod(p + 8, NULL) * 1e6) : 0;
            p = strstr(buf, "rss_kb=");
            rss[run] = p ? strtoll(p + 7, NULL, 10) : -1;
            p = strstr(buf, "hwm_kb=");
            hwm[run] = p ? strtoll(p + 7, NULL, 10) : -1;
            stop[run] = 0;
        }
        fprintf(stderr, "  run %2lld: ready %.1f ms, rss %.1f MB, hwm %.1f MB, stop %.1f ms\n",
                run + 1, (double)ready[run] / 1e6, (double)rss[run] / 1024.0,
                (double)hwm[run] / 1024.0, (double)stop[run] / 1e6);
        for (int i = 0; i < cmdc; i++) free(args[i]);
        free(args);
    }
    close(logfd);
    int64_t sorted[MAX_RUNS];
    memcpy(sorted, ready, sizeof ready);
    qsort(sorted, (size_t)runs, sizeof *sorted, bench_cmp_i64);
    printf("runs=%lld ready_ms=%.1f ready_min_ms=%.1f ready_max_ms=%.1f", runs,
           (double)median(ready, (size_t)runs) / 1e6, (double)sorted[0] / 1e6,
           (double)sorted[runs - 1] / 1e6);
    printf(" inproc_ms=%.1f rss_kb=%lld hwm_kb=%lld stop_ms=%.1f\n",
           (double)median(inproc, (size_t)runs) / 1e6, (long long)median(rss, (size_t)runs),
           (long long)median(hwm, (size_t)runs), (double)median(stop, (size_t)runs) / 1e6);
    return 0;
}

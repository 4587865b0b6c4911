/*
 * flight_lib: the flight benchmark through clove's own C client library (clove_flight_connect
 * / clove_flight_query in build/libclove_core.a), which decodes every FlightData into DuckDB
 * data chunks: what a clove C client pays on top of the bytes flightc counts.
 *
 *   flight_lib lat --port P [--sql "SELECT 1"] [--n 2000] [--warmup 200] [--rows 1]
 *                  one client, sequential clove_flight_query calls: p50/p99; bad counts
 *                  answers without exactly --rows rows
 *   flight_lib big --port P --sql TEXT
 *                  one query; rows (from the chunks) and Mrows/s
 *
 * Results are printed as key=value pairs on one line for run.sh.
 */
#include "flight/flight_client.h"

#include "bench_util.h"

#define PROG "flight_lib"

static int count_rows(void *ud, duckdb_data_chunk chunk, clove_err_t *err)
{
    (void)err;
    *(uint64_t *)ud += duckdb_data_chunk_get_size(chunk);
    return 0;
}

static const clove_flight_result_cbs_t cbs = {.chunk_cb = count_rows};

static clove_flight_client_t *connect_port(int port)
{
    char ep[64];
    snprintf(ep, sizeof ep, "grpc://127.0.0.1:%d", port);
    clove_err_t err;
    clove_err_clear(&err);
    clove_flight_client_t *c = clove_flight_connect(ep, NULL, &err);
    if (!c) bench_die(PROG, "connect %s: %s", ep, err.message);
    return c;
}

static uint64_t query(clove_flight_client_t *c, const char *sql)
{
    uint64_t rows = 0;
    clove_err_t err;
    clove_err_clear(&err);
    if (clove_flight_query(c, sql, &cbs, &rows, &err) < 0)
        bench_die(PROG, "query failed: %s", err.message);
    return rows;
}

static int cmd_lat(int argc, char **argv)
{
    int port = (int)bench_opt_ll(argc, argv, "--port", 0);
    const char *sql = bench_opt(argc, argv, "--sql", "SELECT 1");
    long n = (long)bench_opt_ll(argc, argv, "--n", 2000);
    long warm = (long)bench_opt_ll(argc, argv, "--warmup", 200);
    uint64_t want = (uint64_t)bench_opt_ll(argc, argv, "--rows", 1);
    if (port <= 0 || n <= 0) bench_die(PROG, "lat: --port is required");
    clove_flight_client_t *c = connect_port(port);
    int64_t *v = calloc((size_t)n, sizeof *v);
    uint64_t bad = 0;
    for (long i = -warm; i < n; i++) {
        int64_t t0 = bench_now_ns();
        if (query(c, sql) != want) bad++;
        if (i >= 0) v[i] = bench_now_ns() - t0;
    }
    qsort(v, (size_t)n, sizeof *v, bench_cmp_i64);
    printf("n=%ld bad=%llu p50_us=%.1f p99_us=%.1f mean_us=%.1f max_us=%.1f\n", n,
           (unsigned long long)bad, (double)bench_pct(v, (size_t)n, 0.50) / 1e3,
           (double)bench_pct(v, (size_t)n, 0.99) / 1e3, bench_mean(v, (size_t)n) / 1e3,
           (double)v[n - 1] / 1e3);
    clove_flight_client_destroy(c);
    free(v);
    return 0;
}

static int cmd_big(int argc, char **argv)
{
    int port = (int)bench_opt_ll(argc, argv, "--port", 0);
    const char *sql = bench_opt(argc, argv, "--sql", NULL);
    if (port <= 0 || !sql) bench_die(PROG, "big: --port and --sql are required");
    clove_flight_client_t *c = connect_port(port);
    query(c, "SELECT 1"); /* opens the client's DuckDB outside the timing */
    int64_t t0 = bench_now_ns();
    uint64_t rows = query(c, sql);
    double sec = (double)(bench_now_ns() - t0) / 1e9;
    printf("rows=%llu sec=%.3f mrows_s=%.2f self_hwm_kb=%ld\n", (unsigned long long)rows, sec,
           (double)rows / 1e6 / sec, bench_status_kb(0, "VmHWM"));
    clove_flight_client_destroy(c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "lat")) return cmd_lat(argc, argv);
    if (!strcmp(cmd, "big")) return cmd_big(argc, argv);
    fprintf(stderr, "usage: flight_lib lat|big --port P [options] (see the top of flight_lib.c)\n");
    return 2;
}

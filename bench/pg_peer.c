/*
 * pg_peer: the libpq peer of the PostgreSQL benchmarks. One connection, the statement
 * prepared once, then executed with a random id per iteration, results fetched in full:
 * what an application talking to PostgreSQL directly pays per point query.
 *
 *   pg_peer point --conninfo STR --sql TEXT --range R [--n 5000] [--warmup 200] [--seed 1]
 *       prints n= p50_us= p90_us= p99_us= max_us= mean_us= rows= (rows returned in total)
 *
 * The connection string comes from the environment variable PG_PEER_CONNINFO when --conninfo
 * is "-", so a password never shows in a process listing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <libpq-fe.h>

#include "bench_util.h"

#define PROG "pg_peer"

static int cmd_point(int argc, char **argv)
{
    const char *ci = bench_opt(argc, argv, "--conninfo", "-");
    const char *sql = bench_opt(argc, argv, "--sql", NULL);
    long long range = bench_opt_ll(argc, argv, "--range", 0);
    long long n = bench_opt_ll(argc, argv, "--n", 5000);
    long long warm = bench_opt_ll(argc, argv, "--warmup", 200);
    uint64_t seed = (uint64_t)bench_opt_ll(argc, argv, "--seed", 1);
    if (!strcmp(ci, "-")) ci = getenv("PG_PEER_CONNINFO");
    if (!ci || !sql || range <= 0 || n <= 0) bench_die(PROG, "point: --conninfo, --sql, --range");
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) bench_die(PROG, "connect: %s", PQerrorMessage(c));
    PGresult *r = PQprepare(c, "p", sql, 1, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) bench_die(PROG, "prepare: %s", PQerrorMessage(c));
    PQclear(r);
    int64_t *lat = calloc((size_t)n, sizeof *lat);
    long long rows = 0;
    for (long long i = -warm; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%llu", (unsigned long long)(bench_rand(&seed) % (uint64_t)range));
        const char *pv[1] = {id};
        int64_t t0 = bench_now_ns();
        r = PQexecPrepared(c, "p", 1, pv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) bench_die(PROG, "execute: %s", PQerrorMessage(c));
        /* touch every value, as a client turning the answer into its own data would */
        for (int t = 0; t < PQntuples(r); t++)
            for (int f = 0; f < PQnfields(r); f++) (void)PQgetvalue(r, t, f);
        int64_t dt = bench_now_ns() - t0;
        if (i >= 0) {
            lat[i] = dt;
            rows += PQntuples(r);
        }
        PQclear(r);
    }
    PQfinish(c);
    qsort(lat, (size_t)n, sizeof *lat, bench_cmp_i64);
    printf("n=%lld p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f rows=%lld\n", n,
           (double)bench_pct(lat, (size_t)n, 0.50) / 1e3,
           (double)bench_pct(lat, (size_t)n, 0.90) / 1e3,
           (double)bench_pct(lat, (size_t)n, 0.99) / 1e3, (double)lat[n - 1] / 1e3,
           bench_mean(lat, (size_t)n) / 1e3, rows);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "point")) return cmd_point(argc, argv);
    fprintf(stderr, "usage: pg_peer point --conninfo STR --sql TEXT --range R [--n N]\n");
    return 2;
}

/*
 * duck_peer: the in-process DuckDB side of the benchmarks, i.e. what the same work costs
 * without clove around it. One binary, nine subcommands:
 *
 *   duck_peer exec SQL...            runs each statement (used to write the benchmark data)
 *   duck_peer point --parquet F --rows R [--n 10000] [--warmup 500] [--max-sec 10]
 *                                    loads F into an in-memory table t, prepares
 *                                    SELECT * FROM t WHERE id = $1 once, then bind+execute
 *                                    with a random id per iteration: p50/p99; also the same
 *                                    through a streaming result (stream_*), with prepare
 *                                    per iteration (prep_*) and with the id as a literal
 *                                    (lit_*), for reference
 *   duck_peer load --dir D [--idle-ms 1000]
 *                                    the quickstart's work: opens DuckDB, loads
 *                                    D/taxi_trips.parquet into a table and registers
 *                                    D/zones.csv as a view; prints the CLOCK_MONOTONIC time when
 *                                    done (so a parent can measure exec-to-loaded) and the
 *                                    RSS after idling like cloved does
 *   duck_peer csv --sql SELECT --fifo PATH
 *                                    COPY (SELECT) TO '/dev/null' (FORMAT csv): seconds; and
 *                                    once more into a FIFO read by a thread, to count the bytes
 *   duck_peer ctas --parquet F [--db FILE] [--runs 3] [--stdin]
 *                                    CREATE TABLE t AS SELECT * FROM read_parquet(F) into an
 *                                    in-memory DuckDB (or into FILE, attached: a new file), then
 *                                    RUNS times CREATE OR REPLACE TABLE t AS the same, each
 *                                    timed: what a full refresh costs DuckDB itself (--runs 0:
 *                                    the first load alone, with its process CPU time). With
 *                                    --stdin it prints a line after the first load, then runs
 *                                    one replace per line read from stdin and prints its time
 *                                    (so a script can interleave it with cloved's refreshes)
 *   duck_peer pointload --parquet F --rows R [--n 5000] [--warmup 500] [--max-sec 20]
 *                   [--reload] [--reload-into NAME] [--threads N]
 *                                    the point query as in `point` (prepared once, bind +
 *                                    execute per iteration): p50/p99; with --reload a second
 *                                    connection runs CREATE OR REPLACE TABLE t AS SELECT * FROM
 *                                    read_parquet(F) back to back meanwhile (a full refresh
 *                                    loop, the way cloved's refresh thread does it); --threads
 *                                    sets DuckDB's worker threads (default: one per CPU);
 *                                    --reload-into reloads another table instead (CPU
 *                                    contention without replacing the queried table)
 *   duck_peer scan --parquet F [--sql "SELECT * FROM t"] [--runs 3]
 *                                    loads F into an in-memory table t, then runs the query
 *                                    RUNS times through a streaming result and fetches every
 *                                    chunk (scan_*), and RUNS times more converting each chunk
 *                                    to Arrow with duckdb_data_chunk_to_arrow (arrow_*):
 *                                    medians, what DuckDB itself costs for the flight
 *                                    benchmark's answer before any encoding or network
 *   duck_peer select1 [--sql "SELECT 1"] [--n 2000] [--warmup 200]
 *                                    the flight latency query in-process: prepared once,
 *                                    streaming execute + fetch per iteration: p50/p99
 *   duck_peer repl [--db FILE]       reads one SQL statement per stdin line, runs it and prints
 *                                    ms= (its time) value= (the first value of the answer, or
 *                                    the rows changed) hwm_kb=; with --db, FILE (a new file) is
 *                                    attached as f
 *
 * Results are printed as key=value pairs on one line for run.sh.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <duckdb.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "bench_util.h"

#define PROG "duck_peer"

static void open_db(duckdb_database *db, duckdb_connection *c)
{
    if (duckdb_open(NULL, db) == DuckDBError || duckdb_connect(*db, c) == DuckDBError)
        bench_die(PROG, "could not open DuckDB");
}

static void run_sql(duckdb_connection c, const char *sql)
{
    duckdb_result r;
    if (duckdb_query(c, sql, &r) == DuckDBError)
        bench_die(PROG, "%s\n  in: %.300s", duckdb_result_error(&r), sql);
    duckdb_destroy_result(&r);
}

/* A SQL string literal for a path (paths here never hold quotes, but be safe). */
static char *sql_literal(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(2 * n + 3), *o = out;
    if (!out) bench_die(PROG, "out of memory");
    *o++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') *o++ = '\'';
        *o++ = *s;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

static int cmd_exec(int argc, char **argv)
{
    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);
    for (int i = 2; i < argc; i++) run_sql(c, argv[i]);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return 0;
}

/* Executes the prepared point query for `id` and checks the row. Returns false when the answer
 * is not the one row with that id. */
static bool point_once(duckdb_prepared_statement st, int64_t id)
{
    duckdb_result res;
    if (duckdb_bind_int64(st, 1, id) == DuckDBError) bench_die(PROG, "could not bind");
    if (duckdb_execute_prepared(st, &res) == DuckDBError)
        bench_die(PROG, "point query failed: %s", duckdb_result_error(&res));
    idx_t rows = 0;
    bool ok = true;
    duckdb_data_chunk ch;
    while ((ch = duckdb_fetch_chunk(res)) != NULL) {
        idx_t n = duckdb_data_chunk_get_size(ch);
        const int64_t *ids = duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0));
        for (idx_t i = 0; i < n; i++) ok &= ids[i] == id;
        rows += n;
        duckdb_destroy_data_chunk(&ch);
    }
    duckdb_destroy_result(&res);
    return ok && rows == 1;
}

/* The same through a streaming result (duckdb_pending_prepared_streaming), the way a server
 * that sends rows as they come runs it. */
static bool point_once_streaming(duckdb_prepared_statement st, int64_t id)
{
    duckdb_pending_result pending;
    duckdb_result res;
    if (duckdb_bind_int64(st, 1, id) == DuckDBError) bench_die(PROG, "could not bind");
    if (duckdb_pending_prepared_streaming(st, &pending) == DuckDBError)
        bench_die(PROG, "pending: %s", duckdb_pending_error(pending));
    duckdb_state rc = duckdb_execute_pending(pending, &res);
    duckdb_destroy_pending(&pending);
    if (rc == DuckDBError) bench_die(PROG, "point query failed: %s", duckdb_result_error(&res));
    idx_t rows = 0;
    bool ok = true;
    duckdb_data_chunk ch;
    while ((ch = duckdb_fetch_chunk(res)) != NULL) {
        idx_t n = duckdb_data_chunk_get_size(ch);
        const int64_t *ids = duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0));
        for (idx_t i = 0; i < n; i++) ok &= ids[i] == id;
        rows += n;
        duckdb_destroy_data_chunk(&ch);
    }
    duckdb_destroy_result(&res);
    return ok && rows == 1;
}

static int cmd_point(int argc, char **argv)
{
    const char *parquet = bench_opt(argc, argv, "--parquet", NULL);
    long long rows = bench_opt_ll(argc, argv, "--rows", 0);
    long long n = bench_opt_ll(argc, argv, "--n", 10000);
    long long warm = bench_opt_ll(argc, argv, "--warmup", 500);
    double max_sec = bench_opt_d(argc, argv, "--max-sec", 10);
    uint64_t seed = (uint64_t)bench_opt_ll(argc, argv, "--seed", 1) * 0x9E3779B97F4A7C15ULL + 1;
    if (!parquet || rows <= 0) bench_die(PROG, "point: --parquet and --rows are required");

    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);
    int64_t t0 = bench_now_ns();
    char *lit = sql_literal(parquet);
    char sql[4096];
    snprintf(sql, sizeof sql, "CREATE TABLE t AS SELECT * FROM read_parquet(%s)", lit);
    free(lit);
    run_sql(c, sql);
    double load_ms = (double)(bench_now_ns() - t0) / 1e6;

    const char *q = "SELECT * FROM t WHERE id = $1";
    duckdb_prepared_statement st;
    if (duckdb_prepare(c, q, &st) == DuckDBError)
        bench_die(PROG, "prepare: %s", duckdb_prepare_error(st));
    uint64_t bad = 0;
    for (long long i = 0; i < warm; i++)
        bad += !point_once(st, (int64_t)(bench_rand(&seed) % (uint64_t)rows));
    int64_t *lat = malloc((size_t)(n > 0 ? n : 1) * sizeof *lat);
    if (!lat) bench_die(PROG, "out of memory");
    size_t k = 0;
    int64_t end = bench_now_ns() + (int64_t)(max_sec * 1e9);
    for (long long i = 0; i < n && bench_now_ns() < end; i++) {
        int64_t id = (int64_t)(bench_rand(&seed) % (uint64_t)rows);
        int64_t a = bench_now_ns();
        bad += !point_once(st, id);
        lat[k++] = bench_now_ns() - a;
    }
    qsort(lat, k, sizeof *lat, bench_cmp_i64);
    printf("n=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f mean_us=%.1f", k,
           (double)bench_pct(lat, k, 0.5) / 1e3, (double)bench_pct(lat, k, 0.9) / 1e3,
           (double)bench_pct(lat, k, 0.99) / 1e3, bench_mean(lat, k) / 1e3);

    /* for reference, a quarter as many iterations each: a streaming result, a prepare per
     * query (a server without a statement cache), the id as a literal */
    long long pn = n / 4 > 0 ? n / 4 : 1;
    size_t sk = 0;
    end = bench_now_ns() + (int64_t)(max_sec / 2 * 1e9);
    for (long long i = 0; i < pn && bench_now_ns() < end; i++) {
        int64_t id = (int64_t)(bench_rand(&seed) % (uint64_t)rows);
        int64_t a = bench_now_ns();
        bad += !point_once_streaming(st, id);
        lat[sk++] = bench_now_ns() - a;
    }
    duckdb_destroy_prepare(&st);
    qsort(lat, sk, sizeof *lat, bench_cmp_i64);
    printf(" stream_n=%zu stream_p50_us=%.1f stream_p99_us=%.1f", sk,
           (double)bench_pct(lat, sk, 0.5) / 1e3, (double)bench_pct(lat, sk, 0.99) / 1e3);

    size_t pk = 0;
    end = bench_now_ns() + (int64_t)(max_sec / 2 * 1e9);
    for (long long i = 0; i < pn && bench_now_ns() < end; i++) {
        int64_t id = (int64_t)(bench_rand(&seed) % (uint64_t)rows);
        int64_t a = bench_now_ns();
        if (duckdb_prepare(c, q, &st) == DuckDBError)
            bench_die(PROG, "prepare: %s", duckdb_prepare_error(st));
        bad += !point_once(st, id);
        duckdb_destroy_prepare(&st);
        lat[pk++] = bench_now_ns() - a;
    }
    qsort(lat, pk, sizeof *lat, bench_cmp_i64);
    printf(" prep_n=%zu prep_p50_us=%.1f prep_p99_us=%.1f", pk,
           (double)bench_pct(lat, pk, 0.5) / 1e3, (double)bench_pct(lat, pk, 0.99) / 1e3);

    size_t lk = 0;
    end = bench_now_ns() + (int64_t)(max_sec / 2 * 1e9);
    for (long long i = 0; i < pn && bench_now_ns() < end; i++) {
        int64_t id = (int64_t)(bench_rand(&seed) % (uint64_t)rows);
        snprintf(sql, sizeof sql, "SELECT * FROM t WHERE id = %lld", (long long)id);
        int64_t a = bench_now_ns();
        duckdb_result res;
        if (duckdb_query(c, sql, &res) == DuckDBError)
            bench_die(PROG, "literal query: %s", duckdb_result_error(&res));
        bad += duckdb_row_count(&res) != 1;
        duckdb_destroy_result(&res);
        lat[lk++] = bench_now_ns() - a;
    }
    qsort(lat, lk, sizeof *lat, bench_cmp_i64);
    printf(" lit_n=%zu lit_p50_us=%.1f lit_p99_us=%.1f load_ms=%.0f bad=%llu hwm_kb=%ld\n", lk,
           (double)bench_pct(lat, lk, 0.5) / 1e3, (double)bench_pct(lat, lk, 0.99) / 1e3, load_ms,
           (unsigned long long)bad, bench_status_kb(0, "VmHWM"));
    free(lat);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return bad ? 1 : 0;
}

static int cmd_load(int argc, char **argv)
{
    int64_t t0 = bench_now_ns();
    const char *dir = bench_opt(argc, argv, "--dir", NULL);
    long long idle_ms = bench_opt_ll(argc, argv, "--idle-ms", 1000);
    if (!dir) bench_die(PROG, "load: --dir is required");
    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);
    char path[2048], sql[4096];
    snprintf(path, sizeof path, "%s/taxi_trips.parquet", dir);
    char *lit = sql_literal(path);
    snprintf(sql, sizeof sql, "CREATE TABLE taxi_trips AS SELECT * FROM read_parquet(%s)", lit);
    free(lit);
    run_sql(c, sql);
    snprintf(path, sizeof path, "%s/zones.csv", dir);
    lit = sql_literal(path);
    snprintf(sql, sizeof sql, "CREATE VIEW zones AS SELECT * FROM read_csv(%s)", lit);
    free(lit);
    run_sql(c, sql);
    int64_t t1 = bench_now_ns();
    if (idle_ms > 0) bench_sleep_ns(idle_ms * 1000000);
    printf("loaded_mono_ns=%lld load_ms=%.1f rss_kb=%ld hwm_kb=%ld\n", (long long)t1,
           (double)(t1 - t0) / 1e6, bench_status_kb(0, "VmRSS"), bench_status_kb(0, "VmHWM"));
    fflush(stdout);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return 0;
}

typedef struct {
    const char *path;
    uint64_t bytes;
    int err;
} fifo_reader_t;

static void *fifo_main(void *arg)
{
    fifo_reader_t *r = arg;
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r->err = errno;
        return NULL;
    }
    static char buf[1 << 17];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        r->bytes += (uint64_t)n;
    }
    close(fd);
    return NULL;
}

static int cmd_csv(int argc, char **argv)
{
    const char *select = bench_opt(argc, argv, "--sql", NULL);
    const char *fifo = bench_opt(argc, argv, "--fifo", NULL);
    if (!select || !fifo) bench_die(PROG, "csv: --sql and --fifo are required");
    size_t cap = strlen(select) + strlen(fifo) * 2 + 256;
    char *sql = malloc(cap);
    if (!sql) bench_die(PROG, "out of memory");
    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);

    /* USE_TMP_FILE false: write straight into the target, never "<target>.tmp" + rename */
    snprintf(sql, cap, "COPY (%s) TO '/dev/null' (FORMAT csv, USE_TMP_FILE false)", select);
    int64_t t0 = bench_now_ns();
    run_sql(c, sql);
    double null_sec = (double)(bench_now_ns() - t0) / 1e9;

    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) bench_die(PROG, "mkfifo %s: %s", fifo, strerror(errno));
    fifo_reader_t r = {.path = fifo};
    pthread_t th;
    if (pthread_create(&th, NULL, fifo_main, &r) != 0) bench_die(PROG, "thread");
    char *lit = sql_literal(fifo);
    snprintf(sql, cap, "COPY (%s) TO %s (FORMAT csv, USE_TMP_FILE false)", select, lit);
    free(lit);
    t0 = bench_now_ns();
    run_sql(c, sql);
    pthread_join(th, NULL);
    double fifo_sec = (double)(bench_now_ns() - t0) / 1e9;
    unlink(fifo);
    if (r.err) bench_die(PROG, "could not read %s: %s", fifo, strerror(r.err));

    printf("bytes=%llu null_sec=%.3f null_mb_s=%.1f fifo_sec=%.3f fifo_mb_s=%.1f hwm_kb=%ld\n",
           (unsigned long long)r.bytes, null_sec, (double)r.bytes / 1e6 / null_sec, fifo_sec,
           (double)r.bytes / 1e6 / fifo_sec, bench_status_kb(0, "VmHWM"));
    free(sql);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* CPU time of the process (user + system), in ms. */
static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmd_ctas(int argc, char **argv)
{
    const char *parquet = bench_opt(argc, argv, "--parquet", NULL);
    const char *dbfile = bench_opt(argc, argv, "--db", NULL);
    int runs = (int)bench_opt_ll(argc, argv, "--runs", 3);
    bool interactive = false;
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--stdin")) interactive = true;
    if (!parquet || runs < 0 || runs > 100) bench_die(PROG, "ctas: --parquet (and --runs 0..100)");
    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);
    char sql[4096];
    const char *target = "t";
    if (dbfile) {
        char wal[2048];
        snprintf(wal, sizeof wal, "%s.wal", dbfile);
        unlink(dbfile);
        unlink(wal);
        char *lit = sql_literal(dbfile);
        snprintf(sql, sizeof sql, "ATTACH %s AS f", lit);
        free(lit);
        run_sql(c, sql);
        target = "f.main.t";
    }
    char *lit = sql_literal(parquet);
    char create[4096], replace[4096];
    snprintf(create, sizeof create, "CREATE TABLE %s AS SELECT * FROM read_parquet(%s)", target,
             lit);
    snprintf(replace, sizeof replace, "CREATE OR REPLACE TABLE %s AS SELECT * FROM read_parquet(%s)",
             target, lit);
    free(lit);
    int64_t t0 = bench_now_ns();
    double cpu0 = cpu_ms();
    run_sql(c, create);
    double load_ms = (double)(bench_now_ns() - t0) / 1e6, load_cpu_ms = cpu_ms() - cpu0;
    duckdb_result r;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", target);
    if (duckdb_query(c, sql, &r) == DuckDBError) bench_die(PROG, "%s", duckdb_result_error(&r));
    long long rows = (long long)duckdb_value_int64(&r, 0, 0);
    duckdb_destroy_result(&r);
    if (interactive) {
        printf("rows=%lld load_ms=%.1f hwm_kb=%ld\n", rows, load_ms, bench_status_kb(0, "VmHWM"));
        char line[256];
        while (fgets(line, sizeof line, stdin)) {
            if (!strncmp(line, "quit", 4)) break;
            t0 = bench_now_ns();
            run_sql(c, replace);
            double ms = (double)(bench_now_ns() - t0) / 1e6;
            printf("ms=%.1f rows_s=%.0f hwm_kb=%ld\n", ms, (double)rows / (ms / 1e3),
                   bench_status_kb(0, "VmHWM"));
        }
    } else if (runs == 0) {
        printf("rows=%lld load_ms=%.1f load_cpu_ms=%.1f hwm_kb=%ld\n", rows, load_ms,
               load_cpu_ms, bench_status_kb(0, "VmHWM"));
    } else {
        double ms[100];
        for (int i = 0; i < runs; i++) {
            t0 = bench_now_ns();
            run_sql(c, replace);
            ms[i] = (double)(bench_now_ns() - t0) / 1e6;
        }
        printf("rows=%lld load_ms=%.1f", rows, load_ms);
        for (int i = 0; i < runs; i++) printf(" ms_%d=%.1f", i + 1, ms[i]);
        qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
        double medv = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
        printf(" median_ms=%.1f rows_s=%.0f hwm_kb=%ld\n", medv, (double)rows / (medv / 1e3),
               bench_status_kb(0, "VmHWM"));
    }
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return 0;
}

typedef struct {
    duckdb_connection conn;
    const char *sql;
    atomic_bool stop;
    long reloads;
    double ms_total;
} reloader_t;

static void *reloader_main(void *arg)
{
    reloader_t *r = arg;
    while (!atomic_load(&r->stop)) {
        int64_t t0 = bench_now_ns();
        run_sql(r->conn, r->sql);
        r->ms_total += (double)(bench_now_ns() - t0) / 1e6;
        r->reloads++;
    }
    return NULL;
}

static int cmd_pointload(int argc, char **argv)
{
    const char *parquet = bench_opt(argc, argv, "--parquet", NULL);
    long long rows = bench_opt_ll(argc, argv, "--rows", 0);
    long long n = bench_opt_ll(argc, argv, "--n", 5000);
    long long warm = bench_opt_ll(argc, argv, "--warmup", 500);
    double max_sec = bench_opt_d(argc, argv, "--max-sec", 20);
    uint64_t seed = (uint64_t)bench_opt_ll(argc, argv, "--seed", 1) * 0x9E3779B97F4A7C15ULL + 1;
    bool reload = false;
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--reload")) reload = true;
    if (!parquet || rows <= 0 || n <= 0) bench_die(PROG, "pointload: --parquet and --rows are required");
    long long threads = bench_opt_ll(argc, argv, "--threads", 0);
    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);
    if (threads > 0) {
        char set[64];
        snprintf(set, sizeof set, "SET threads = %lld", threads);
        run_sql(c, set);
    }
    char *lit = sql_literal(parquet);
    char load[4096];
    snprintf(load, sizeof load, "CREATE OR REPLACE TABLE t AS SELECT * FROM read_parquet(%s)", lit);
    free(lit);
    run_sql(c, load);
    /* --reload-into NAME: reload another table, so the loop only competes for the CPUs */
    const char *into = bench_opt(argc, argv, "--reload-into", NULL);
    if (into) {
        lit = sql_literal(parquet);
        snprintf(load, sizeof load, "CREATE OR REPLACE TABLE \"%s\" AS SELECT * FROM read_parquet(%s)",
                 into, lit);
        free(lit);
    }
    duckdb_prepared_statement st;
    if (duckdb_prepare(c, "SELECT * FROM t WHERE id = $1", &st) == DuckDBError)
        bench_die(PROG, "prepare: %s", duckdb_prepare_error(st));
    uint64_t bad = 0;
    for (long long i = 0; i < warm; i++)
        bad += !point_once(st, (int64_t)(bench_rand(&seed) % (uint64_t)rows));
    static reloader_t rl;
    pthread_t th;
    rl.sql = load;
    atomic_store(&rl.stop, false);
    if (reload) {
        if (duckdb_connect(db, &rl.conn) == DuckDBError) bench_die(PROG, "connect");
        if (pthread_create(&th, NULL, reloader_main, &rl) != 0) bench_die(PROG, "thread");
    }
    int64_t *lat = malloc((size_t)n * sizeof *lat);
    if (!lat) bench_die(PROG, "out of memory");
    size_t k = 0;
    int64_t end = bench_now_ns() + (int64_t)(max_sec * 1e9);
    for (long long i = 0; i < n && bench_now_ns() < end; i++) {
        int64_t id = (int64_t)(bench_rand(&seed) % (uint64_t)rows);
        int64_t a = bench_now_ns();
        bad += !point_once(st, id);
        lat[k++] = bench_now_ns() - a;
    }
    if (reload) {
        atomic_store(&rl.stop, true);
        pthread_join(th, NULL);
        duckdb_disconnect(&rl.conn);
    }
    duckdb_destroy_prepare(&st);
    qsort(lat, k, sizeof *lat, bench_cmp_i64);
    printf("n=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f reloads=%ld "
           "reload_mean_ms=%.1f bad=%llu hwm_kb=%ld\n", k, (double)bench_pct(lat, k, 0.5) / 1e3,
           (double)bench_pct(lat, k, 0.9) / 1e3, (double)bench_pct(lat, k, 0.99) / 1e3,
           (double)bench_pct(lat, k, 0.999) / 1e3, k ? (double)lat[k - 1] / 1e3 : 0.0, rl.reloads,
           rl.reloads ? rl.ms_total / (double)rl.reloads : 0.0, (unsigned long long)bad,
           bench_status_kb(0, "VmHWM"));
    free(lat);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return bad ? 1 : 0;
}

static int cmd_repl(int argc, char **argv)
{
    const char *dbfile = bench_opt(argc, argv, "--db", NULL);
    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);
    if (dbfile) {
        char wal[2048], sql[4096];
        snprintf(wal, sizeof wal, "%s.wal", dbfile);
        unlink(dbfile);
        unlink(wal);
        char *lit = sql_literal(dbfile);
        snprintf(sql, sizeof sql, "ATTACH %s AS f", lit);
        free(lit);
        run_sql(c, sql);
    }
    size_t cap = 0;
    char *line = NULL;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue;
        if (!strcmp(line, "quit")) break;
        duckdb_result r;
        int64_t t0 = bench_now_ns();
        if (duckdb_query(c, line, &r) == DuckDBError)
            bench_die(PROG, "%s\n  in: %.300s", duckdb_result_error(&r), line);
        double ms = (double)(bench_now_ns() - t0) / 1e6;
        char *v = NULL;
        if (duckdb_column_count(&r) > 0 && duckdb_row_count(&r) > 0)
            v = duckdb_value_varchar(&r, 0, 0);
        printf("ms=%.1f value=%s hwm_kb=%ld\n", ms, v ? v : "-", bench_status_kb(0, "VmHWM"));
        if (v) duckdb_free(v);
        duckdb_destroy_result(&r);
    }
    free(line);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return 0;
}

/* The in-process cost of the flight benchmark's latency query: prepared once, then a
 * streaming execute + fetch per iteration (what clove's engine does per query). */
/* The Arrow C Data Interface array (the ABI from the Arrow specification), as DuckDB fills
 * it; only release is called here. */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
struct ArrowSchema;
struct ArrowArray {
    int64_t length, null_count, offset, n_buffers, n_children;
    const void **buffers;
    struct ArrowArray **children, *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};
#endif

/* One streaming run of sql: seconds; rows into *rows. With arrow, every chunk is converted to
 * an Arrow array (and released) as Flight's writer does. */
static double scan_once(duckdb_connection c, const char *sql, bool arrow, uint64_t *rows)
{
    duckdb_arrow_options opts = NULL;
    if (arrow) duckdb_connection_get_arrow_options(c, &opts);
    int64_t t0 = bench_now_ns();
    duckdb_result r;
    duckdb_prepared_statement st;
    if (duckdb_prepare(c, sql, &st) == DuckDBError)
        bench_die(PROG, "prepare: %s", duckdb_prepare_error(st));
    duckdb_pending_result p;
    if (duckdb_pending_prepared_streaming(st, &p) == DuckDBError ||
        duckdb_execute_pending(p, &r) == DuckDBError)
        bench_die(PROG, "query failed: %s", duckdb_result_error(&r));
    duckdb_destroy_pending(&p);
    *rows = 0;
    duckdb_data_chunk ch;
    while ((ch = duckdb_fetch_chunk(r))) {
        *rows += duckdb_data_chunk_get_size(ch);
        if (arrow) {
            struct ArrowArray a;
            memset(&a, 0, sizeof a);
            duckdb_error_data ed = duckdb_data_chunk_to_arrow(opts, ch, &a);
            if (ed) bench_die(PROG, "Arrow conversion: %s", duckdb_error_data_message(ed));
            if (a.release) a.release(&a);
        }
        duckdb_destroy_data_chunk(&ch);
    }
    duckdb_destroy_result(&r);
    duckdb_destroy_prepare(&st);
    double sec = (double)(bench_now_ns() - t0) / 1e9;
    if (opts) duckdb_destroy_arrow_options(&opts);
    return sec;
}

static int cmd_scan(int argc, char **argv)
{
    const char *parquet = bench_opt(argc, argv, "--parquet", NULL);
    const char *sql = bench_opt(argc, argv, "--sql", "SELECT * FROM t");
    int runs = (int)bench_opt_ll(argc, argv, "--runs", 3);
    if (!parquet || runs < 1 || runs > 100) bench_die(PROG, "scan: --parquet is required");
    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);
    char *lit = sql_literal(parquet);
    char *load = malloc(strlen(lit) + 64);
    if (!load) bench_die(PROG, "out of memory");
    sprintf(load, "CREATE TABLE t AS SELECT * FROM read_parquet(%s)", lit);
    run_sql(c, load);
    free(load);
    free(lit);
    double scan[100], arrow[100];
    uint64_t rows = 0, arows = 0;
    for (int i = 0; i < runs; i++) scan[i] = scan_once(c, sql, false, &rows);
    for (int i = 0; i < runs; i++) arrow[i] = scan_once(c, sql, true, &arows);
    qsort(scan, (size_t)runs, sizeof *scan, cmp_double);
    qsort(arrow, (size_t)runs, sizeof *arrow, cmp_double);
    double s = scan[runs / 2], a = arrow[runs / 2];
    printf("rows=%llu scan_sec=%.3f scan_mrows_s=%.2f arrow_rows=%llu arrow_sec=%.3f "
           "arrow_mrows_s=%.2f hwm_kb=%ld\n", (unsigned long long)rows, s, (double)rows / 1e6 / s,
           (unsigned long long)arows, a, (double)arows / 1e6 / a, bench_status_kb(0, "VmHWM"));
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return 0;
}

static int cmd_select1(int argc, char **argv)
{
    const char *sql = bench_opt(argc, argv, "--sql", "SELECT 1");
    long long n = bench_opt_ll(argc, argv, "--n", 2000);
    long long warm = bench_opt_ll(argc, argv, "--warmup", 200);
    duckdb_database db;
    duckdb_connection c;
    open_db(&db, &c);
    duckdb_prepared_statement st;
    if (duckdb_prepare(c, sql, &st) == DuckDBError)
        bench_die(PROG, "prepare: %s", duckdb_prepare_error(st));
    int64_t *lat = malloc((size_t)(n > 0 ? n : 1) * sizeof *lat);
    if (!lat) bench_die(PROG, "out of memory");
    uint64_t rows = 0;
    for (long long i = -warm; i < n; i++) {
        int64_t a = bench_now_ns();
        duckdb_pending_result p;
        duckdb_result r;
        if (duckdb_pending_prepared_streaming(st, &p) == DuckDBError ||
            duckdb_execute_pending(p, &r) == DuckDBError)
            bench_die(PROG, "query failed");
        duckdb_destroy_pending(&p);
        duckdb_data_chunk ch;
        while ((ch = duckdb_fetch_chunk(r))) {
            rows += duckdb_data_chunk_get_size(ch);
            duckdb_destroy_data_chunk(&ch);
        }
        duckdb_destroy_result(&r);
        if (i >= 0) lat[i] = bench_now_ns() - a;
    }
    qsort(lat, (size_t)n, sizeof *lat, bench_cmp_i64);
    printf("n=%lld rows=%llu p50_us=%.1f p99_us=%.1f\n", n, (unsigned long long)rows,
           (double)bench_pct(lat, (size_t)n, 0.5) / 1e3,
           (double)bench_pct(lat, (size_t)n, 0.99) / 1e3);
    free(lat);
    duckdb_destroy_prepare(&st);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "exec")) return cmd_exec(argc, argv);
    if (!strcmp(cmd, "point")) return cmd_point(argc, argv);
    if (!strcmp(cmd, "load")) return cmd_load(argc, argv);
    if (!strcmp(cmd, "csv")) return cmd_csv(argc, argv);
    if (!strcmp(cmd, "ctas")) return cmd_ctas(argc, argv);
    if (!strcmp(cmd, "repl")) return cmd_repl(argc, argv);
    if (!strcmp(cmd, "pointload")) return cmd_pointload(argc, argv);
    if (!strcmp(cmd, "select1")) return cmd_select1(argc, argv);
    if (!strcmp(cmd, "scan")) return cmd_scan(argc, argv);
    fprintf(stderr, "usage: duck_peer exec|point|load|csv|ctas|repl|pointload|select1|scan "
                    "[options] "
                    "(see bench/duck_peer.c)\n");
    return 2;
}

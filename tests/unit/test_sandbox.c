/*
 * Unit tests for src/engine/sandbox.c: every probe that must be refused (with the exact code, a
 * message fragment, and proof that no file appeared and no table or setting changed), every
 * allowed shape with its statement kind and the exact table list, and the `:name` parameter
 * rewriter. Runs against a private in-memory DuckDB laid out like the engine's (a `spice`
 * catalog with schema `public` as the default, plus an extra attached database).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/sandbox.h"

static duckdb_database g_db;
static duckdb_connection g_conn;
static char g_import_dir[64];

static void exec_ok(duckdb_connection c, const char *sql)
{
    duckdb_result r;
    if (duckdb_query(c, sql, &r) == DuckDBError) {
        fprintf(stderr, "setup query failed: %s: %s\n", sql, duckdb_result_error(&r));
        duckdb_destroy_result(&r);
        fail();
    }
    duckdb_destroy_result(&r);
}

static int64_t query_int(const char *sql)
{
    duckdb_result r;
    int64_t v = -1;
    if (duckdb_query(g_conn, sql, &r) == DuckDBSuccess) {
        duckdb_data_chunk chunk = duckdb_fetch_chunk(r);
        if (chunk) {
            duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, 0);
            v = ((int64_t *)duckdb_vector_get_data(vec))[0];
            duckdb_destroy_data_chunk(&chunk);
        }
    }
    duckdb_destroy_result(&r);
    return v;
}

static bool path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void remove_probe_files(void)
{
    unlink("/tmp/x.csv");
    unlink("/tmp/x.db");
    unlink("/tmp/x.db.wal");
    rmdir("/tmp/e");
}

static int setup(void **state)
{
    (void)state;
    if (duckdb_open(NULL, &g_db) == DuckDBError) return -1;
    if (duckdb_connect(g_db, &g_conn) == DuckDBError) return -1;
    exec_ok(g_conn, "ATTACH ':memory:' AS spice");
    exec_ok(g_conn, "CREATE SCHEMA spice.public");
    exec_ok(g_conn, "USE spice.public");
    exec_ok(g_conn, "CREATE TABLE t (id INTEGER, a INTEGER, l INTEGER[])");
    exec_ok(g_conn, "CREATE TABLE u (id INTEGER, b VARCHAR)");
    exec_ok(g_conn, "CREATE VIEW v AS SELECT id, a FROM t");
    exec_ok(g_conn, "INSERT INTO t VALUES (1, 10, [1, 2]), (2, 20, [3])");
    exec_ok(g_conn, "ATTACH ':memory:' AS other");
    exec_ok(g_conn, "CREATE TABLE other.main.secret (x INTEGER)");
    exec_ok(g_conn, "CREATE SEQUENCE seq");
    exec_ok(g_conn, "CREATE TABLE memory.main.x (i INTEGER)");
    exec_ok(g_conn, "CREATE TABLE spice.main.x (i INTEGER)");
    /* an IMPORT DATABASE target whose schema.sql DuckDB would read (and fail to parse) if the
     * sandbox ever let its pragma expansion run */
    strcpy(g_import_dir, "/tmp/clove_sandbox_import_XXXXXX");
    if (!mkdtemp(g_import_dir)) return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/schema.sql", g_import_dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("THIS FILE MUST NEVER BE READ;\n", f);
    fclose(f);
    remove_probe_files();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/schema.sql", g_import_dir);
    unlink(path);
    rmdir(g_import_dir);
    duckdb_disconnect(&g_conn);
    duckdb_close(&g_db);
    remove_probe_files();
    return 0;
}

/* ---- refusals ------------------------------------------------------------------------------ */

typedef struct {
    const char *sql;
    int code;
    const char *msg; /* substring of the message */
} probe_t;

#define RO "clove only runs read-only queries (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW, " \
           "SUMMARIZE)"

static const probe_t probes[] = {
    /* files and the network through table functions */
    {"SELECT * FROM read_csv('/etc/passwd')", CLOVE_EPERM, "table function \"read_csv\" is not "
                                                           "allowed: user queries may not read "
                                                           "files"},
    {"SELECT * FROM read_text('/etc/hostname')", CLOVE_EPERM, "table function \"read_text\""},
    {"SELECT * FROM read_blob('/etc/hostname')", CLOVE_EPERM, "table function \"read_blob\""},
    {"SELECT * FROM glob('/*')", CLOVE_EPERM, "table function \"glob\""},
    {"SELECT * FROM read_parquet('/some/dataset/file.parquet')", CLOVE_EPERM,
     "table function \"read_parquet\""},
    {"FROM read_csv('/etc/passwd')", CLOVE_EPERM, "table function \"read_csv\""},
    {"SELECT * FROM READ_CSV_AUTO('/etc/passwd')", CLOVE_EPERM, "\"read_csv_auto\""},
    {"SELECT * FROM main.read_json('/etc/passwd')", CLOVE_EPERM, "\"read_json\""},
    {"SELECT * FROM sqlite_scan('/tmp/x.db', 't')", CLOVE_EPERM, "\"sqlite_scan\""},
    {"SELECT * FROM duckdb_settings()", CLOVE_EPERM, "\"duckdb_settings\""},
    {"SELECT * FROM duckdb_secrets()", CLOVE_EPERM, "\"duckdb_secrets\""},
    {"SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')", CLOVE_EPERM,
     "table function \"query\" is not allowed: it runs SQL text"},
    {"SELECT * FROM query_table('t')", CLOVE_EPERM, "table function \"query_table\""},
    {"SELECT * FROM json_execute_serialized_sql('{}')", CLOVE_EPERM,
     "\"json_execute_serialized_sql\""},
    {"SELECT * FROM sniff_csv('/etc/passwd')", CLOVE_EPERM, "\"sniff_csv\""},
    {"SELECT * FROM parquet_metadata('/x.parquet')", CLOVE_EPERM, "\"parquet_metadata\""},
    /* replacement scans: a string literal or dotted name in FROM reads a file */
    {"SELECT * FROM '/etc/passwd'", CLOVE_EPERM, "table name \"/etc/passwd\" is not allowed: it "
                                                 "looks like a file path"},
    {"SELECT * FROM 'data.parquet'", CLOVE_EPERM, "table name \"data.parquet\""},
    {"SELECT * FROM \"data.csv\"", CLOVE_EPERM, "table name \"data.csv\""},
    {"SELECT * FROM data.csv", CLOVE_EPERM, "table name \"data.csv\""},
    {"SELECT * FROM 's3://bucket/key'", CLOVE_EPERM, "looks like a file path or URL"},
    {"SELECT * FROM 'https://example.com/x'", CLOVE_EPERM, "looks like a file path or URL"},
    {"SELECT * FROM '*.csv'", CLOVE_EPERM, "looks like a file path"},
    {"SELECT * FROM '~/x'", CLOVE_EPERM, "looks like a file path"},
    {"DESCRIBE '/etc/passwd'", CLOVE_EPERM, "table name \"/etc/passwd\""},
    {"SUMMARIZE '/etc/passwd'", CLOVE_EPERM, "table name \"/etc/passwd\""},
    /* hidden in subqueries, CTEs, set operations, laterals, IN, scalar subqueries */
    {"SELECT * FROM (SELECT * FROM read_csv('/etc/passwd')) s", CLOVE_EPERM, "\"read_csv\""},
    {"SELECT (SELECT count(*) FROM read_csv('/etc/passwd'))", CLOVE_EPERM, "\"read_csv\""},
    {"WITH x AS (SELECT * FROM glob('/*')) SELECT * FROM x", CLOVE_EPERM, "\"glob\""},
    {"WITH x AS (SELECT 1), y AS (SELECT * FROM 'a.csv') SELECT * FROM x", CLOVE_EPERM,
     "\"a.csv\""},
    {"SELECT 1 UNION ALL SELECT count(*) FROM read_text('/etc/hostname')", CLOVE_EPERM,
     "\"read_text\""},
    {"SELECT * FROM t, LATERAL (SELECT * FROM read_csv('/etc/passwd'))", CLOVE_EPERM,
     "\"read_csv\""},
    {"SELECT * FROM t WHERE id IN (SELECT 1 FROM glob('/*'))", CLOVE_EPERM, "\"glob\""},
    {"SELECT * FROM t WHERE EXISTS (SELECT 1 FROM read_blob('/etc/shadow'))", CLOVE_EPERM,
     "\"read_blob\""},
    {"SELECT * FROM t JOIN read_csv('/etc/passwd') r ON true", CLOVE_EPERM, "\"read_csv\""},
    {"SELECT list_transform([1], x -> (SELECT count(*) FROM glob('/*')))", CLOVE_EPERM,
     "\"glob\""},
    {"SELECT sum(a) OVER (ORDER BY (SELECT 1 FROM glob('/*') LIMIT 1)) FROM t", CLOVE_EPERM,
     "\"glob\""},
    {"SELECT a FROM t GROUP BY a HAVING a > (SELECT count(*) FROM read_text('/x'))", CLOVE_EPERM,
     "\"read_text\""},
    {"SELECT * FROM t ORDER BY (SELECT count(*) FROM glob('/*'))", CLOVE_EPERM, "\"glob\""},
    {"SELECT * FROM range((SELECT count(*) FROM glob('/*')))", CLOVE_EPERM, "\"glob\""},
    {"SELECT * FROM unnest((SELECT list(file) FROM glob('/*')))", CLOVE_EPERM, "\"glob\""},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, glob('/*')) "
     "SELECT * FROM r",
     CLOVE_EPERM, "\"glob\""},
    {"DESCRIBE SELECT * FROM read_csv('/etc/passwd')", CLOVE_EPERM, "\"read_csv\""},
    {"SUMMARIZE SELECT * FROM glob('/*')", CLOVE_EPERM, "\"glob\""},
    {"EXPLAIN SELECT * FROM read_csv('/etc/passwd')", CLOVE_EPERM, "\"read_csv\""},
    {"EXPLAIN ANALYZE SELECT * FROM glob('/*')", CLOVE_EPERM, "\"glob\""},
    {"EXPLAIN (FORMAT json) SELECT * FROM glob('/*')", CLOVE_EPERM, "\"glob\""},
    /* DuckDB's parser validates EXPLAIN options itself */
    {"EXPLAIN (FORMAT json, FOO 1) SELECT 1", CLOVE_EQUERY, "Unimplemented explain type: foo"},
    {"EXPLAIN COPY (SELECT 1) TO '/tmp/x.csv'", CLOVE_EPERM, "COPY statements are not allowed"},
    {"PIVOT t ON a USING sum(id)", CLOVE_EPERM, "PIVOT statements without an IN list"},
    /* scalar functions that leak configuration or reach outside */
    {"SELECT current_setting('threads')", CLOVE_EPERM, "function \"current_setting\" is not "
                                                       "allowed: it reveals the engine's "
                                                       "configuration"},
    {"SELECT CURRENT_SETTING('threads')", CLOVE_EPERM, "\"current_setting\""},
    {"SELECT * FROM t WHERE a = (SELECT current_setting('memory_limit'))", CLOVE_EPERM,
     "\"current_setting\""},
    {"SELECT getvariable('x')", CLOVE_EPERM, "\"getvariable\""},
    {"SELECT json_serialize_plan('SELECT * FROM read_csv(''/etc/passwd'')')", CLOVE_EPERM,
     "\"json_serialize_plan\""},
    {"SELECT nextval('seq')", CLOVE_EPERM, "\"nextval\" is not allowed: it advances a sequence"},
    {"SELECT write_log('x')", CLOVE_EPERM, "\"write_log\""},
    {"SELECT setseed(0.5)", CLOVE_EPERM, "\"setseed\""},
    {"SELECT * FROM pg_settings", CLOVE_EPERM, "system view \"pg_settings\""},
    {"SELECT * FROM pg_catalog.pg_settings", CLOVE_EPERM, "system view \"pg_settings\""},
    {"SELECT path FROM duckdb_databases", CLOVE_EPERM, "system view \"duckdb_databases\""},
    {"SELECT * FROM pragma_database_list", CLOVE_EPERM, "\"pragma_database_list\""},
    {"SHOW VARIABLES", CLOVE_EPERM, "SHOW \"variables\" is not allowed"},
    /* other databases */
    {"SELECT * FROM other.main.secret", CLOVE_EPERM, "database \"other\" is not accessible"},
    {"SELECT * FROM other.secret", CLOVE_EPERM, "database \"other\" is not accessible"},
    {"SELECT * FROM x.main.t", CLOVE_EPERM, "database \"x\" is not accessible"},
    {"SHOW TABLES FROM other", CLOVE_EPERM, "database \"other\" is not accessible"},
    /* statements that are not queries */
    {"COPY (SELECT 1) TO '/tmp/x.csv'", CLOVE_EPERM, "COPY statements are not allowed: " RO},
    {"COPY t FROM '/etc/passwd'", CLOVE_EPERM, "COPY statements are not allowed"},
    {"ATTACH '/tmp/x.db'", CLOVE_EPERM, "ATTACH statements are not allowed"},
    {"ATTACH '/tmp/x.db' AS x (READ_ONLY)", CLOVE_EPERM, "ATTACH statements"},
    {"DETACH x", CLOVE_EPERM, "DETACH statements are not allowed"},
    {"INSTALL httpfs", CLOVE_EPERM, "INSTALL statements are not allowed"},
    {"FORCE INSTALL httpfs", CLOVE_EPERM, "INSTALL statements are not allowed"},
    {"LOAD httpfs", CLOVE_EPERM, "LOAD statements are not allowed"},
    {"SET threads = 1", CLOVE_EPERM, "SET statements are not allowed"},
    {"RESET threads", CLOVE_EPERM, "RESET statements are not allowed"},
    {"PRAGMA database_list", CLOVE_EPERM, "PRAGMA statements are not allowed"},
    {"CREATE TABLE t2 (a INT)", CLOVE_EPERM, "CREATE statements are not allowed"},
    {"CREATE TABLE t (a INT)", CLOVE_EPERM, "CREATE statements are not allowed"},
    {"CREATE MACRO m() AS TABLE SELECT * FROM read_csv('/etc/passwd')", CLOVE_EPERM,
     "CREATE statements"},
    {"CREATE SECRET (TYPE s3, KEY_ID 'x', SECRET 'y')", CLOVE_EPERM, "CREATE statements"},
    {"DROP VIEW v", CLOVE_EPERM, "DROP statements are not allowed"},
    {"ALTER TABLE t ADD COLUMN z INT", CLOVE_EPERM, "ALTER statements are not allowed"},
    {"INSERT INTO t VALUES (1, 2, NULL)", CLOVE_EPERM, "INSERT statements are not allowed"},
    {"INSERT OR REPLACE INTO t VALUES (1, 2, NULL)", CLOVE_EPERM, "INSERT statements"},
    {"UPDATE t SET a = 0", CLOVE_EPERM, "UPDATE statements are not allowed"},
    {"DELETE FROM t", CLOVE_EPERM, "DELETE statements are not allowed"},
    {"TRUNCATE t", CLOVE_EPERM, "TRUNCATE statements are not allowed"},
    {"WITH x AS (SELECT 1) INSERT INTO t SELECT 1, 2, NULL", CLOVE_EPERM,
     "INSERT statements are not allowed"},
    {"WITH x AS (SELECT 1), y AS (SELECT 2) DELETE FROM t", CLOVE_EPERM, "DELETE statements"},
    {"CALL pragma_version()", CLOVE_EPERM, "CALL statements are not allowed"},
    {"EXPORT DATABASE '/tmp/e'", CLOVE_EPERM, "EXPORT statements are not allowed"},
    {"IMPORT DATABASE '/tmp/e'", CLOVE_EPERM, "IMPORT statements are not allowed"},
    {"USE memory", CLOVE_EPERM, "USE statements are not allowed"},
    {"BEGIN TRANSACTION", CLOVE_EPERM, "transaction statements (BEGIN) are not allowed"},
    {"COMMIT", CLOVE_EPERM, "transaction statements (COMMIT)"},
    {"ROLLBACK", CLOVE_EPERM, "transaction statements (ROLLBACK)"},
    {"CHECKPOINT", CLOVE_EPERM, "CHECKPOINT statements are not allowed"},
    {"FORCE CHECKPOINT", CLOVE_EPERM, "CHECKPOINT statements are not allowed"},
    {"VACUUM", CLOVE_EPERM, "VACUUM statements are not allowed"},
    {"ANALYZE", CLOVE_EPERM, "ANALYZE statements are not allowed"},
    {"PREPARE p AS SELECT 1", CLOVE_EPERM, "PREPARE statements are not allowed"},
    {"EXECUTE p", CLOVE_EPERM, "EXECUTE statements are not allowed"},
    {"DEALLOCATE p", CLOVE_EPERM, "DEALLOCATE statements are not allowed"},
    {"  /* lead */ -- line\n  copy t TO '/tmp/x.csv'", CLOVE_EPERM, "COPY statements"},
    {"(((COPY t TO '/tmp/x.csv')))", CLOVE_EQUERY, "syntax error at or near \"COPY\""},
    {"SELECT * FROM t WHERE id = $1 AND a = $name", CLOVE_EQUERY,
     "Mixing named and positional parameters"},
    /* multiple statements */
    {"SELECT 1; DROP TABLE x", CLOVE_EPERM, "multiple statements are not allowed"},
    {"SELECT 1; SELECT 2", CLOVE_EPERM, "multiple statements are not allowed: send exactly one "
                                        "query per request (found 2)"},
    {"SELECT 1; COPY t TO '/tmp/x.csv'", CLOVE_EPERM, "multiple statements"},
    {"EXPLAIN SELECT 1; ATTACH '/tmp/x.db'", CLOVE_EPERM, "multiple statements"},
    {"SELECT 1; IMPORT DATABASE '/tmp/e'", CLOVE_EPERM, "multiple statements"},
    /* empty, comments, syntax errors */
    {"", CLOVE_EQUERY, "empty query: the SQL text contains no statement"},
    {"   \n\t ", CLOVE_EQUERY, "empty query"},
    {"-- only a comment", CLOVE_EQUERY, "empty query"},
    {"/* only a comment */", CLOVE_EQUERY, "empty query"},
    {";", CLOVE_EQUERY, "empty query"},
    {"SELEC 1", CLOVE_EQUERY, "syntax error at or near \"SELEC\" at line 1, column 1"},
    {"SELECT 1 FROM\nWHERE", CLOVE_EQUERY, "syntax error at or near \"WHERE\" at line 2, "
                                           "column 1"},
    {"EXPLAIN SELEC 1", CLOVE_EQUERY, "syntax error"},
    {"SELECT 'unterminated", CLOVE_EQUERY, "unterminated quoted string"},
};

static void test_refused(void **state)
{
    (void)state;
    int64_t tables_before = query_int("SELECT count(*) FROM duckdb_tables()");
    int64_t dbs_before = query_int("SELECT count(*) FROM duckdb_databases()");
    int64_t threads_before = query_int("SELECT current_setting('threads')::BIGINT");
    int64_t seq_before = query_int("SELECT count(*) FROM duckdb_sequences() "
                                   "WHERE last_value IS NOT NULL");
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        const probe_t *p = &probes[i];
        clove_sandbox_result_t res;
        clove_err_t err;
        clove_err_clear(&err);
        memset(&res, 0xAB, sizeof res);
        int rc = clove_sandbox_check(g_conn, p->sql, &res, &err);
        if (rc != p->code || err.code != p->code || !strstr(err.message, p->msg)) {
            fprintf(stderr, "probe %zu: %s\n  got %d \"%s\"\n  want %d \"%s\"\n", i, p->sql, rc,
                    err.message, p->code, p->msg);
            fail();
        }
        assert_null(res.tables);
        assert_int_equal(res.n_tables, 0);
        /* messages start lower case, except where they start with an SQL keyword or name */
        assert_true(err.message[0] != 0);
        assert_false(path_exists("/tmp/x.csv"));
        assert_false(path_exists("/tmp/x.db"));
        assert_false(path_exists("/tmp/e"));
    }
    assert_int_equal(query_int("SELECT count(*) FROM duckdb_tables()"), tables_before);
    assert_int_equal(query_int("SELECT count(*) FROM duckdb_databases()"), dbs_before);
    assert_int_equal(query_int("SELECT current_setting('threads')::BIGINT"), threads_before);
    assert_int_equal(query_int("SELECT count(*) FROM duckdb_sequences() "
                               "WHERE last_value IS NOT NULL"),
                     seq_before);
    assert_int_equal(query_int("SELECT count(*) FROM t"), 2);
}

/* IMPORT DATABASE must be refused without DuckDB reading <dir>/schema.sql: if it were read,
 * the garbage in it would surface as a parser error (CLOVE_EQUERY) instead of CLOVE_EPERM. */
static void test_import_reads_nothing(void **state)
{
    (void)state;
    char sql[160];
    clove_err_t err;
    snprintf(sql, sizeof sql, "IMPORT DATABASE '%s'", g_import_dir);
    assert_int_equal(clove_sandbox_check(g_conn, sql, NULL, &err), CLOVE_EPERM);
    assert_non_null(strstr(err.message, "IMPORT statements are not allowed"));
    snprintf(sql, sizeof sql, "SELECT 1; IMPORT DATABASE '%s'", g_import_dir);
    assert_int_equal(clove_sandbox_check(g_conn, sql, NULL, &err), CLOVE_EPERM);
    assert_non_null(strstr(err.message, "multiple statements"));
}

static void test_null_arguments(void **state)
{
    (void)state;
    clove_sandbox_result_t res;
    clove_err_t err;
    assert_int_equal(clove_sandbox_check(g_conn, NULL, &res, &err), CLOVE_EINVAL);
    assert_int_equal(clove_sandbox_check(NULL, "SELECT 1", &res, &err), CLOVE_EINVAL);
    assert_int_equal(clove_sandbox_check(g_conn, "SELECT 1", &res, NULL), 0);
    clove_sandbox_result_dispose(&res);
    assert_int_equal(clove_sandbox_check(g_conn, "COPY t TO 'x'", &res, NULL), CLOVE_EPERM);
    assert_int_equal(clove_sandbox_check(g_conn, "SELECT * FROM t", NULL, NULL), 0);
    clove_sandbox_result_dispose(NULL);
}

/* ---- allowed ------------------------------------------------------------------------------- */

typedef struct {
    const char *sql;
    clove_stmt_kind_t kind;
    const char *tables; /* comma separated, sorted */
} allowed_t;

static const allowed_t allowed[] = {
    {"SELECT 1", CLOVE_STMT_SELECT, ""},
    {"SELECT 1;", CLOVE_STMT_SELECT, ""},
    {"  -- leading comment\n SELECT /* inline */ 1 -- trailing", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM t", CLOVE_STMT_SELECT, "t"},
    {"select * from T", CLOVE_STMT_SELECT, "t"},
    {"SELECT * FROM \"T\"", CLOVE_STMT_SELECT, "t"},
    {"FROM t", CLOVE_STMT_SELECT, "t"},
    {"TABLE t", CLOVE_STMT_SELECT, "t"},
    {"(SELECT 1)", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM v", CLOVE_STMT_SELECT, "v"},
    {"SELECT * FROM t JOIN spice.public.u USING (id)", CLOVE_STMT_SELECT, "t,u"},
    {"SELECT * FROM spice.public.t", CLOVE_STMT_SELECT, "t"},
    {"SELECT * FROM public.t t1, t AS t2, SPICE.PUBLIC.T t3", CLOVE_STMT_SELECT, "t"},
    {"SELECT * FROM memory.main.x", CLOVE_STMT_SELECT, "memory.main.x"},
    {"SELECT * FROM main.x", CLOVE_STMT_SELECT, "main.x"},
    {"SELECT * FROM information_schema.tables", CLOVE_STMT_SELECT, "information_schema.tables"},
    {"SELECT * FROM duckdb_tables", CLOVE_STMT_SELECT, "duckdb_tables"},
    {"SELECT * FROM u, v, t WHERE u.id = t.id", CLOVE_STMT_SELECT, "t,u,v"},
    {"SELECT * FROM t LEFT JOIN u ON t.id = u.id FULL JOIN v ON v.id = t.id", CLOVE_STMT_SELECT,
     "t,u,v"},
    {"SELECT * FROM t POSITIONAL JOIN u", CLOVE_STMT_SELECT, "t,u"},
    {"SELECT * FROM t ASOF JOIN u ON t.id >= u.id", CLOVE_STMT_SELECT, "t,u"},
    {"WITH x AS (SELECT * FROM t) SELECT * FROM x", CLOVE_STMT_SELECT, "t"},
    {"WITH t AS (SELECT * FROM u) SELECT * FROM t", CLOVE_STMT_SELECT, "u"},
    /* a non-recursive CTE naming itself reads the base table */
    {"WITH t AS (SELECT * FROM t) SELECT * FROM t", CLOVE_STMT_SELECT, "t"},
    {"WITH x AS (SELECT 1 AS id), y AS (SELECT * FROM x JOIN u USING (id)) SELECT * FROM y",
     CLOVE_STMT_SELECT, "u"},
    /* a CTE shadows only bare names, and only where it is in scope */
    {"WITH t AS (SELECT 1 AS id) SELECT * FROM t c JOIN spice.public.t USING (id)",
     CLOVE_STMT_SELECT, "t"},
    {"SELECT * FROM (WITH u AS (SELECT 1 AS id) SELECT * FROM u) s, u", CLOVE_STMT_SELECT, "u"},
    {"WITH pg_settings AS (SELECT 1) SELECT * FROM pg_settings", CLOVE_STMT_SELECT, ""},
    {"DESCRIBE", CLOVE_STMT_SELECT, ""},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
     "SELECT * FROM r",
     CLOVE_STMT_SELECT, ""},
    {"WITH RECURSIVE r(n) AS (SELECT id FROM t UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
     "SELECT * FROM r, u",
     CLOVE_STMT_SELECT, "t,u"},
    {"SELECT id, row_number() OVER (PARTITION BY a ORDER BY id), "
     "sum(a) OVER w FROM t WINDOW w AS (ORDER BY id) QUALIFY row_number() OVER () < 5",
     CLOVE_STMT_SELECT, "t"},
    {"SELECT a, count(*) FROM t GROUP BY ALL HAVING count(*) > (SELECT count(*) FROM u) "
     "ORDER BY 1 LIMIT 10",
     CLOVE_STMT_SELECT, "t,u"},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u) AND EXISTS (SELECT 1 FROM v)",
     CLOVE_STMT_SELECT, "t,u,v"},
    {"SELECT (SELECT max(id) FROM u) AS m", CLOVE_STMT_SELECT, "u"},
    {"SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.id = t.id) s", CLOVE_STMT_SELECT,
     "t,u"},
    {"SELECT id FROM t UNION SELECT id FROM u EXCEPT SELECT id FROM v INTERSECT SELECT 1",
     CLOVE_STMT_SELECT, "t,u,v"},
    {"VALUES (1), (2)", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM (VALUES (1, 'a'), (2, 'b')) s(x, y)", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM range(10)", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM generate_series(1, 3)", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM range(3) WITH ORDINALITY", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM t, range(t.id) r", CLOVE_STMT_SELECT, "t"},
    {"SELECT unnest([1, 2])", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM unnest([1, 2])", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM json_each('{\"a\": 1}')", CLOVE_STMT_SELECT, ""},
    {"SELECT list_transform(l, x -> x + 1), list_filter(l, lambda x: x > 1) FROM t",
     CLOVE_STMT_SELECT, "t"},
    {"SELECT list_reduce(l, (acc, x) -> acc + x) FROM t", CLOVE_STMT_SELECT, "t"},
    {"SELECT $1 + 1", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM t WHERE id = $id AND a = $name", CLOVE_STMT_SELECT, "t"},
    {"SELECT 'read_csv(/etc/passwd)'", CLOVE_STMT_SELECT, ""},
    {"SELECT 'COPY t TO ''/tmp/x.csv''; DROP TABLE t'", CLOVE_STMT_SELECT, ""},
    {"SELECT $$ ; DROP TABLE t; $$", CLOVE_STMT_SELECT, ""},
    {"SELECT current_database(), version(), current_date", CLOVE_STMT_SELECT, ""},
    {"SELECT * FROM t USING SAMPLE 50%", CLOVE_STMT_SELECT, "t"},
    {"SELECT COLUMNS('a|id') FROM t", CLOVE_STMT_SELECT, "t"},
    {"SELECT {'k': 1} AS s, [1, 2][1:1], 1::VARCHAR", CLOVE_STMT_SELECT, ""},
    {"PIVOT t ON a IN (10, 20) USING sum(id)", CLOVE_STMT_SELECT, "t"},
    {"UNPIVOT t ON id, a INTO NAME k VALUE val", CLOVE_STMT_SELECT, "t"},
    {"DESCRIBE t", CLOVE_STMT_SELECT, "t"},
    {"DESCRIBE spice.public.u", CLOVE_STMT_SELECT, "u"},
    {"DESCRIBE SELECT * FROM t JOIN u USING (id)", CLOVE_STMT_SELECT, "t,u"},
    {"SHOW t", CLOVE_STMT_SELECT, "t"},
    {"SHOW TABLES", CLOVE_STMT_SELECT, ""},
    {"SHOW ALL TABLES", CLOVE_STMT_SELECT, ""},
    {"SHOW DATABASES", CLOVE_STMT_SELECT, ""},
    {"SUMMARIZE t", CLOVE_STMT_SELECT, "t"},
    {"SUMMARIZE SELECT a FROM t", CLOVE_STMT_SELECT, "t"},
    {"EXPLAIN SELECT * FROM t JOIN u USING (id)", CLOVE_STMT_EXPLAIN, "t,u"},
    {"explain analyze SELECT count(*) FROM t", CLOVE_STMT_EXPLAIN, "t"},
    {"EXPLAIN ANALYZE (SELECT 1)", CLOVE_STMT_EXPLAIN, ""},
    {"/* c */ EXPLAIN -- c\n (FORMAT json) SELECT * FROM v", CLOVE_STMT_EXPLAIN, "v"},
    {"EXPLAIN (ANALYZE, FORMAT 'json') SELECT 1", CLOVE_STMT_EXPLAIN, ""},
    {"EXPLAIN WITH x AS (SELECT * FROM u) SELECT * FROM x", CLOVE_STMT_EXPLAIN, "u"},
    {"EXPLAIN DESCRIBE t", CLOVE_STMT_EXPLAIN, "t"},
    {"EXPLAIN SELECT 1;", CLOVE_STMT_EXPLAIN, ""},
};

static void join_tables(const clove_sandbox_result_t *res, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < res->n_tables; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", res->tables[i]);
}

static void test_allowed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        const allowed_t *a = &allowed[i];
        clove_sandbox_result_t res;
        clove_err_t err;
        char got[256];
        clove_err_clear(&err);
        int rc = clove_sandbox_check(g_conn, a->sql, &res, &err);
        if (rc != 0) {
            fprintf(stderr, "allowed %zu: %s\n  refused: %d %s\n", i, a->sql, rc, err.message);
            fail();
        }
        join_tables(&res, got, sizeof got);
        if (res.kind != a->kind || strcmp(got, a->tables) != 0) {
            fprintf(stderr, "allowed %zu: %s\n  got kind %d [%s], want kind %d [%s]\n", i,
                    a->sql, res.kind, got, a->kind, a->tables);
            fail();
        }
        clove_sandbox_result_dispose(&res);
        assert_null(res.tables);
        /* and DuckDB really runs it (parameters aside) */
        if (!strchr(a->sql, '$') || strstr(a->sql, "$$")) {
            duckdb_result r;
            if (duckdb_query(g_conn, a->sql, &r) == DuckDBError) {
                fprintf(stderr, "allowed %zu: %s\n  does not run: %s\n", i, a->sql,
                        duckdb_result_error(&r));
                duckdb_destroy_result(&r);
                fail();
            }
            duckdb_destroy_result(&r);
        }
    }
}

/* The engine locks its configuration and turns external access off; the sandbox's own parser
 * call must keep working there. */
static void test_locked_engine(void **state)
{
    (void)state;
    duckdb_database db;
    duckdb_connection c;
    duckdb_config cfg;
    char *open_err = NULL;
    assert_int_equal(duckdb_create_config(&cfg), DuckDBSuccess);
    assert_int_equal(duckdb_set_config(cfg, "enable_external_access", "false"), DuckDBSuccess);
    assert_int_equal(duckdb_open_ext(NULL, &db, cfg, &open_err), DuckDBSuccess);
    duckdb_destroy_config(&cfg);
    assert_int_equal(duckdb_connect(db, &c), DuckDBSuccess);
    exec_ok(c, "CREATE TABLE t (id INTEGER)");
    exec_ok(c, "SET lock_configuration = true");
    clove_sandbox_result_t res;
    clove_err_t err;
    assert_int_equal(clove_sandbox_check(c, "SELECT * FROM t", &res, &err), 0);
    assert_int_equal(res.n_tables, 1);
    assert_string_equal(res.tables[0], "t");
    clove_sandbox_result_dispose(&res);
    assert_int_equal(clove_sandbox_check(c, "SELECT * FROM x.y", &res, &err), 0);
    assert_string_equal(res.tables[0], "x.y");
    clove_sandbox_result_dispose(&res);
    assert_int_equal(clove_sandbox_check(c, "COPY t TO '/tmp/x.csv'", &res, &err), CLOVE_EPERM);
    duckdb_disconnect(&c);
    duckdb_close(&db);
}

/* Reported, not asserted: the cost of one check of a small query. */
static void test_timing(void **state)
{
    (void)state;
    const char *sql = "SELECT a, count(*) FROM t JOIN u USING (id) WHERE id > $1 GROUP BY a";
    const int n = 2000;
    clove_sandbox_result_t res;
    clove_err_t err;
    int64_t t0 = clove_mono_ns();
    for (int i = 0; i < n; i++) {
        assert_int_equal(clove_sandbox_check(g_conn, sql, &res, &err), 0);
        clove_sandbox_result_dispose(&res);
    }
    int64_t t1 = clove_mono_ns();
    clove_sandbox_t *sb = clove_sandbox_create(g_conn, &err);
    assert_non_null(sb);
    int64_t t2 = clove_mono_ns();
    for (int i = 0; i < n; i++) {
        assert_int_equal(clove_sandbox_run(sb, sql, &res, &err), 0);
        assert_int_equal(res.n_tables, 2);
        clove_sandbox_result_dispose(&res);
    }
    int64_t t3 = clove_mono_ns();
    assert_int_equal(clove_sandbox_run(sb, "COPY t TO '/tmp/x.csv'", &res, &err), CLOVE_EPERM);
    assert_int_equal(clove_sandbox_run(sb, "EXPLAIN SELECT * FROM v", &res, &err), 0);
    assert_int_equal(res.kind, CLOVE_STMT_EXPLAIN);
    clove_sandbox_result_dispose(&res);
    clove_sandbox_destroy(sb);
    clove_sandbox_destroy(NULL);
    assert_int_equal(clove_sandbox_run(NULL, "SELECT 1", &res, &err), CLOVE_EINVAL);
    assert_null(clove_sandbox_create(NULL, &err));
    printf("sandbox check of a small join: %.1f us (clove_sandbox_check), %.1f us "
           "(clove_sandbox_run, parser query kept prepared); %d runs each\n",
           (double)(t1 - t0) / n / 1000.0, (double)(t3 - t2) / n / 1000.0, n);
}

/* Pathological nesting is answered cleanly (allowed or refused), never by a crash. */
static void check_nested(const char *open, const char *mid, const char *close, int depth)
{
    size_t cap = (size_t)depth * (strlen(open) + strlen(close)) + strlen(mid) + 16;
    char *sql = malloc(cap);
    assert_non_null(sql);
    size_t len = (size_t)snprintf(sql, cap, "SELECT ");
    for (int i = 0; i < depth; i++) len += (size_t)snprintf(sql + len, cap - len, "%s", open);
    len += (size_t)snprintf(sql + len, cap - len, "%s", mid);
    for (int i = 0; i < depth; i++) len += (size_t)snprintf(sql + len, cap - len, "%s", close);
    clove_err_t err;
    int rc = clove_sandbox_check(g_conn, sql, NULL, &err);
    printf("%d x \"%s\": %d %s\n", depth, open, rc, rc ? err.message : "allowed");
    assert_true(rc == CLOVE_EQUERY || rc == 0);
    free(sql);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    check_nested("(", "1", ")", 3000);
    check_nested("1+(", "1", ")", 3000);
    check_nested("(SELECT ", "1", ")", 3000);
    check_nested("(SELECT ", "1", ")", 150);
    check_nested("(SELECT ", "1", ")", 300);
    check_nested("(SELECT ", "1", ")", 600); /* DuckDB stops at expression depth 1000 */
    check_nested("[", "1", "]", 3000);
}

/* ---- :name parameters ---------------------------------------------------------------------- */

static void expect_rewrite(const char *in, const char *want)
{
    char *got = clove_sql_rewrite_named_params(in);
    bool same = strcmp(got, want) == 0;
    if (!same) fprintf(stderr, "rewrite: %s\n  got  %s\n  want %s\n", in, got, want);
    free(got);
    assert_true(same);
}

static void test_rewrite_named_params(void **state)
{
    (void)state;
    assert_null(clove_sql_rewrite_named_params(NULL));
    expect_rewrite("", "");
    expect_rewrite("SELECT :a, :b_2, :_c", "SELECT $a, $b_2, $_c");
    expect_rewrite("SELECT * FROM t WHERE id=:id AND a IN (:x,:y)",
                   "SELECT * FROM t WHERE id=$id AND a IN ($x,$y)");
    expect_rewrite(":first", "$first");
    expect_rewrite("SELECT x::INT, :y::VARCHAR, CAST(:z AS INT)",
                   "SELECT x::INT, $y::VARCHAR, CAST($z AS INT)");
    expect_rewrite("SELECT ':a', 'it''s :a', :b", "SELECT ':a', 'it''s :a', $b");
    expect_rewrite("SELECT E'\\':a', :b", "SELECT E'\\':a', $b");
    expect_rewrite("SELECT e'x\\\\', :b", "SELECT e'x\\\\', $b");
    expect_rewrite("SELECT $$ :a $$, :b", "SELECT $$ :a $$, $b");
    expect_rewrite("SELECT $tag$ :a $other$ :b $tag$, :c", "SELECT $tag$ :a $other$ :b $tag$, $c");
    expect_rewrite("SELECT $1, $name, :p", "SELECT $1, $name, $p");
    expect_rewrite("SELECT \":a\", \"x\"\":b\", :c", "SELECT \":a\", \"x\"\":b\", $c");
    expect_rewrite("SELECT 1 -- :a\n, :b", "SELECT 1 -- :a\n, $b");
    expect_rewrite("/* :a /* nested :b */ :c */ SELECT :d",
                   "/* :a /* nested :b */ :c */ SELECT $d");
    expect_rewrite("SELECT arr[1:2], arr[:n], arr[i:j], [:a, :b]",
                   "SELECT arr[1:2], arr[:n], arr[i:j], [$a, $b]");
    expect_rewrite("SELECT list_filter(l, lambda x:x > 1)",
                   "SELECT list_filter(l, lambda x:x > 1)");
    expect_rewrite("SELECT {'k': :v, 'j':w}", "SELECT {'k': $v, 'j':w}");
    expect_rewrite("SELECT :1, : a, :=, ::x", "SELECT :1, : a, :=, ::x");
    expect_rewrite("SELECT ':a", "SELECT ':a");
    expect_rewrite("SELECT $$ :a", "SELECT $$ :a");
    expect_rewrite("SELECT /* :a", "SELECT /* :a");
    expect_rewrite("SELECT :été", "SELECT :été");
}

/* A rewritten query passes the sandbox and binds by name. */
static void test_rewrite_then_check(void **state)
{
    (void)state;
    char *sql = clove_sql_rewrite_named_params("SELECT a FROM t WHERE id = :id");
    clove_sandbox_result_t res;
    clove_err_t err;
    assert_int_equal(clove_sandbox_check(g_conn, sql, &res, &err), 0);
    assert_int_equal(res.n_tables, 1);
    clove_sandbox_result_dispose(&res);
    duckdb_prepared_statement ps;
    assert_int_equal(duckdb_prepare(g_conn, sql, &ps), DuckDBSuccess);
    idx_t idx = 0;
    assert_int_equal(duckdb_bind_parameter_index(ps, &idx, "id"), DuckDBSuccess);
    duckdb_destroy_prepare(&ps);
    free(sql);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_import_reads_nothing),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_locked_engine),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_rewrite_named_params),
        cmocka_unit_test(test_rewrite_then_check),
        cmocka_unit_test(test_timing),
    };
    return cmocka_run_group_tests_name("sandbox", tests, setup, teardown);
}

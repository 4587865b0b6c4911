/*
 * clove-duckdb-exec SQL...: runs each SQL argument on an in-memory DuckDB (the same library
 * cloved uses) and prints result rows tab-separated. The tests and benchmarks use it to write
 * Parquet, CSV and JSON fixtures (COPY ... TO) and to read files back, without a Python
 * Parquet library.
 */
#include <duckdb.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: clove-duckdb-exec SQL...\n");
        return 2;
    }
    duckdb_database db;
    duckdb_connection conn;
    if (duckdb_open(NULL, &db) == DuckDBError || duckdb_connect(db, &conn) == DuckDBError) {
        fprintf(stderr, "clove-duckdb-exec: could not open DuckDB\n");
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        duckdb_result res;
        if (duckdb_query(conn, argv[i], &res) == DuckDBError) {
            fprintf(stderr, "clove-duckdb-exec: %s\n", duckdb_result_error(&res));
            rc = 1;
        } else {
            idx_t cols = duckdb_column_count(&res), rows = duckdb_row_count(&res);
            for (idx_t r = 0; r < rows; r++) {
                for (idx_t c = 0; c < cols; c++) {
                    char *v = duckdb_value_varchar(&res, c, r);
                    printf("%s%s", c ? "\t" : "", v ? v : "NULL");
                    duckdb_free(v);
                }
                printf("\n");
            }
        }
        duckdb_destroy_result(&res);
    }
    duckdb_disconnect(&conn);
    duckdb_close(&db);
    return rc;
}

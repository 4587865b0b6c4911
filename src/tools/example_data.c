/*
 * clove-example-data: writes the quickstart's data files (a taxi-trips-like Parquet table
 * and a CSV of zones) with DuckDB, deterministically, so every machine gets the same data.
 * usage: clove-example-data DIR [ROWS]
 */
#include <duckdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run(duckdb_connection c, const char *sql)
{
    duckdb_result r;
    int rc = 0;
    if (duckdb_query(c, sql, &r) == DuckDBError) {
        fprintf(stderr, "clove-example-data: %s\n", duckdb_result_error(&r));
        rc = 1;
    }
    duckdb_destroy_result(&r);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: clove-example-data DIR [ROWS]\n");
        return 2;
    }
    const char *dir = argv[1];
    long rows = argc > 2 ? atol(argv[2]) : 100000;
    if (rows <= 0 || strchr(dir, '\'')) {
        fprintf(stderr, "clove-example-data: bad arguments\n");
        return 2;
    }
    mkdir(dir, 0755);
    duckdb_database db;
    duckdb_connection c;
    if (duckdb_open(NULL, &db) == DuckDBError || duckdb_connect(db, &c) == DuckDBError) {
        fprintf(stderr, "clove-example-data: could not open DuckDB\n");
        return 1;
    }
    char sql[4096];
    snprintf(sql, sizeof sql,
             "COPY (SELECT i AS trip_id,"
             " ['CMT','VTS','DDS'][1 + (hash(i) %% 3)::INT] AS vendor,"
             " TIMESTAMP '2024-01-01 00:00:00' + to_seconds((i * 37) %% (31*86400)) AS pickup_time,"
             " TIMESTAMP '2024-01-01 00:00:00' + to_seconds((i * 37) %% (31*86400) + 120 + hash(i, 1) %% 3600) AS dropoff_time,"
             " (1 + hash(i, 2) %% 4)::TINYINT AS passenger_count,"
             " round(0.3 + (hash(i, 3) %% 2000) / 100.0, 2)::DOUBLE AS trip_distance,"
             " (3.0 + (hash(i, 4) %% 6000) / 100.0)::DECIMAL(10,2) AS fare,"
             " ((hash(i, 5) %% 1000) / 100.0)::DECIMAL(10,2) AS tip,"
             " ['card','cash','no_charge','dispute'][1 + (hash(i, 6) %% 4)::INT] AS payment_type,"
             " (1 + hash(i, 7) %% 20)::INTEGER AS pickup_zone"
             " FROM range(%ld) t(i) ORDER BY i) TO '%s/taxi_trips.parquet' (FORMAT parquet)",
             rows, dir);
    int rc = run(c, sql);
    snprintf(sql, sizeof sql,
             "COPY (SELECT z AS zone_id, 'Zone ' || z AS zone_name,"
             " ['Manhattan','Brooklyn','Queens','Bronx','Staten Island'][1 + z %% 5] AS borough"
             " FROM range(1, 21) t(z)) TO '%s/zones.csv' (HEADER, DELIMITER ',')", dir);
    rc |= run(c, sql);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    if (rc == 0) printf("wrote %s/taxi_trips.parquet (%ld rows) and %s/zones.csv\n", dir, rows, dir);
    return rc;
}

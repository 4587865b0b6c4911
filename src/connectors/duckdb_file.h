/*
 * connectors/duckdb_file.h: DuckDB database files as sources (`from: duckdb:[schema.]table`
 * with `params.duckdb_open: FILE`). The file is attached read-only to the engine's database
 * (before its configuration is locked; one ATTACH per file, shared by the datasets reading it)
 * and the dataset reads the table through the attached catalog, so DuckDB's own filter and
 * projection pushdown apply. User SQL cannot name the attached catalog (the sandbox allows
 * only spice, memory, system and temp).
 */
#ifndef CLOVE_DUCKDB_FILE_H
#define CLOVE_DUCKDB_FILE_H

#include <duckdb.h>

#include "common/common.h"

/* ATTACH '<path>' AS "<alias>" (READ_ONLY) on conn. Returns 0, or CLOVE_ENOTFOUND (no such
 * file), CLOVE_EIO (not a DuckDB file, locked by a writer, unreadable) with a message naming
 * the file and dataset. */
int clove_duckdb_file_attach(duckdb_connection conn, const char *dataset, const char *path,
                             const char *alias, clove_err_t *err);

/* The table expression "<alias>"."schema"."table" for `from` (duckdb:table or
 * duckdb:schema.table; "Quoted" parts keep their case), after checking that the table exists
 * in the attached file. NULL with err (CLOVE_ECONFIG for a malformed from, CLOVE_ENOTFOUND for
 * a missing table) naming the table, the file and the dataset. */
char *clove_duckdb_file_table(duckdb_connection conn, const char *dataset, const char *from,
                              const char *path, const char *alias, clove_err_t *err);

#endif

"""
The SQL sandbox over HTTP: every probe answers 400 with a message that says what is not
allowed, and nothing happened (no file written, no view dropped, no table created, no
setting changed). Paths written to are unique per run, and some sit inside the dataset's own
directory, which the engine itself may read: only the sandbox stands between them and a write.
"""
import os
import shutil
import tempfile
import unittest

from harness import Cloved, CloveTest, make_data

POD = """\
version: v1
kind: Spicepod
name: sandbox
datasets:
  - from: file:data/taxi_trips.parquet
    name: trips
  - from: file:data/zones.csv
    name: zones
    acceleration:
      enabled: true
views:
  - name: v
    sql: SELECT zone_id, borough FROM zones WHERE zone_id <= 5
"""

NOT_READ_ONLY = "clove only runs read-only queries"


class SandboxTest(CloveTest):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="clove-e2e-sandbox-")
        cls.data = os.path.join(cls.workdir, "data")
        make_data(cls.data, 200)
        cls.outdir = tempfile.mkdtemp(prefix="clove-e2e-sandbox-out-")
        cls.c = Cloved(POD, workdir=cls.workdir)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.c.stop()
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)
            shutil.rmtree(cls.outdir, ignore_errors=True)

    def refused(self, sql, *needles):
        r = self.c.sql(sql)
        self.assertEqual(r.status, 400, "%s -> %r" % (sql, r))
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        for n in needles:
            self.assertIn(n, r.text, sql)
        return r.text

    def assert_not_created(self, *paths):
        for p in paths:
            self.assertFalse(os.path.exists(p), "%s was created" % p)

    def unique(self, name):
        """Two unique paths: one in a fresh temp dir, one inside the dataset directory."""
        return (os.path.join(self.outdir, name), os.path.join(self.data, "probe-" + name))

    def assert_still_serving(self):
        self.assertEqual(self.c.scalar("SELECT count(*) FROM trips"), 200)
        self.assertEqual(self.c.rows("SELECT * FROM v ORDER BY zone_id")[0],
                         {"zone_id": 1, "borough": "Brooklyn"})

    # ---- file and network table functions ------------------------------------------------

    def test_read_csv(self):
        self.refused("SELECT * FROM read_csv('/etc/passwd')", 'table function "read_csv"',
                     "not allowed")

    def test_read_text(self):
        self.refused("SELECT * FROM read_text('/etc/hostname')", '"read_text"', "not allowed")

    def test_glob(self):
        self.refused("SELECT * FROM glob('/*')", '"glob"', "not allowed")

    def test_read_parquet_of_own_dataset(self):
        own = os.path.join(self.data, "taxi_trips.parquet")
        self.refused("SELECT * FROM read_parquet('%s')" % own, '"read_parquet"', "not allowed")
        self.refused("SELECT count(*) FROM '%s'" % own, "looks like a file path")
        self.refused('SELECT count(*) FROM "%s"' % own, "looks like a file path")
        self.refused("SELECT * FROM parquet_metadata('%s')" % own, '"parquet_metadata"')

    def test_hidden_table_functions(self):
        for sql in (
                "SELECT (SELECT count(*) FROM read_csv('/etc/passwd')) AS n",
                "WITH a AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM a",
                "SELECT * FROM zones WHERE zone_id IN (SELECT 1 FROM read_text('/etc/hostname'))",
                "SELECT 1 UNION ALL SELECT count(*) FROM glob('/*')",
                "DESCRIBE SELECT * FROM read_csv('/etc/passwd')",
                "EXPLAIN SELECT * FROM read_csv('/etc/passwd')",
                "EXPLAIN ANALYZE SELECT * FROM read_csv('/etc/passwd')",
                "SUMMARIZE SELECT * FROM read_csv('/etc/passwd')",
                "SELECT * FROM zones, LATERAL (SELECT * FROM read_csv('/etc/passwd')) x",
                "SELECT list_transform([1], x -> (SELECT count(*) FROM glob('/*'))) AS l",
                "SELECT * FROM system.main.read_csv('/etc/passwd')",
                "SELECT * FROM ReAd_CsV_aUtO('/etc/passwd')",
                "SELECT * FROM \"read_text\"('/etc/hostname')",
                "SELECT * FROM query('SELECT 1')",
                "SELECT * FROM read_blob('/etc/hostname')",
                "SELECT * FROM read_json('/etc/hostname')",
                "SELECT * FROM sniff_csv('/etc/passwd')",
                "FROM '/etc/passwd'",
                "SELECT * FROM 'https://example.com/x.csv'"):
            self.refused(sql, "not allowed")

    def test_settings_and_catalog_introspection(self):
        for sql, needle in (
                ("SELECT current_setting('allowed_directories')", '"current_setting"'),
                ("SELECT getenv('HOME')", '"getenv"'),
                ("SELECT * FROM duckdb_settings()", '"duckdb_settings"'),
                ("SELECT * FROM duckdb_databases()", '"duckdb_databases"'),
                ("SELECT * FROM pragma_database_list", '"pragma_database_list"'),
                ("SELECT * FROM pg_settings", '"pg_settings"'),
                ("SELECT * FROM duckdb_secrets()", '"duckdb_secrets"')):
            self.refused(sql, needle, "not allowed")

    # ---- statements ----------------------------------------------------------------------

    def test_copy_to_file(self):
        a, b = self.unique("copy.csv")
        for p in (a, b):
            self.refused("COPY (SELECT 1) TO '%s'" % p, "COPY statements are not allowed",
                         NOT_READ_ONLY)
            self.refused("COPY zones TO '%s' (FORMAT parquet)" % p, "COPY")
        self.assert_not_created(a, b)
        existed = os.path.exists("/tmp/x.csv")
        self.refused("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY statements are not allowed")
        if not existed:
            self.assert_not_created("/tmp/x.csv")

    def test_copy_from_file(self):
        self.refused("COPY zones FROM '/etc/passwd'", "COPY statements are not allowed")
        self.assertEqual(self.c.scalar("SELECT count(*) FROM zones"), 20)

    def test_attach(self):
        a, b = self.unique("attach.db")
        for p in (a, b):
            self.refused("ATTACH '%s' AS x" % p, "ATTACH statements are not allowed", NOT_READ_ONLY)
        self.assert_not_created(a, b)
        existed = os.path.exists("/tmp/x.db")
        self.refused("ATTACH '/tmp/x.db'", "ATTACH statements are not allowed")
        if not existed:
            self.assert_not_created("/tmp/x.db")
        self.refused("DETACH spice", "DETACH")
        self.assert_still_serving()

    def test_install_and_load(self):
        self.refused("INSTALL httpfs", "INSTALL statements are not allowed")
        self.refused("LOAD httpfs", "LOAD statements are not allowed")
        self.refused("FORCE INSTALL httpfs", "not allowed")

    def test_set_and_pragma(self):
        self.refused("SET threads = 1", "SET statements are not allowed")
        self.refused("SET enable_external_access = true", "SET statements are not allowed")
        self.refused("RESET threads", "not allowed")
        self.refused("PRAGMA database_list", "PRAGMA statements are not allowed")
        self.refused("PRAGMA enable_profiling", "PRAGMA statements are not allowed")

    def test_ddl(self):
        self.refused("CREATE TABLE t (a INT)", "CREATE statements are not allowed", NOT_READ_ONLY)
        r = self.c.sql("SELECT * FROM t")
        self.assertStatus(r, 400)
        self.assertIn("Catalog Error", r.text)
        self.refused("CREATE VIEW w AS SELECT 1", "CREATE statements are not allowed")
        self.refused("CREATE MACRO m(a) AS a", "CREATE statements are not allowed")
        self.refused("CREATE SECRET (TYPE s3, KEY_ID 'x', SECRET 'y')", "CREATE")
        self.refused("ALTER VIEW v RENAME TO w", "ALTER")
        self.refused("DROP VIEW v", "DROP statements are not allowed", NOT_READ_ONLY)
        self.refused("DROP TABLE zones", "DROP statements are not allowed")
        # v and zones still answer
        self.assert_still_serving()
        self.assertEqual(self.c.scalar("SELECT count(*) FROM v"), 5)
        self.assertEqual(self.c.scalar("SELECT count(*) FROM zones"), 20)

    def test_dml(self):
        self.refused("INSERT INTO zones VALUES (99, 'x', 'y')", "INSERT statements are not allowed")
        self.refused("UPDATE zones SET borough = 'x'", "UPDATE statements are not allowed")
        self.refused("DELETE FROM zones", "DELETE statements are not allowed")
        self.assertEqual(self.c.rows("SELECT count(*) AS n, count(DISTINCT borough) AS b FROM zones"),
                         [{"n": 20, "b": 5}])

    def test_call(self):
        self.refused("CALL pragma_version()", "CALL statements are not allowed")
        self.refused("CALL duckdb_settings()", "CALL statements are not allowed")

    def test_export_import(self):
        a, b = self.unique("export")
        for p in (a, b):
            self.refused("EXPORT DATABASE '%s'" % p, "EXPORT statements are not allowed")
        self.assert_not_created(a, b)
        existed = os.path.exists("/tmp/e")
        self.refused("EXPORT DATABASE '/tmp/e'", "EXPORT statements are not allowed")
        if not existed:
            self.assert_not_created("/tmp/e")
        self.refused("IMPORT DATABASE '%s'" % self.outdir, "IMPORT statements are not allowed")

    def test_multiple_statements(self):
        self.refused("SELECT 1; DROP TABLE x", "multiple statements are not allowed")
        self.refused("SELECT 1; SELECT 2", "multiple statements")
        self.refused("SELECT 1; DROP VIEW v;", "multiple statements")
        self.assert_still_serving()

    def test_transactions_and_misc(self):
        for sql, needle in (("BEGIN", "not allowed"), ("COMMIT", "not allowed"),
                            ("CHECKPOINT", "CHECKPOINT"), ("VACUUM", "not allowed"),
                            ("USE memory", "USE"), ("PREPARE p AS SELECT 1", "PREPARE"),
                            ("EXECUTE p", "not allowed"), ("SELECT nextval('s')", '"nextval"')):
            self.refused(sql, needle)

    def test_other_databases(self):
        self.refused("SELECT * FROM accel_zones.main.zones", "not accessible")

    # ---- what is allowed still works -------------------------------------------------------

    def test_read_only_statements_allowed(self):
        self.assertEqual(self.c.rows("VALUES (1, 'a')"), [{"col0": 1, "col1": "a"}])
        self.assertEqual(self.c.rows("WITH x AS (SELECT 2 AS n) SELECT n FROM x"), [{"n": 2}])
        self.assertEqual(self.c.scalar("SELECT count(*) FROM range(10)"), 10)
        self.assertEqual(self.c.scalar("SELECT count(*) FROM generate_series(1, 5)"), 5)
        self.assertEqual(self.c.scalar("SELECT count(*) FROM unnest([1, 2, 3])"), 3)
        self.assertEqual(self.c.scalar("SELECT count(*) FROM json_each('{\"a\": 1, \"b\": 2}')"), 2)
        self.assertEqual(self.c.scalar("SELECT count(*) FROM repeat_row(1, num_rows=3)"), 3)
        names = {r["name"] for r in self.c.rows("SHOW TABLES")}
        self.assertEqual(names, {"trips", "zones", "v"})
        self.assertEqual(len(self.c.rows("DESCRIBE trips")), 10)
        self.assertEqual(len(self.c.rows("SUMMARIZE zones")), 3)
        r = self.c.sql("EXPLAIN SELECT * FROM zones")
        self.assertStatus(r, 200)
        # a string that merely mentions forbidden words is fine
        self.assertEqual(self.c.rows("SELECT 'COPY x TO y; DROP TABLE z' AS s"),
                         [{"s": "COPY x TO y; DROP TABLE z"}])


if __name__ == "__main__":
    unittest.main()

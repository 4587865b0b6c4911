"""
S3 connector against s3rver (a real S3 HTTP API) behind a counting, fault-injecting proxy:
Hive-partitioned Parquet, CSV and JSON buckets, federated and accelerated; the ETag cache
(a second refresh fetches nothing unchanged, a changed object is fetched again, a deleted one
disappears); append of new objects only; pagination; 500s with retries and recovery;
credentials from params, ${secrets:...} and the AWS environment; secrets never in logs or API
output; configuration errors.
"""
import os
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN_DIR, CLOVED, CloveTest, metric
import s3peer

DUCK = os.path.join(BIN_DIR, "clove-duckdb-exec")
S3 = None


def setUpModule():
    global S3
    if not s3peer.available():
        raise unittest.SkipTest("s3rver is not installed (scripts/setup.sh installs it)")
    S3 = s3peer.S3rver()


def tearDownModule():
    if S3:
        S3.stop()


def duck(*sql):
    subprocess.run([DUCK] + list(sql), check=True, stdout=subprocess.PIPE)


def pod(datasets):
    return "version: v1\nkind: Spicepod\nname: s3_test\ndatasets:\n" + datasets


def ds(c, name):
    return c.datasets()[name]


def refresh_count(c, name):
    return metric(c.metrics(), "dataset_acceleration_refresh_duration_ms_count", dataset=name)


def refresh_and_wait(test, c, name):
    before = refresh_count(c, name)
    test.assertStatus(c.post("/v1/datasets/%s/acceleration/refresh" % name, ""), 201)
    c.wait_until(lambda: refresh_count(c, name) > before, what="refresh of " + name)


class S3Test(CloveTest):
    bucket_n = 0

    def setUp(self):
        S3Test.bucket_n += 1
        self.bucket = "b%d-%d" % (os.getpid(), S3Test.bucket_n)
        S3.create_bucket(self.bucket)
        self.proxy = s3peer.FaultProxy(S3)
        self.addCleanup(self.proxy.stop)
        self.work = self.tempdir()

    def put_parquet(self, key, select):
        path = os.path.join(self.work, "obj.parquet")
        duck("COPY (%s) TO '%s' (FORMAT parquet)" % (select, path))
        return S3.put_file(self.bucket, key, path)

    def sales(self):
        """sales/year=Y/month=M/part-0.parquet, 10 rows each: amount = year + month * 100 + i."""
        for y in (2023, 2024):
            for m in (1, 2):
                self.put_parquet("sales/year=%d/month=%d/part-0.parquet" % (y, m),
                                 "SELECT i AS id, %d + %d * 100 + i AS amount, 'r' || i AS region "
                                 "FROM range(10) t(i)" % (y, m))
        S3.put(self.bucket, "sales/_SUCCESS", "")

    def params(self, extra=""):
        return ("    params:\n      s3_endpoint: %s\n      allow_http: true\n      s3_auth: key\n"
                "      s3_key: S3RVER\n      s3_secret: S3RVER\n      max_retries: 2\n%s"
                % (self.proxy.endpoint, extra))

    def expected_sums(self):
        return [{"year": y, "month": m, "n": 10, "s": sum(y + m * 100 + i for i in range(10))}
                for y in (2023, 2024) for m in (1, 2)]

    def test_federated_hive_parquet_values(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s"
                           % (self.bucket, self.params())), metrics=True)
        self.assertEqual(c.rows("SELECT year, month, count(*) AS n, sum(amount) AS s FROM sales "
                                "GROUP BY ALL ORDER BY ALL"), self.expected_sums())
        self.assertEqual(c.rows("SELECT id, amount, region FROM sales WHERE year = 2024 AND "
                                "month = 2 AND id = 3"),
                         [{"id": 3, "amount": 2024 + 200 + 3, "region": "r3"}])
        # four data objects fetched once; _SUCCESS is not a data file
        self.assertEqual(sorted(self.proxy.gets()),
                         ["sales/year=%d/month=%d/part-0.parquet" % (y, m)
                          for y in (2023, 2024) for m in (1, 2)])
        self.assertEqual(metric(c.metrics(), "s3_objects_fetched_total", dataset="sales"), 4)
        # within the listing's freshness interval a query lists nothing again
        lists = self.proxy.count("list")
        c.rows("SELECT count(*) FROM sales")
        self.assertEqual(self.proxy.count("list"), lists)

    def test_partition_pruning_fetches_only_matching_objects(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s"
                           % (self.bucket, self.params())), metrics=True)
        # registration fetched one object (the view's columns): the first key
        first = "sales/year=2023/month=1/part-0.parquet"
        self.assertEqual(self.proxy.gets(), [first])
        self.assertEqual(c.rows("SELECT month, sum(amount) AS s FROM sales WHERE year = 2024 "
                                "GROUP BY 1 ORDER BY 1"),
                         [{"month": m, "s": sum(2024 + m * 100 + i for i in range(10))}
                          for m in (1, 2)])
        self.assertEqual(sorted(self.proxy.gets()),
                         [first, "sales/year=2024/month=1/part-0.parquet",
                          "sales/year=2024/month=2/part-0.parquet"])
        self.assertEqual(metric(c.metrics(), "s3_objects_fetched_total", dataset="sales"), 3)
        # conditions on partition columns in any form; other conditions do not prune
        self.assertEqual(c.scalar("SELECT count(*) FROM sales WHERE month IN (2) AND year > 2023 "
                                  "AND amount > 0"), 10)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales s WHERE s.year = 2023 AND "
                                  "s.month = 1 AND s.id < 5"), 5)
        self.assertEqual(len(self.proxy.gets()), 3)
        # a self-join with one side unfiltered needs every object
        self.assertEqual(c.scalar("SELECT count(*) FROM sales a JOIN sales b USING (id, year, "
                                  "month) WHERE a.year = 2024"), 20)
        self.assertEqual(len(self.proxy.gets()), 4)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)

    def test_refresh_sql_prunes_partitions(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s    acceleration:\n"
                           "      enabled: true\n      refresh_sql: SELECT * FROM sales WHERE "
                           "year = 2024 AND month >= 2\n" % (self.bucket, self.params())),
                       metrics=True)
        self.assertEqual(c.rows("SELECT year, month, count(*) AS n FROM sales GROUP BY ALL"),
                         [{"year": 2024, "month": 2, "n": 10}])
        # the schema sample (the first key) and the one matching object
        self.assertEqual(sorted(self.proxy.gets()),
                         ["sales/year=2023/month=1/part-0.parquet",
                          "sales/year=2024/month=2/part-0.parquet"])
        # a new matching partition is fetched by the next refresh; others still are not
        self.put_parquet("sales/year=2024/month=3/part-0.parquet",
                         "SELECT 1 AS id, 5 AS amount, 'z' AS region")
        self.put_parquet("sales/year=2025/month=3/part-0.parquet",
                         "SELECT 1 AS id, 5 AS amount, 'z' AS region")
        refresh_and_wait(self, c, "sales")
        self.assertEqual(c.rows("SELECT year, month, count(*) AS n FROM sales GROUP BY ALL "
                                "ORDER BY ALL"),
                         [{"year": 2024, "month": 2, "n": 10}, {"year": 2024, "month": 3, "n": 1}])
        self.assertEqual(self.proxy.gets()[2:], ["sales/year=2024/month=3/part-0.parquet"])

    def test_federated_listing_freshness_picks_up_new_and_deleted_objects(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s"
                           % (self.bucket, self.params("      s3_listing_ttl: 0s\n"))))
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)
        self.put_parquet("sales/year=2025/month=1/part-0.parquet",
                         "SELECT 100 + i AS id, 7 AS amount, 'n' AS region FROM range(5) t(i)")
        self.assertEqual(c.rows("SELECT year, count(*) AS n FROM sales GROUP BY 1 ORDER BY 1"),
                         [{"year": 2023, "n": 20}, {"year": 2024, "n": 20}, {"year": 2025, "n": 5}])
        S3.delete(self.bucket, "sales/year=2023/month=1/part-0.parquet")
        self.assertEqual(c.scalar("SELECT count(*) FROM sales WHERE year = 2023"), 10)

    def test_concurrent_federated_queries_while_objects_arrive(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s"
                           % (self.bucket, self.params("      s3_listing_ttl: 0s\n"))))
        errors, counts = [], []
        lock = threading.Lock()

        def reader(k):
            for i in range(15):
                flt = "" if i % 3 else " WHERE year = %d" % (2023 + k % 2)
                r = c.sql("SELECT count(*) AS n FROM sales" + flt)
                with lock:
                    if r.status != 200:
                        errors.append(r.text)
                    elif not flt:
                        counts.append(r.json()[0]["n"])

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for m in range(1, 6):  # new partitions while the readers run
            self.put_parquet("sales/year=2030/month=%d/part-0.parquet" % m,
                             "SELECT i AS id, 1 AS amount, 'n' AS region FROM range(3) t(i)")
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertTrue(counts and all(40 <= n <= 55 and (n - 40) % 3 == 0 for n in counts),
                        counts)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 55)

    def test_accelerated_etag_cache_refetches_only_changed_objects(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s"
                           "    acceleration:\n      enabled: true\n"
                           % (self.bucket, self.params())), metrics=True)
        self.assertEqual(c.rows("SELECT year, month, count(*) AS n, sum(amount) AS s FROM sales "
                                "GROUP BY ALL ORDER BY ALL"), self.expected_sums())
        self.assertEqual(len(self.proxy.gets()), 4)
        rows = lambda: metric(c.metrics(), "dataset_acceleration_refresh_rows_total",
                              dataset="sales")
        self.assertEqual(rows(), 40)
        # unchanged: a refresh lists again, fetches nothing and loads nothing
        refresh_and_wait(self, c, "sales")
        self.assertEqual(len(self.proxy.gets()), 4)
        self.assertGreaterEqual(self.proxy.count("list"), 2)
        self.assertEqual(rows(), 40)
        self.assertIn("dataset sales: the source did not change since the last load", c.logs())
        # one object changes: only it is fetched again
        self.put_parquet("sales/year=2024/month=1/part-0.parquet",
                         "SELECT i AS id, 1 AS amount, 'changed' AS region FROM range(3) t(i)")
        refresh_and_wait(self, c, "sales")
        self.assertEqual(self.proxy.gets()[4:], ["sales/year=2024/month=1/part-0.parquet"])
        self.assertEqual(rows(), 40 + 33)  # a change reloads the whole dataset
        self.assertEqual(c.rows("SELECT year, month, count(*) AS n, sum(amount) AS s FROM sales "
                                "WHERE year = 2024 GROUP BY ALL ORDER BY ALL"),
                         [{"year": 2024, "month": 1, "n": 3, "s": 3},
                          {"year": 2024, "month": 2, "n": 10,
                           "s": sum(2024 + 200 + i for i in range(10))}])
        # a deleted object leaves the cache and the table
        S3.delete(self.bucket, "sales/year=2023/month=2/part-0.parquet")
        refresh_and_wait(self, c, "sales")
        self.assertEqual(c.scalar("SELECT count(*) FROM sales WHERE year = 2023"), 10)
        self.assertEqual(len(self.proxy.gets()), 5)
        cache = os.path.join(c.dir, ".clove", "cache", "s3", "sales", "objects", "year=2023")
        self.assertEqual(sorted(os.listdir(cache)), ["month=1"])
        self.assertEqual(metric(c.metrics(), "s3_objects_fetched_total", dataset="sales"), 5)

    def test_restart_keeps_the_cache(self):
        self.sales()
        d = self.tempdir()
        spec = pod("  - from: s3://%s/sales/\n    name: sales\n%s    acceleration:\n"
                   "      enabled: true\n" % (self.bucket, self.params()))
        c = self.start(spec, workdir=d)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)
        c.stop(cleanup=False)
        self.assertEqual(len(self.proxy.gets()), 4)
        c2 = self.start(None, workdir=d)
        self.assertEqual(c2.scalar("SELECT sum(amount) FROM sales"),
                         sum(r["s"] for r in self.expected_sums()))
        self.assertEqual(len(self.proxy.gets()), 4)  # validated by ETag, not fetched again

    def put_parts(self, rows, prefix="p/"):
        """prefix + f0..f3.parquet, `rows` rows each: id = part * 10000 + i, v = rows."""
        for k in range(4):
            self.put_parquet("%sf%d.parquet" % (prefix, k), "SELECT %d * 10000 + i AS id, %d AS v "
                             "FROM range(%d) t(i)" % (k, rows, rows))

    def accelerated_parts(self, extra_args=()):
        return self.start(pod("  - from: s3://%s/p/\n    name: p\n%s    acceleration:\n"
                              "      enabled: true\n      refresh_retry_enabled: false\n"
                              % (self.bucket, self.params())), metrics=True,
                          args=["-v"] + list(extra_args))

    def test_streamed_refresh_readers_see_the_old_or_the_new_table(self):
        self.put_parts(1000)
        c = self.accelerated_parts()
        self.assertEqual(c.rows("SELECT count(*) AS n, sum(v) AS s FROM p"),
                         [{"n": 4000, "s": 4000 * 1000}])
        self.assertRegex(c.logs(), r"handed to the load in \d+ batch\(es\) as they landed")
        self.assertIn("4000 rows loaded in", c.logs())
        # new objects; the third one is slow: the first batches load while it downloads, and
        # readers keep seeing the old table until the new one is whole
        self.put_parts(1500)
        self.proxy.stall_keys = {"p/f2.parquet": 3}
        before = refresh_count(c, "p")
        self.assertStatus(c.post("/v1/datasets/p/acceleration/refresh", ""), 201)
        c.wait_until(lambda: "dataset p: batch 2: " in c.logs() or
                     "dataset p: batch 1: 2 object(s), 3000 rows" in c.logs(),
                     what="a batch loaded before the slow object landed")
        seen = set()
        while refresh_count(c, "p") == before:
            r = c.rows("SELECT count(*) AS n, sum(v) AS s FROM p")[0]
            seen.add((r["n"], r["s"]))
        self.assertIn((4000, 4000 * 1000), seen)
        self.assertTrue(seen <= {(4000, 4000 * 1000), (6000, 6000 * 1500)}, seen)
        self.assertEqual(c.rows("SELECT count(*) AS n, sum(v) AS s, min(id) AS lo, max(id) AS hi "
                                "FROM p"), [{"n": 6000, "s": 6000 * 1500, "lo": 0,
                                             "hi": 3 * 10000 + 1499}])
        self.assertEqual(ds(c, "p")["status"], "Ready")

    def test_streamed_refresh_failing_midway_keeps_the_old_table(self):
        self.put_parts(1000)
        c = self.accelerated_parts()
        self.assertEqual(c.scalar("SELECT count(*) FROM p"), 4000)
        # a corrupt object after good ones: the batches loaded before it are rolled back
        self.put_parts(1500)
        S3.put(self.bucket, "p/f2.parquet", b"this is not parquet")
        refresh_and_wait(self, c, "p")
        st = ds(c, "p")
        self.assertEqual(st["status"], "Error")
        self.assertIn("f2.parquet", st["error_message"])
        self.assertEqual(c.rows("SELECT count(*) AS n, sum(v) AS s FROM p"),
                         [{"n": 4000, "s": 4000 * 1000}])
        # a download that fails after the first batches loaded: rolled back too
        self.put_parts(2000)
        self.proxy.fail_keys = {"p/f3.parquet"}
        batches = c.logs().count("dataset p: batch 1: ")
        refresh_and_wait(self, c, "p")
        self.assertEqual(c.logs().count("dataset p: batch 1: "), batches + 1)
        st = ds(c, "p")
        self.assertEqual(st["status"], "Error")
        self.assertIn('could not fetch object "p/f3.parquet"', st["error_message"])
        self.assertIn("HTTP 500 InternalError: injected failure (after 2 retries)",
                      st["error_message"])
        self.assertEqual(c.rows("SELECT count(*) AS n, sum(v) AS s FROM p"),
                         [{"n": 4000, "s": 4000 * 1000}])
        # S3 serves again: the refresh loads the new objects
        self.proxy.fail_keys = set()
        refresh_and_wait(self, c, "p")
        self.assertEqual(ds(c, "p")["status"], "Ready")
        self.assertEqual(c.rows("SELECT count(*) AS n, sum(v) AS s FROM p"),
                         [{"n": 8000, "s": 8000 * 2000}])

    def test_streamed_load_into_a_duckdb_file(self):
        # engine duckdb, mode file: the batches go into the file in one transaction; a failed
        # refresh leaves the file as it was, across a restart too
        self.put_parts(1000)
        d = self.tempdir()
        spec = pod("  - from: s3://%s/p/\n    name: p\n%s    acceleration:\n"
                   "      enabled: true\n      engine: duckdb\n      mode: file\n"
                   "      refresh_retry_enabled: false\n" % (self.bucket, self.params()))
        c = self.start(spec, workdir=d, metrics=True, args=["-v"])
        self.assertEqual(c.rows("SELECT count(*) AS n, sum(v) AS s FROM p"),
                         [{"n": 4000, "s": 4000 * 1000}])
        self.assertRegex(c.logs(), r"handed to the load in \d+ batch\(es\)")
        self.put_parts(1500)
        S3.put(self.bucket, "p/f3.parquet", b"not parquet either")
        refresh_and_wait(self, c, "p")
        self.assertEqual(ds(c, "p")["status"], "Error")
        c.stop(cleanup=False)
        c2 = self.start(None, workdir=d)
        self.assertEqual(c2.rows("SELECT count(*) AS n, sum(v) AS s FROM p"),
                         [{"n": 4000, "s": 4000 * 1000}])

    def test_streamed_load_settles_partition_types_from_the_whole_listing(self):
        # k is a number in the first objects and text in the last: loaded in several batches,
        # every row still gets the type of the whole listing, as the federated view reads it
        for i, (k, d) in enumerate((("1", "2024-01-05"), ("2", "2024-01-06"), ("x", "2024-01-07"))):
            self.put_parquet("h/k=%s/d=%s/part-%d.parquet" % (k, d, i),
                             "SELECT %d AS n FROM range(3)" % i)
        self.proxy.stall_keys = {"h/k=x/d=2024-01-07/part-2.parquet": 1}
        src = "    params:\n" + self.params()[len("    params:\n"):]
        c = self.start(pod("  - from: s3://%s/h/\n    name: h\n%s    acceleration:\n"
                           "      enabled: true\n"
                           "  - from: s3://%s/h/\n    name: hf\n%s"
                           % (self.bucket, src, self.bucket, src)), args=["-v"])
        self.assertRegex(c.logs(), r"dataset h: batch 2: ")
        want = [{"k": k, "tk": "VARCHAR", "d": d, "td": "DATE", "n": 3}
                for k, d in (("1", "2024-01-05"), ("2", "2024-01-06"), ("x", "2024-01-07"))]
        q = ("SELECT k, typeof(k) AS tk, CAST(d AS VARCHAR) AS d, typeof(d) AS td, count(*) AS n "
             "FROM %s GROUP BY ALL ORDER BY k")
        self.assertEqual(c.rows(q % "h"), want)
        self.assertEqual(c.rows(q % "hf"), want)

    def test_partition_values_left_to_duckdb_load_in_one_piece(self):
        # "007" is a value whose type clove does not settle itself: one load once all objects
        # are in place, with the types DuckDB infers
        for i, k in enumerate(("007", "008")):
            self.put_parquet("z/k=%s/part-%d.parquet" % (k, i), "SELECT %d AS n" % i)
        c = self.start(pod("  - from: s3://%s/z/\n    name: z\n%s    acceleration:\n"
                           "      enabled: true\n" % (self.bucket, self.params())), args=["-v"])
        self.assertEqual(c.rows("SELECT k, typeof(k) AS t, n FROM z ORDER BY n"),
                         [{"k": "007", "t": "VARCHAR", "n": 0},
                          {"k": "008", "t": "VARCHAR", "n": 1}])
        self.assertIn("are left to DuckDB", c.logs())
        self.assertNotIn("handed to the load", c.logs())

    def test_append_loads_new_objects_only(self):
        self.put_parquet("ev/a.parquet", "SELECT i AS id, 'a' AS src FROM range(3) t(i)")
        c = self.start(pod("  - from: s3://%s/ev/\n    name: ev\n%s    acceleration:\n"
                           "      enabled: true\n      refresh_mode: append\n"
                           % (self.bucket, self.params())), metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM ev"), 3)
        self.put_parquet("ev/b.parquet", "SELECT 10 + i AS id, 'b' AS src FROM range(2) t(i)")
        refresh_and_wait(self, c, "ev")
        self.assertEqual(c.rows("SELECT src, count(*) AS n, sum(id) AS s FROM ev GROUP BY 1 "
                                "ORDER BY 1"),
                         [{"src": "a", "n": 3, "s": 3}, {"src": "b", "n": 2, "s": 21}])
        self.assertEqual(metric(c.metrics(), "dataset_acceleration_refresh_rows_total", dataset="ev"), 5)
        self.assertEqual(sorted(self.proxy.gets()), ["ev/a.parquet", "ev/b.parquet"])
        refresh_and_wait(self, c, "ev")  # nothing new: nothing loaded, nothing fetched
        self.assertEqual(c.scalar("SELECT count(*) FROM ev"), 5)
        self.assertEqual(len(self.proxy.gets()), 2)

    def test_csv_and_json_objects(self):
        S3.put(self.bucket, "csv/region=east/a.csv", "id,name\n1,alpha\n2,beta\n")
        S3.put(self.bucket, "csv/region=west/b.csv", "id,name\n3,gamma\n")
        S3.put(self.bucket, "logs/events.json", '{"k": 1, "v": "x"}\n{"k": 2, "v": "y"}\n')
        S3.put(self.bucket, "arr/items.json", '[{"k": 5, "v": "p"}, {"k": 6, "v": null}]')
        S3.put(self.bucket, "hj/day=2024-01-01/a.jsonl", '{"n": 1}\n{"n": 2}\n')
        S3.put(self.bucket, "hj/day=2024-01-02/b.ndjson", '{"n": 3}\n')
        S3.put(self.bucket, "hj/day=2024-01-02/notes.txt", 'not data')
        c = self.start(pod(
            "  - from: s3://%s/csv/\n    name: people\n%s      file_format: csv\n"
            "  - from: s3://%s/logs/events.json\n    name: events\n%s"
            "  - from: s3://%s/arr/items.json\n    name: items\n%s    acceleration:\n"
            "      enabled: true\n"
            "  - from: s3://%s/hj/\n    name: days\n%s      file_format: json\n"
            % (self.bucket, self.params(), self.bucket, self.params(), self.bucket,
               self.params(), self.bucket, self.params())))
        self.assertEqual(c.rows("SELECT id, name, region FROM people ORDER BY id"),
                         [{"id": 1, "name": "alpha", "region": "east"},
                          {"id": 2, "name": "beta", "region": "east"},
                          {"id": 3, "name": "gamma", "region": "west"}])
        self.assertEqual(c.rows("SELECT k, v FROM events ORDER BY k"),
                         [{"k": 1, "v": "x"}, {"k": 2, "v": "y"}])
        self.assertEqual(c.rows("SELECT k, v FROM items ORDER BY k"),
                         [{"k": 5, "v": "p"}, {"k": 6, "v": None}])
        # Hive-partitioned JSON; the date partition prunes like any other
        self.assertEqual(c.rows("SELECT day, sum(n) AS s FROM days WHERE day >= DATE '2024-01-02' "
                                "GROUP BY 1"), [{"day": "2024-01-02", "s": 3}])
        self.assertNotIn("hj/day=2024-01-02/notes.txt", self.proxy.gets())
        self.assertEqual(c.scalar("SELECT sum(n) FROM days"), 6)

    def test_timeouts_are_retried(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s    acceleration:\n"
                           "      enabled: true\n      refresh_retry_enabled: false\n"
                           % (self.bucket, self.params("      client_timeout: 1s\n"))),
                       metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)
        # every answer now takes longer than client_timeout: the refresh fails naming it
        self.proxy.stall_s = 2
        S3.put(self.bucket, "sales/year=2025/month=1/part-0.parquet", b"x")
        refresh_and_wait(self, c, "sales")
        err = ds(c, "sales")["error_message"]
        self.assertIn("timed out after 1000 ms (client_timeout) (after 2 retries)", err)
        self.assertEqual(self.proxy.count("list"), 1 + 3)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)

    def test_shutdown_during_a_stalled_download(self):
        self.sales()
        self.proxy.stall_s = 20
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s    acceleration:\n"
                           "      enabled: true\n" % (self.bucket, self.params())),
                       wait_ready=False)
        c.wait_until(lambda: self.proxy.count("list") >= 1, what="the listing request")
        t0 = time.time()
        c.stop()  # SIGTERM: exits 0 by itself, without waiting for S3
        self.assertLess(time.time() - t0, 10)

    def test_query_timeout_bounds_the_fetch(self):
        self.sales()
        spec = pod("  - from: s3://%s/sales/\n    name: sales\n%s" % (self.bucket, self.params()))
        spec = spec.replace("datasets:\n", "runtime:\n  query:\n    timeout: 1s\ndatasets:\n")
        c = self.start(spec)
        self.proxy.stall_s = 4
        t0 = time.time()
        r = c.sql("SELECT count(*) FROM sales")
        self.assertEqual(r.status, 504, r.text)
        self.assertIn("query timed out while fetching dataset sales from its source", r.text)
        self.assertLess(time.time() - t0, 3.5)
        self.proxy.stall_s = 0
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)

    def test_pagination_reads_every_page(self):
        for i in range(7):
            self.put_parquet("p/f%02d.parquet" % i, "SELECT %d AS n" % i)
        c = self.start(pod("  - from: s3://%s/p/\n    name: p\n%s"
                           % (self.bucket, self.params("      s3_list_max_keys: 2\n"))))
        self.assertEqual(c.scalar("SELECT sum(n) FROM p"), sum(range(7)))
        self.assertEqual(self.proxy.count("list"), 4)  # 2 + 2 + 2 + 1

    def test_500s_are_retried_and_a_failing_refresh_recovers(self):
        self.sales()
        self.proxy.fail_next = {"get": 2, "list": 1}
        c = self.start(pod("  - from: s3://%s/sales/\n    name: sales\n%s    acceleration:\n"
                           "      enabled: true\n      refresh_retry_max_attempts: 1\n"
                           % (self.bucket, self.params())), metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)
        self.assertEqual(metric(c.metrics(), "s3_request_retries_total", dataset="sales"), 2)
        # every GET fails: the refresh fails (after retries) and names what failed; the data
        # loaded before keeps serving
        self.put_parquet("sales/year=2024/month=1/part-0.parquet", "SELECT 1 AS id, 1 AS amount, "
                         "'x' AS region")
        self.proxy.fail_always = {"get": True}
        refresh_and_wait(self, c, "sales")
        st = ds(c, "sales")
        self.assertEqual(st["status"], "Error")
        self.assertIn('could not fetch object "sales/year=2024/month=1/part-0.parquet" of bucket '
                      '"%s" from endpoint "%s"' % (self.bucket, self.proxy.endpoint), st["error_message"])
        self.assertIn("HTTP 500 InternalError: injected failure (after 2 retries)", st["error_message"])
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)
        # S3 recovers: the next refresh loads the change
        self.proxy.fail_always = {}
        refresh_and_wait(self, c, "sales")
        self.assertEqual(ds(c, "sales")["status"], "Ready")
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 31)

    def test_source_down_at_start_then_back(self):
        self.sales()
        self.proxy.fail_always = {"list": True}
        c = self.start(pod(
            "  - from: s3://%s/sales/\n    name: fed\n%s"
            "  - from: s3://%s/sales/\n    name: acc\n%s    acceleration:\n      enabled: true\n"
            "  - from: s3://%s/sales/year=2024/month=1/part-0.parquet\n    name: ok\n"
            "    params:\n      s3_endpoint: %s\n      allow_http: true\n      s3_key: S3RVER\n"
            "      s3_secret: S3RVER\n"
            % (self.bucket, self.params("      client_timeout: 2s\n"), self.bucket,
               self.params(), self.bucket, S3.endpoint)))
        # the runtime started; the dataset whose endpoint works serves, the others say why not
        self.assertEqual(c.scalar("SELECT count(*) FROM ok"), 10)
        for name in ("fed", "acc"):
            self.assertEqual(ds(c, name)["status"], "Error")
            self.assertIn("could not list s3://%s/sales/ at endpoint \"%s\""
                          % (self.bucket, self.proxy.endpoint), ds(c, name)["error_message"])
            self.assertIn("HTTP 500 InternalError: injected failure (after 2 retries)",
                          ds(c, name)["error_message"])
        r = c.sql("SELECT count(*) FROM fed")
        self.assertEqual(r.status, 503)
        self.assertIn("dataset fed is not available", r.text)
        # S3 comes back: both datasets become Ready by themselves (retries with backoff)
        self.proxy.fail_always = {}
        c.wait_until(lambda: ds(c, "fed")["status"] == "Ready" and
                     ds(c, "acc")["status"] == "Ready", timeout=60, what="recovery")
        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 40)
        self.assertEqual(c.scalar("SELECT count(*) FROM acc"), 40)

    def test_federated_source_down_after_ready_then_back_by_probe(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/\n    name: fed\n%s"
                           % (self.bucket, self.params("      s3_listing_ttl: 0s\n"))),
                       metrics=True)

        def load_state():
            return metric(c.metrics(), "dataset_load_state", dataset="fed")

        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 40)
        self.assertEqual(load_state(), 1)
        # S3 answers 500 to every listing: the query fails with S3's error (after retries)
        # and the dataset goes to Error
        self.proxy.fail_always = {"list": True}
        r = c.sql("SELECT count(*) FROM fed")
        self.assertEqual(r.status, 503, r.text)
        self.assertIn("dataset fed is not available: could not list s3://%s/sales/ at endpoint "
                      "\"%s\"" % (self.bucket, self.proxy.endpoint), r.text)
        self.assertIn("HTTP 500 InternalError: injected failure (after 2 retries)", r.text)
        st = ds(c, "fed")
        self.assertEqual(st["status"], "Error")
        self.assertIn("could not list s3://%s/sales/" % self.bucket, st["error_message"])
        self.assertEqual(load_state(), 3)
        # probes (one-key listings, no retries) keep failing while S3 does
        c.wait_until(lambda: any("max-keys=1&" in p for p in self.proxy.paths),
                     what="a probe listing")
        self.assertEqual(ds(c, "fed")["status"], "Error")
        # S3 answers again: a probe finds it, no query needed
        self.proxy.fail_always = {}
        self.proxy.reset()
        c.wait_until(lambda: ds(c, "fed")["status"] == "Ready", timeout=60,
                     what="fed to become Ready by itself")
        self.assertEqual(load_state(), 1)
        self.assertIsNone(ds(c, "fed")["error_message"])
        self.assertEqual([p for p in self.proxy.paths if "list-type=2" in p],
                         ["/%s/?list-type=2&max-keys=1&prefix=sales%%2F" % self.bucket])
        self.assertEqual(self.proxy.gets(), [])
        logs = c.logs()
        self.assertIn("dataset fed is in Error: could not list s3://%s/sales/" % self.bucket,
                      logs)
        self.assertIn('dataset fed is Ready again: its source "s3://%s/sales/" answers'
                      % self.bucket, logs)
        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 40)

    def test_secrets_stay_out_of_logs_and_api(self):
        self.sales()
        secret = "SuperSecretValue_4711"
        c = self.start(pod(
            "  - from: s3://%s/sales/\n    name: sales\n    params:\n"
            "      s3_endpoint: %s\n      allow_http: true\n      s3_key: NOSUCHKEY\n"
            "      s3_secret: ${secrets:S3_SECRET}\n      s3_session_token: ${secrets:S3_TOKEN}\n"
            "      max_retries: 0\n" % (self.bucket, self.proxy.endpoint)),
            dotenv="S3_SECRET=%s\nS3_TOKEN=TokenValue_0815\n" % secret)
        st = c.wait_until(lambda: ds(c, "sales").get("error_message"),
                          what="the dataset error")
        self.assertIn("InvalidAccessKeyId", st)
        self.assertIn("s3://%s/sales/" % self.bucket, st)
        # the session token went to S3 as x-amz-security-token
        hdrs = [h for kind, _, h in self.proxy.requests if kind == "list"]
        self.assertTrue(any(h.get("x-amz-security-token") == "TokenValue_0815" for h in hdrs))
        r = c.sql("SELECT * FROM sales")
        self.assertNotEqual(r.status, 200)
        for text in (c.logs(), c.get("/v1/datasets?status=true").text,
                     c.get("/v1/spicepods").text, r.text):
            self.assertNotIn(secret, text)
            self.assertNotIn("TokenValue_0815", text)

    def test_iam_role_reads_the_aws_environment_and_credentials_file(self):
        self.sales()
        spec = pod("  - from: s3://%s/sales/\n    name: sales\n    params:\n"
                   "      s3_endpoint: %s\n      allow_http: true\n      s3_auth: iam_role\n"
                   % (self.bucket, self.proxy.endpoint))
        env = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
               "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
        c = self.start(spec, env=env)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)
        c.stop()
        creds = os.path.join(self.work, "credentials")
        with open(creds, "w") as f:
            f.write("[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n\n"
                    "[bench]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n")
        env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "bench",
               "AWS_SHARED_CREDENTIALS_FILE": creds}
        c = self.start(spec, env=env)
        self.assertEqual(c.scalar("SELECT count(*) FROM sales"), 40)
        c.stop()
        env["AWS_PROFILE"] = "missing"
        c = self.start(spec, env=env)
        err = c.wait_until(lambda: ds(c, "sales").get("error_message"),
                           what="the dataset error")
        self.assertIn('no AWS credentials for dataset sales (s3_auth: iam_role): set '
                      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile "missing"', err)

    def test_test_config_checks_connector_params(self):
        d = self.tempdir()
        with open(os.path.join(d, "spicepod.yaml"), "w") as f:
            f.write(pod("  - from: s3://%s/x/\n    name: a\n    params:\n      s3_auth: magic\n"
                        "  - from: https://127.0.0.1:1/x.csv\n    name: b\n    params:\n"
                        "      retry_backoff_method: random\n"
                        "  - from: s3://%s/y/\n    name: fine\n" % (self.bucket, self.bucket)))
        p = subprocess.run([CLOVED, "--test-config", d], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('spicepod.yaml:5:5: datasets[0].params: params.s3_auth: expected one of key, '
                      'iam_role, public; got "magic"', p.stderr)
        self.assertIn('spicepod.yaml:9:5: datasets[1].params: params.retry_backoff_method: '
                      'expected one of fibonacci, linear, exponential; got "random"', p.stderr)
        self.assertNotIn("datasets[2]", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, ".clove", "cache")))

    def test_public_auth_sends_no_credentials(self):
        self.sales()
        c = self.start(pod("  - from: s3://%s/sales/year=2024/\n    name: pub\n    params:\n"
                           "      s3_endpoint: %s\n      allow_http: true\n      s3_auth: public\n"
                           % (self.bucket, self.proxy.endpoint)))
        self.assertEqual(c.rows("SELECT month, count(*) AS n FROM pub GROUP BY 1 ORDER BY 1"),
                         [{"month": 1, "n": 10}, {"month": 2, "n": 10}])
        with self.proxy.lock:
            headers = [h for _, _, h in self.proxy.requests]
        self.assertTrue(headers)
        self.assertFalse([h for h in headers if "Authorization" in h or "authorization" in h])

    def test_configuration_errors(self):
        c = self.start(pod(
            "  - from: s3://%s/x/\n    name: plain\n    params:\n"
            "      s3_endpoint: http://127.0.0.1:1\n      s3_key: a\n      s3_secret: b\n"
            "  - from: s3://%s/x/\n    name: badauth\n    params:\n      s3_auth: magic\n"
            "  - from: s3://%s/x/\n    name: nokey\n    params:\n      s3_auth: key\n"
            "  - from: s3://%s/x/\n    name: badfmt\n    params:\n      file_format: xlsx\n"
            "  - from: s3://%s/nothing/\n    name: empty\n%s"
            % ((self.bucket,) * 5 + (self.params(),))))
        errs = {d["name"]: d.get("error_message") for d in c.get("/v1/datasets?status=true").json()}
        self.assertIn('params.s3_endpoint "http://127.0.0.1:1" uses plain http, which is '
                      'refused unless params.allow_http is true', errs["plain"])
        self.assertIn("params.s3_auth: expected one of key, iam_role, public; got \"magic\"",
                      errs["badauth"])
        self.assertIn("s3_auth key needs params.s3_key and params.s3_secret", errs["nokey"])
        self.assertIn("params.file_format: expected one of parquet, csv, json; got \"xlsx\"",
                      errs["badfmt"])
        self.assertIn("no parquet objects found under s3://%s/nothing/ for dataset empty"
                      % self.bucket, errs["empty"])
        self.assertEqual(c.get("/health").status, 200)


if __name__ == "__main__":
    unittest.main()

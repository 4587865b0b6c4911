"""
Datasets from local files and their accelerations: Parquet, CSV and JSON; one file, a
directory, a glob, Hive partitions, file:// paths, params.file_format and inferred formats;
federated datasets see file changes at once, accelerated ones after a refresh (manual or
refresh_check_interval); engines arrow / duckdb memory / duckdb file (the file on disk, and a
restart serving it); refresh_sql; atomic refreshes under concurrent readers; failed refreshes
keep the last data; views (also joining an accelerated and a federated dataset); per-dataset
status Initializing / Ready / Refreshing / Error, observed with named pipes as sources so a
load blocks exactly as long as the test wants.
"""
import gzip
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

from harness import Cloved, CloveTest, Fifo, csv_text, make_data, metric, write_atomic


def pod(datasets, views=""):
    return ("version: v1\nkind: Spicepod\nname: ds_test\ndatasets:\n" + datasets
            + ("views:\n" + views if views else ""))


class FileSourcesTest(CloveTest):
    """Many datasets over one set of files, checked by their values."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = d = tempfile.mkdtemp(prefix="clove-e2e-files-")
        data = os.path.join(d, "data")
        make_data(data, 1000)
        pq = os.path.join(data, "taxi_trips.parquet")
        # Hive-partitioned Parquet: three partitions, 1000 rows each
        for part in ("year=2023/month=12", "year=2024/month=1", "year=2024/month=2"):
            os.makedirs(os.path.join(data, "hive", part))
            shutil.copy(pq, os.path.join(data, "hive", part, "part.parquet"))
        # a directory of Parquet files (format inferred from the files)
        os.makedirs(os.path.join(data, "pqdir", "nested"))
        shutil.copy(pq, os.path.join(data, "pqdir", "a.parquet"))
        shutil.copy(pq, os.path.join(data, "pqdir", "nested", "b.parquet"))
        # CSV: a directory (recursive) and a glob (top level only)
        csvdir = os.path.join(data, "csvdir")
        write_atomic(os.path.join(csvdir, "a.csv"), csv_text(["k", "v"], [(1, "a"), (2, "b")]))
        write_atomic(os.path.join(csvdir, "b.csv"), csv_text(["k", "v"], [(3, "c")]))
        write_atomic(os.path.join(csvdir, "sub", "c.csv"), csv_text(["k", "v"], [(4, "d")]))
        # Hive-partitioned CSV through a glob
        write_atomic(os.path.join(data, "hivecsv", "region=eu", "x.csv"),
                     csv_text(["id", "amount"], [(1, 10), (2, 20)]))
        write_atomic(os.path.join(data, "hivecsv", "region=us", "y.csv"),
                     csv_text(["id", "amount"], [(3, 30)]))
        # JSON: an array of objects and newline-delimited
        write_atomic(os.path.join(data, "people.json"), json.dumps(
            [{"id": 1, "name": "ann", "tags": ["a", "b"]},
             {"id": 2, "name": "bob", "tags": []}]))
        write_atomic(os.path.join(data, "events.jsonl"),
                     '{"id": 1, "kind": "click"}\n{"id": 2, "kind": "view"}\n'
                     '{"id": 3, "kind": "click"}\n')
        # formats from params rather than the extension
        with open(os.path.join(data, "zones.csv")) as f:
            zones = f.read()
        write_atomic(os.path.join(data, "zones.txt"), zones)
        write_atomic(os.path.join(data, "semi.dat"), "x;y\n1;one\n2;two\n")
        write_atomic(os.path.join(data, "nohead.csv"), "5,five\n6,six\n")
        with gzip.open(os.path.join(data, "zones.csv.gz"), "wt") as f:
            f.write(zones)
        abs_zones = os.path.join(data, "zones.csv")
        datasets = """\
  - from: file:data/taxi_trips.parquet
    name: pq_single
  - from: file:data/taxi_trips.parquet
    name: pq_accel
    acceleration:
      enabled: true
  - from: file:data/zones.csv
    name: csv_single
  - from: file:data/people.json
    name: json_array
  - from: file:data/events.jsonl
    name: ndjson
    acceleration:
      enabled: true
      engine: duckdb
  - from: file:data/csvdir
    name: csv_dir
  - from: file:data/csvdir/*.csv
    name: csv_glob
  - from: file:data/hive
    name: hive_pq
  - from: file:data/hive/*/*/*.parquet
    name: hive_pq_glob
    acceleration:
      enabled: true
  - from: file:data/hive
    name: hive_off
    params:
      hive_partitioning_enabled: false
  - from: file:data/hivecsv/*/*.csv
    name: hive_csv
  - from: file:data/pqdir/
    name: pq_dir
  - from: file://%s
    name: file_url
  - from: file:data/zones.txt
    name: txt_as_csv
    params:
      file_format: csv
  - from: file:data/semi.dat
    name: semicolon
    params:
      file_format: csv
      csv_delimiter: ";"
  - from: file:data/nohead.csv
    name: no_header
    params:
      csv_has_header: false
  - from: file:data/zones.csv.gz
    name: gz
""" % abs_zones
        cls.c = Cloved(pod(datasets), workdir=d)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.c.stop()
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def test_all_ready(self):
        ds = self.c.datasets()
        self.assertEqual({k: v["status"] for k, v in ds.items() if v["status"] != "Ready"}, {})

    def test_parquet_single_file(self):
        self.assertEqual(self.c.rows(
            "SELECT count(*) AS n, min(trip_id) AS lo, max(trip_id) AS hi FROM pq_single"),
            [{"n": 1000, "lo": 0, "hi": 999}])
        cols = [r["column_name"] for r in self.c.rows("DESCRIBE pq_single")]
        self.assertEqual(cols, ["trip_id", "vendor", "pickup_time", "dropoff_time",
                                "passenger_count", "trip_distance", "fare", "tip",
                                "payment_type", "pickup_zone"])

    def test_parquet_accelerated_equals_federated(self):
        q = "SELECT vendor, count(*) AS n, sum(fare) AS f FROM %s GROUP BY 1 ORDER BY 1"
        self.assertEqual(self.c.rows(q % "pq_accel"), self.c.rows(q % "pq_single"))

    def test_csv_single_file(self):
        self.assertEqual(self.c.rows("SELECT * FROM csv_single WHERE zone_id IN (1, 20) ORDER BY 1"),
                         [{"zone_id": 1, "zone_name": "Zone 1", "borough": "Brooklyn"},
                          {"zone_id": 20, "zone_name": "Zone 20", "borough": "Manhattan"}])

    def test_json_array_and_ndjson(self):
        self.assertEqual(self.c.rows("SELECT id, name, tags FROM json_array ORDER BY id"),
                         [{"id": 1, "name": "ann", "tags": ["a", "b"]},
                          {"id": 2, "name": "bob", "tags": []}])
        self.assertEqual(self.c.rows("SELECT kind, count(*) AS n FROM ndjson GROUP BY 1 ORDER BY 1"),
                         [{"kind": "click", "n": 2}, {"kind": "view", "n": 1}])

    def test_csv_directory_is_recursive(self):
        self.assertEqual(self.c.rows("SELECT k, v FROM csv_dir ORDER BY k"),
                         [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}, {"k": 3, "v": "c"},
                          {"k": 4, "v": "d"}])

    def test_csv_glob(self):
        self.assertEqual(self.c.rows("SELECT k, v FROM csv_glob ORDER BY k"),
                         [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}, {"k": 3, "v": "c"}])

    def test_hive_partitions_parquet_directory(self):
        rows = self.c.rows("SELECT year, month, count(*) AS n FROM hive_pq "
                           "GROUP BY ALL ORDER BY year, month")
        self.assertEqual(rows, [{"year": 2023, "month": 12, "n": 1000},
                                {"year": 2024, "month": 1, "n": 1000},
                                {"year": 2024, "month": 2, "n": 1000}])
        # partition filters work
        self.assertEqual(self.c.scalar("SELECT count(*) FROM hive_pq WHERE year = 2024"), 2000)

    def test_hive_partitions_parquet_glob_accelerated(self):
        rows = self.c.rows("SELECT year, month, count(*) AS n FROM hive_pq_glob "
                           "GROUP BY ALL ORDER BY year, month")
        self.assertEqual([(r["year"], r["month"], r["n"]) for r in rows],
                         [(2023, 12, 1000), (2024, 1, 1000), (2024, 2, 1000)])

    def test_hive_partitioning_can_be_turned_off(self):
        cols = [r["column_name"] for r in self.c.rows("DESCRIBE hive_off")]
        self.assertNotIn("year", cols)
        self.assertNotIn("month", cols)
        self.assertEqual(self.c.scalar("SELECT count(*) FROM hive_off"), 3000)

    def test_hive_partitions_csv(self):
        self.assertEqual(self.c.rows("SELECT region, sum(amount) AS s FROM hive_csv "
                                     "GROUP BY 1 ORDER BY 1"),
                         [{"region": "eu", "s": 30}, {"region": "us", "s": 30}])

    def test_parquet_directory_inferred(self):
        self.assertEqual(self.c.scalar("SELECT count(*) FROM pq_dir"), 2000)

    def test_file_url_prefix(self):
        self.assertEqual(self.c.scalar("SELECT count(*) FROM file_url"), 20)

    def test_file_format_param(self):
        self.assertEqual(self.c.scalar("SELECT count(*) FROM txt_as_csv"), 20)
        self.assertEqual(self.c.rows("SELECT * FROM semicolon ORDER BY x"),
                         [{"x": 1, "y": "one"}, {"x": 2, "y": "two"}])

    def test_csv_without_header(self):
        rows = self.c.rows("SELECT * FROM no_header ORDER BY 1")
        self.assertEqual([list(r.values()) for r in rows], [[5, "five"], [6, "six"]])

    def test_compressed_csv_inferred(self):
        self.assertEqual(self.c.scalar("SELECT count(DISTINCT borough) FROM gz"), 5)

    def test_datasets_listing_names_sources(self):
        ds = self.c.datasets()
        self.assertEqual(ds["hive_pq"]["from"], "file:data/hive")
        self.assertTrue(ds["pq_accel"]["acceleration_enabled"])
        self.assertFalse(ds["pq_single"]["acceleration_enabled"])


class BadSourcesTest(CloveTest):
    def test_missing_files_error_while_others_serve(self):
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 50)
        c = self.start(pod("""\
  - from: file:data/zones.csv
    name: good
  - from: file:data/missing_fed.csv
    name: missing_fed
  - from: file:data/missing_acc.parquet
    name: missing_acc
    acceleration:
      enabled: true
      refresh_retry_enabled: false
  - from: file:data/taxi_trips.unknownext
    name: no_format
  - from: postgres:public.orders
    name: pg
"""), workdir=d)
        # the runtime started and is ready although datasets failed
        self.assertEqual(c.get("/v1/ready").status, 200)
        ds = c.datasets()
        self.assertEqual(ds["good"]["status"], "Ready")
        self.assertEqual(c.scalar("SELECT count(*) FROM good"), 20)
        for name, needle in (("missing_fed", "missing_fed.csv"),
                             ("missing_acc", "missing_acc.parquet"),
                             ("no_format", "file_format"),
                             ("pg", "postgres")):
            self.assertEqual(ds[name]["status"], "Error", name)
            self.assertIn(needle, ds[name]["error_message"] or "", name)
            r = c.sql("SELECT * FROM %s" % name)
            # a source that cannot be reached answers 503 (retry later), the others 400
            self.assertStatus(r, 503 if name == "pg" else 400, name)
            self.assertIn(name, r.text)
        # the message names the full path of the missing file
        self.assertIn(os.path.join(d, "data", "missing_fed.csv"), ds["missing_fed"]["error_message"])
        self.assertIn(os.path.join(d, "data", "missing_acc.parquet"),
                      ds["missing_acc"]["error_message"])

    def test_federated_dataset_recovers_when_file_appears(self):
        d = self.tempdir()
        c = self.start(pod("""\
  - from: file:data/later.csv
    name: later
  - from: file:data/now.csv
    name: now
""", """\
  - name: later_view
    sql: SELECT x + 100 AS x100 FROM later
"""), workdir=d, files={"data/now.csv": "a\n1\n"})
        self.assertEqual(c.dataset_status("later"), "Error")
        r = c.sql("SELECT * FROM later_view")
        self.assertStatus(r, 400)
        self.assertIn("later", r.text)
        write_atomic(os.path.join(d, "data", "later.csv"), "x,y\n1,2\n3,4\n")
        c.wait_until(lambda: c.dataset_status("later") == "Ready", timeout=20,
                     what="later Ready after its file appeared")
        self.assertEqual(c.rows("SELECT * FROM later ORDER BY x"), [{"x": 1, "y": 2}, {"x": 3, "y": 4}])
        # the view over it is created once it is ready
        c.wait_until(lambda: c.sql("SELECT * FROM later_view").status == 200, timeout=10,
                     what="later_view created")
        self.assertEqual(c.rows("SELECT * FROM later_view ORDER BY 1"), [{"x100": 101}, {"x100": 103}])


class FederatedChangesTest(CloveTest):
    def test_federated_sees_file_changes_accelerated_after_refresh(self):
        d = self.tempdir()
        fed = os.path.join(d, "data", "fed.csv")
        acc = os.path.join(d, "data", "acc.csv")
        write_atomic(fed, csv_text(["a", "b"], [(1, "x"), (2, "y")]))
        write_atomic(acc, csv_text(["a", "b"], [(1, "x"), (2, "y")]))
        c = self.start(pod("""\
  - from: file:data/fed.csv
    name: fed
  - from: file:data/acc.csv
    name: acc
    acceleration:
      enabled: true
      engine: duckdb
""", """\
  - name: fed_view
    sql: SELECT a, b FROM fed WHERE a > 1
"""), workdir=d)
        q_fed = "SELECT * FROM fed ORDER BY a"
        q_acc = "SELECT * FROM acc ORDER BY a"
        self.assertEqual(c.rows(q_fed), [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
        self.assertEqual(c.rows(q_acc), [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
        write_atomic(fed, csv_text(["a", "b"], [(1, "x"), (2, "y"), (3, "z")]))
        write_atomic(acc, csv_text(["a", "b"], [(1, "x"), (2, "y"), (3, "z")]))
        # the very same SQL text (a cached statement) sees the new file at once
        self.assertEqual(c.rows(q_fed), [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}])
        self.assertEqual(c.rows("SELECT * FROM fed_view ORDER BY a"),
                         [{"a": 2, "b": "y"}, {"a": 3, "b": "z"}])
        # the accelerated copy does not change until refreshed
        time.sleep(0.5)
        self.assertEqual(c.rows(q_acc), [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
        self.assertStatus(c.refresh("acc"), 201)
        c.wait_until(lambda: len(c.rows(q_acc)) == 3, what="acc refreshed to 3 rows")
        self.assertEqual(c.rows(q_acc), [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}])

    def test_federated_file_gains_a_column(self):
        # "every query reads them, so changes to the files show up at once": a CSV that gains
        # a column must keep answering (at least for the columns it still has)
        d = self.tempdir()
        fed = os.path.join(d, "data", "fed.csv")
        write_atomic(fed, csv_text(["a", "b"], [(1, "x")]))
        c = self.start(pod("""\
  - from: file:data/fed.csv
    name: fed
"""), workdir=d)
        self.assertEqual(c.rows("SELECT * FROM fed"), [{"a": 1, "b": "x"}])
        write_atomic(fed, csv_text(["a", "b", "c"], [(1, "x", "true"), (2, "y", "false")]))
        r = c.sql("SELECT a FROM fed ORDER BY a")
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), [{"a": 1}, {"a": 2}])
        self.assertEqual(c.rows("SELECT * FROM fed ORDER BY a"),
                         [{"a": 1, "b": "x", "c": True}, {"a": 2, "b": "y", "c": False}])

    def test_accelerated_file_gains_a_column_after_refresh(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "acc.csv")
        write_atomic(src, csv_text(["a", "b"], [(1, "x")]))
        c = self.start(pod("""\
  - from: file:data/acc.csv
    name: acc
    acceleration:
      enabled: true
"""), workdir=d)
        self.assertEqual(c.rows("SELECT * FROM acc"), [{"a": 1, "b": "x"}])
        write_atomic(src, csv_text(["a", "b", "c"], [(5, "y", 7)]))
        self.assertStatus(c.refresh("acc"), 201)
        c.wait_until(lambda: c.rows("SELECT * FROM acc") == [{"a": 5, "b": "y", "c": 7}],
                     what="acc refreshed with the new column")


class AccelerationTest(CloveTest):
    def test_engines_and_modes(self):
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 500)
        c = self.start(pod("""\
  - from: file:data/taxi_trips.parquet
    name: t_arrow
    acceleration:
      enabled: true
      engine: arrow
  - from: file:data/taxi_trips.parquet
    name: t_duck_mem
    acceleration:
      enabled: true
      engine: duckdb
      mode: memory
  - from: file:data/taxi_trips.parquet
    name: t_duck_file
    acceleration:
      enabled: true
      engine: duckdb
      mode: file
      params:
        duckdb_file: accel/trips.db
  - from: file:data/taxi_trips.parquet
    name: t_duck_default_file
    acceleration:
      enabled: true
      engine: duckdb
      mode: file
"""), workdir=d)
        q = "SELECT count(*) AS n, sum(fare) AS f, min(pickup_time) AS p FROM %s"
        expected = c.rows(q % "t_arrow")
        self.assertEqual(expected[0]["n"], 500)
        for name in ("t_duck_mem", "t_duck_file", "t_duck_default_file"):
            self.assertEqual(c.rows(q % name), expected, name)
        self.assertTrue(os.path.isfile(os.path.join(d, "accel", "trips.db")))
        self.assertGreater(os.path.getsize(os.path.join(d, "accel", "trips.db")), 0)
        self.assertTrue(os.path.isfile(os.path.join(d, ".clove", "data", "t_duck_default_file.db")))

    def test_file_mode_restart_serves_persisted_data(self):
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 300)
        spec = pod("""\
  - from: file:data/taxi_trips.parquet
    name: trips
    acceleration:
      enabled: true
      engine: duckdb
      mode: file
      params:
        duckdb_file: state/trips.db
""")
        c = Cloved(spec, workdir=d)
        try:
            before = c.rows("SELECT count(*) AS n, sum(fare) AS f FROM trips")
            self.assertEqual(before[0]["n"], 300)
        finally:
            c.stop()
        db = os.path.join(d, "state", "trips.db")
        self.assertTrue(os.path.isfile(db))
        # the source disappears: a restart still answers from the file at once
        os.rename(os.path.join(d, "data", "taxi_trips.parquet"), os.path.join(d, "moved.parquet"))
        c2 = Cloved(spec, workdir=d)
        try:
            self.assertEqual(c2.rows("SELECT count(*) AS n, sum(fare) AS f FROM trips"), before)
            self.assertIn("persisted", c2.logs())
        finally:
            c2.stop()

    def test_datasets_sharing_one_duckdb_file(self):
        # Spice keeps every file-mode DuckDB dataset in one file by default, and spicepods
        # point several datasets at the same duckdb_file: both must load and survive a restart
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 100)
        spec = pod("""\
  - from: file:data/taxi_trips.parquet
    name: a
    acceleration:
      enabled: true
      engine: duckdb
      mode: file
      params:
        duckdb_file: shared.db
  - from: file:data/zones.csv
    name: b
    acceleration:
      enabled: true
      engine: duckdb
      mode: file
      params:
        duckdb_file: shared.db
""")
        try:
            for _ in range(2):                   # start, then restart on the same file
                c = Cloved(spec, workdir=d)
                try:
                    self.assertEqual(c.rows("SELECT (SELECT count(*) FROM a) AS a, "
                                            "(SELECT count(*) FROM b) AS b"), [{"a": 100, "b": 20}])
                    self.assertEqual(c.datasets()["a"]["status"], "Ready")
                    self.assertEqual(c.datasets()["b"]["status"], "Ready")
                finally:
                    c.stop()
        finally:
            moved = [f for f in os.listdir(d) if ".corrupt-" in f]
            self.assertEqual(moved, [], "a healthy shared acceleration file was moved aside")

    def test_acceleration_file_in_use_is_not_moved_aside(self):
        # a second cloved started on the same spicepod (a mistake, or a rolling restart on a
        # shared volume) finds the file locked: it must not rename the running instance's
        # file as "corrupt" and build a new one beside it
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 100)
        spec = pod("""\
  - from: file:data/taxi_trips.parquet
    name: a
    acceleration:
      enabled: true
      engine: duckdb
      mode: file
      params:
        duckdb_file: a.db
""")
        first = self.start(spec, workdir=d)
        self.assertEqual(first.scalar("SELECT count(*) FROM a"), 100)
        ino = os.stat(os.path.join(d, "a.db")).st_ino
        second = None
        try:
            second = Cloved(spec, workdir=d, wait_ready=False)
            time.sleep(1.0)
        except RuntimeError:
            pass                                  # refusing to start is fine
        finally:
            if second is not None:
                second.stop(check=False)
        moved = [f for f in os.listdir(d) if ".corrupt-" in f]
        self.assertEqual(moved, [], "the running instance's acceleration file was moved aside")
        self.assertEqual(os.stat(os.path.join(d, "a.db")).st_ino, ino)
        self.assertEqual(first.scalar("SELECT count(*) FROM a"), 100)

    def test_refresh_sql_filters_loaded_rows(self):
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 1000)
        c = self.start(pod("""\
  - from: file:data/taxi_trips.parquet
    name: all_trips
  - from: file:data/taxi_trips.parquet
    name: card_trips
    acceleration:
      enabled: true
      refresh_sql: SELECT trip_id, fare, payment_type FROM card_trips WHERE payment_type = 'card'
"""), workdir=d)
        expected = c.scalar("SELECT count(*) FROM all_trips WHERE payment_type = 'card'")
        self.assertGreater(expected, 0)
        self.assertLess(expected, 1000)
        self.assertEqual(c.scalar("SELECT count(*) FROM card_trips"), expected)
        self.assertEqual(c.rows("SELECT DISTINCT payment_type FROM card_trips"),
                         [{"payment_type": "card"}])
        cols = [r["column_name"] for r in c.rows("DESCRIBE card_trips")]
        self.assertEqual(cols, ["trip_id", "fare", "payment_type"])

    def test_refresh_check_interval_picks_up_changes(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "s.csv")
        write_atomic(src, csv_text(["v"], [(1,)]))
        c = self.start(pod("""\
  - from: file:data/s.csv
    name: s
    acceleration:
      enabled: true
      refresh_check_interval: 1s
"""), workdir=d)
        self.assertEqual(c.rows("SELECT * FROM s"), [{"v": 1}])
        write_atomic(src, csv_text(["v"], [(2,), (3,)]))
        c.wait_until(lambda: c.rows("SELECT * FROM s ORDER BY v") == [{"v": 2}, {"v": 3}],
                     timeout=15, what="scheduled refresh to load the new file")
        write_atomic(src, csv_text(["v"], [(4,)]))
        c.wait_until(lambda: c.rows("SELECT * FROM s") == [{"v": 4}],
                     timeout=15, what="second scheduled refresh")

    def test_failed_refresh_keeps_last_data(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "s.csv")
        write_atomic(src, csv_text(["v"], [(1,), (2,)]))
        c = self.start(pod("""\
  - from: file:data/s.csv
    name: s
    acceleration:
      enabled: true
      refresh_retry_enabled: false
"""), workdir=d, metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM s"), 2)
        os.unlink(src)
        self.assertStatus(c.refresh("s"), 201)
        c.wait_until(lambda: c.dataset_status("s") == "Error", what="s in Error after a failed refresh")
        ds = c.datasets()["s"]
        self.assertIn("s.csv", ds["error_message"])
        # still serving the last good data
        self.assertEqual(c.rows("SELECT * FROM s ORDER BY v"), [{"v": 1}, {"v": 2}])
        self.assertGreaterEqual(metric(c.metrics(), "dataset_acceleration_refresh_errors_total",
                                       dataset="s"), 1)
        # the source comes back; a refresh recovers
        write_atomic(src, csv_text(["v"], [(9,)]))
        self.assertStatus(c.refresh("s"), 201)
        c.wait_until(lambda: c.dataset_status("s") == "Ready", what="s Ready again")
        self.assertEqual(c.rows("SELECT * FROM s"), [{"v": 9}])
        self.assertIsNone(c.datasets()["s"]["error_message"])

    def test_rapid_manual_refreshes_recover(self):
        # refresh requests that arrive while a refresh runs (and may cancel it) must leave the
        # dataset able to refresh again: Ready, with the newest data
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 20000)
        c = self.start(pod("""\
  - from: file:data/taxi_trips.parquet
    name: trips
    acceleration:
      enabled: true
      engine: duckdb
"""), workdir=d)
        for i in range(25):
            for _ in range(4):
                self.assertStatus(c.refresh("trips"), 201)
            c.wait_until(lambda: c.dataset_status("trips") == "Ready", timeout=15,
                         what=lambda: "trips Ready after burst %d of refreshes (now: %r)"
                                      % (i, c.datasets().get("trips")))
        self.assertEqual(c.scalar("SELECT count(*) FROM trips"), 20000)
        make_data(os.path.join(d, "data"), 500)
        self.assertStatus(c.refresh("trips"), 201)
        c.wait_until(lambda: c.scalar("SELECT count(*) FROM trips") == 500, timeout=15,
                     what="the last refresh to load the new file")

    def test_atomic_refresh_under_readers(self):
        # the same source accelerated three ways; readers hammer each while the source flips
        # between 100k and 150k rows and every acceleration is refreshed again and again
        d = self.tempdir()
        small = os.path.join(d, "small")
        big = os.path.join(d, "big")
        make_data(small, 100000)
        make_data(big, 150000)
        src = os.path.join(d, "data", "trips.parquet")
        os.makedirs(os.path.dirname(src))
        shutil.copy(os.path.join(small, "taxi_trips.parquet"), src)
        names = ("t_arrow", "t_duck", "t_file")
        c = self.start(pod("""\
  - from: file:data/trips.parquet
    name: t_arrow
    acceleration:
      enabled: true
      engine: arrow
  - from: file:data/trips.parquet
    name: t_duck
    acceleration:
      enabled: true
      engine: duckdb
  - from: file:data/trips.parquet
    name: t_file
    acceleration:
      enabled: true
      engine: duckdb
      mode: file
""", """\
  - name: t_view
    sql: SELECT a.trip_id FROM t_file a JOIN t_duck b USING (trip_id)
"""), workdir=d)
        seen = {}
        bad = []
        stop = threading.Event()
        errors = []
        lock = threading.Lock()
        ok_keys = ((100000, 99999, 100000), (150000, 149999, 150000))

        def reader(name, sql):
            try:
                while not stop.is_set():
                    r = c.rows(sql)[0]
                    key = (r["n"], r["hi"], r["u"])
                    with lock:
                        seen.setdefault(name, {})
                        seen[name][key] = seen[name].get(key, 0) + 1
                        if key not in ok_keys:
                            bad.append((name, key))
            except Exception as e:        # reported by the main thread
                errors.append(e)

        queries = [(n, "SELECT count(*) AS n, max(trip_id) AS hi, count(DISTINCT trip_id) AS u "
                       "FROM %s" % n) for n in names]
        queries.append(("t_duck", "SELECT count(*) AS n, max(trip_id) AS hi, count(*) AS u "
                                  "FROM t_duck"))
        threads = [threading.Thread(target=reader, args=q) for q in queries]
        for t in threads:
            t.start()
        try:
            for i in range(10):
                want = 150000 if i % 2 == 0 else 100000
                version = big if i % 2 == 0 else small
                tmp = src + ".tmp"
                shutil.copy(os.path.join(version, "taxi_trips.parquet"), tmp)
                os.replace(tmp, src)
                for n in names:
                    self.assertStatus(c.refresh(n), 201)
                for n in names:
                    c.wait_until(lambda: c.scalar("SELECT count(*) FROM %s" % n) == want,
                                 timeout=30, what="%s refresh %d to %d rows" % (n, i, want))
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(bad, [], "readers saw a partial table: %r" % seen)
        for n in names:
            self.assertEqual(len(seen.get(n, {})), 2,
                             "readers of %s should have seen both versions: %r" % (n, seen))
        # a view over two file/memory accelerations follows them
        self.assertEqual(c.scalar("SELECT count(*) FROM t_view"), 100000)


class ViewsTest(CloveTest):
    def test_views_over_datasets(self):
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 1000)
        c = self.start(pod("""\
  - from: file:data/taxi_trips.parquet
    name: trips
    acceleration:
      enabled: true
  - from: file:data/zones.csv
    name: zones
""", """\
  - name: by_borough
    sql: |
      SELECT z.borough, count(*) AS trips
      FROM trips t JOIN zones z ON t.pickup_zone = z.zone_id
      GROUP BY z.borough
  - name: top_borough
    sql: SELECT borough FROM by_borough ORDER BY trips DESC, borough LIMIT 1
  - name: queens_zones
    sql: SELECT zone_id FROM zones WHERE borough = 'Queens'
"""), workdir=d)
        expected = c.rows("SELECT z.borough, count(*) AS trips FROM trips t JOIN zones z "
                          "ON t.pickup_zone = z.zone_id GROUP BY 1 ORDER BY 1")
        self.assertEqual(c.rows("SELECT * FROM by_borough ORDER BY borough"), expected)
        self.assertEqual(sum(r["trips"] for r in expected), 1000)
        top = max(expected, key=lambda r: (r["trips"], [-ord(ch) for ch in r["borough"]]))
        self.assertEqual(c.rows("SELECT * FROM top_borough"), [{"borough": top["borough"]}])
        self.assertEqual(c.rows("SELECT * FROM spice.public.queens_zones ORDER BY 1"),
                         [{"zone_id": z} for z in (2, 7, 12, 17)])
        # the federated side of the join follows its file at once
        write_atomic(os.path.join(d, "data", "zones.csv"),
                     "zone_id,zone_name,borough\n" +
                     "".join("%d,Zone %d,Same\n" % (z, z) for z in range(1, 21)))
        self.assertEqual(c.rows("SELECT * FROM by_borough"), [{"borough": "Same", "trips": 1000}])
        listed = {r["name"] for r in c.rows("SHOW TABLES")}
        self.assertTrue({"by_borough", "top_borough", "queens_zones", "trips", "zones"} <= listed)


class StatusTest(CloveTest):
    """Initializing / Ready / Refreshing observed with a named pipe as the source."""

    def test_initializing_then_ready_while_others_serve(self):
        d = self.tempdir()
        fifo = Fifo(os.path.join(d, "data", "slow.csv"))
        self.addCleanup(fifo.release)
        c = self.start(pod("""\
  - from: file:data/slow.csv
    name: slow
    acceleration:
      enabled: true
  - from: file:data/fast.csv
    name: fast
    acceleration:
      enabled: true
  - from: file:data/fast.csv
    name: fast_fed
""", """\
  - name: slow_view
    sql: SELECT count(*) AS n FROM slow
"""), workdir=d, files={"data/fast.csv": "a\n1\n2\n"}, wait_ready=False, metrics=True)
        c.wait_until(lambda: c.dataset_status("fast") == "Ready", what="fast Ready")
        self.assertEqual(c.dataset_status("slow"), "Initializing")
        r = c.get("/v1/ready")
        self.assertStatus(r, 503)
        self.assertEqual(r.text, "not ready")
        r = c.sql("SELECT * FROM slow")
        self.assertStatus(r, 400)
        self.assertEqual(r.text, "Acceleration not ready; loading initial data for slow")
        r = c.sql("SELECT * FROM slow_view")
        self.assertStatus(r, 400)
        self.assertIn("slow", r.text)
        # the other datasets answer meanwhile
        self.assertEqual(c.scalar("SELECT count(*) FROM fast"), 2)
        self.assertEqual(c.scalar("SELECT sum(a) FROM fast_fed"), 3)
        m = c.metrics()
        self.assertEqual(metric(m, "dataset_load_state", dataset="slow"), 0)
        self.assertEqual(metric(m, "dataset_load_state", dataset="fast"), 1)
        self.assertGreaterEqual(metric(m, "query_failures_total", err_code="not_ready"), 1)
        # the load finishes
        fifo.feed(csv_text(["x"], [(i,) for i in range(10)]))
        c.wait_ready(30)
        self.assertEqual(c.get("/v1/ready").text, "ready")
        self.assertEqual(c.dataset_status("slow"), "Ready")
        self.assertEqual(c.scalar("SELECT count(*) FROM slow"), 10)
        c.wait_until(lambda: c.sql("SELECT n FROM slow_view").status == 200, what="slow_view created")
        self.assertEqual(c.rows("SELECT n FROM slow_view"), [{"n": 10}])
        self.assertEqual(metric(c.metrics(), "dataset_load_state", dataset="slow"), 1)

    def test_refreshing_keeps_serving_old_data(self):
        d = self.tempdir()
        fifo = Fifo(os.path.join(d, "data", "src.csv"))
        self.addCleanup(fifo.release)
        c = self.start(pod("""\
  - from: file:data/src.csv
    name: src
    acceleration:
      enabled: true
      engine: duckdb
"""), workdir=d, wait_ready=False, metrics=True)
        fifo.feed(csv_text(["v"], [(1,), (2,)]))
        c.wait_ready(30)
        self.assertEqual(c.scalar("SELECT count(*) FROM src"), 2)
        self.assertStatus(c.refresh("src"), 201)
        c.wait_until(lambda: c.dataset_status("src") == "Refreshing", what="src Refreshing")
        self.assertEqual(metric(c.metrics(), "dataset_load_state", dataset="src"), 2)
        # readers do not wait for the refresh and see the old data
        t0 = time.monotonic()
        self.assertEqual(c.rows("SELECT * FROM src ORDER BY v"), [{"v": 1}, {"v": 2}])
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(c.get("/v1/ready").status, 200)
        fifo.feed(csv_text(["v"], [(7,), (8,), (9,)]))
        c.wait_until(lambda: c.dataset_status("src") == "Ready", what="src Ready after refresh")
        self.assertEqual(c.rows("SELECT * FROM src ORDER BY v"), [{"v": 7}, {"v": 8}, {"v": 9}])


if __name__ == "__main__":
    unittest.main()

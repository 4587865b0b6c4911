"""
Acceleration refresh modes and controls: append with a time column (exact watermark
semantics, overlap), append of new files, primary keys with on_conflict drop / upsert /
upsert_dedup (single and composite keys), unique indexes, refresh_sql validation and
overrides, PATCH of refresh_sql, refresh_data_window, retention by period and by SQL,
on_zero_results, ready_state on_registration, durable file mode (restart without refetch,
refresh_on_startup, file_update schema evolution, kill -9 during a refresh, a corrupt file),
retries, and 50 consecutive atomic refreshes under a reader.
"""
import os
import signal
import subprocess
import threading
import time

from harness import Cloved, CloveTest, Fifo, csv_text, write_atomic, metric, CLOVED


def pod(datasets):
    return "version: v1\nkind: Spicepod\nname: accel_test\ndatasets:\n" + datasets


def refresh_count(c, name):
    return metric(c.metrics(), "dataset_acceleration_refresh_duration_ms_count", dataset=name)


def refresh_and_wait(test, c, name, body=""):
    """Triggers a refresh and waits until it has finished (successfully or not)."""
    before = refresh_count(c, name)
    r = c.post("/v1/datasets/%s/acceleration/refresh" % name, body)
    test.assertStatus(r, 201)
    c.wait_until(lambda: refresh_count(c, name) > before, what="refresh of " + name)


class AppendTest(CloveTest):
    def test_append_time_column_exact_at_the_boundary(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "ev.csv")
        write_atomic(src, csv_text(["id", "ts", "v"], [
            (1, "2024-01-01 00:00:00", "a"), (2, "2024-01-01 00:00:05", "b"),
            (3, "2024-01-01 00:00:05", "c")]))
        c = self.start(pod("""\
  - from: file:data/ev.csv
    name: ev
    time_column: ts
    acceleration:
      enabled: true
      refresh_mode: append
"""), workdir=d, metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM ev"), 3)
        # two new rows share the stored watermark (00:00:05), one is later; the old rows stay
        write_atomic(src, csv_text(["id", "ts", "v"], [
            (1, "2024-01-01 00:00:00", "a"), (2, "2024-01-01 00:00:05", "b"),
            (3, "2024-01-01 00:00:05", "c"), (4, "2024-01-01 00:00:05", "d"),
            (5, "2024-01-01 00:00:05", "b2"), (6, "2024-01-01 00:00:09", "e")]))
        refresh_and_wait(self, c, "ev")
        self.assertEqual(c.rows("SELECT id, v FROM ev ORDER BY id"),
                         [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"},
                          {"id": 4, "v": "d"}, {"id": 5, "v": "b2"}, {"id": 6, "v": "e"}])
        # a refresh with nothing new changes nothing
        refresh_and_wait(self, c, "ev")
        self.assertEqual(c.scalar("SELECT count(*) FROM ev"), 6)
        # rows older than the watermark are not picked up by append
        write_atomic(src, open(src).read() + "7,2023-12-31 00:00:00,old\n8,2024-01-01 00:00:10,f\n")
        refresh_and_wait(self, c, "ev")
        self.assertEqual(c.rows("SELECT id FROM ev ORDER BY id"),
                         [{"id": i} for i in (1, 2, 3, 4, 5, 6, 8)])

    def test_append_overlap_refetches_without_duplicates(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "ev.csv")
        write_atomic(src, csv_text(["id", "ts"], [(1, "2024-01-01 00:00:00"),
                                                  (2, "2024-01-01 00:01:00")]))
        c = self.start(pod("""\
  - from: file:data/ev.csv
    name: ev
    time_column: ts
    acceleration:
      enabled: true
      refresh_mode: append
      refresh_append_overlap: 10m
"""), workdir=d, metrics=True)
        # a late row inside the overlap window arrives, plus a new one
        write_atomic(src, open(src).read() + "3,2024-01-01 00:00:30\n4,2024-01-01 00:02:00\n")
        refresh_and_wait(self, c, "ev")
        self.assertEqual(c.rows("SELECT id FROM ev ORDER BY id"),
                         [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}])

    def test_append_unix_millis_time_format(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "ev.csv")
        write_atomic(src, csv_text(["id", "t"], [(1, 1700000000000), (2, 1700000001000)]))
        c = self.start(pod("""\
  - from: file:data/ev.csv
    name: ev
    time_column: t
    time_format: unix_millis
    acceleration:
      enabled: true
      refresh_mode: append
"""), workdir=d, metrics=True)
        write_atomic(src, open(src).read() + "3,1700000001000\n4,1700000002000\n")
        refresh_and_wait(self, c, "ev")
        self.assertEqual(c.rows("SELECT id FROM ev ORDER BY id"),
                         [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}])

    def test_append_new_files_only(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "in", "a.csv"), csv_text(["k"], [(1,), (2,)]))
        c = self.start(pod("""\
  - from: file:data/in/
    name: files
    params:
      file_format: csv
    acceleration:
      enabled: true
      engine: duckdb
      mode: file
      refresh_mode: append
"""), workdir=d, metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM files"), 2)
        write_atomic(os.path.join(d, "data", "in", "b.csv"), csv_text(["k"], [(3,)]))
        # an already loaded file that changes is not read again
        write_atomic(os.path.join(d, "data", "in", "a.csv"), csv_text(["k"], [(1,), (2,), (99,)]))
        refresh_and_wait(self, c, "files")
        self.assertEqual(c.rows("SELECT k FROM files ORDER BY k"), [{"k": 1}, {"k": 2}, {"k": 3}])
        # a manual full refresh reloads every file (a.csv now holds 99 too) and starts the
        # list of loaded files over, so the next append loads nothing twice
        refresh_and_wait(self, c, "files", '{"refresh_mode": "full"}')
        self.assertEqual(c.rows("SELECT k FROM files ORDER BY k"),
                         [{"k": 1}, {"k": 2}, {"k": 3}, {"k": 99}])
        refresh_and_wait(self, c, "files")
        self.assertEqual(c.scalar("SELECT count(*) FROM files"), 4)
        write_atomic(os.path.join(d, "data", "in", "a.csv"), csv_text(["k"], [(1,), (2,)]))
        # the loaded files are remembered across a restart
        c.stop()
        write_atomic(os.path.join(d, "data", "in", "c.csv"), csv_text(["k"], [(4,)]))
        c2 = self.start(None, workdir=d, metrics=True)
        c2.wait_until(lambda: c2.scalar("SELECT count(*) FROM files") == 5, what="append of c.csv")
        self.assertEqual(c2.rows("SELECT k FROM files ORDER BY k"),
                         [{"k": 1}, {"k": 2}, {"k": 3}, {"k": 4}, {"k": 99}])


class PrimaryKeyTest(CloveTest):
    def run_conflict(self, rule, first, second, expect, key="id"):
        """Appends a second file of rows (an append without time_column reads new files)."""
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "in", "1.csv"), first)
        c = self.start(pod("""\
  - from: file:data/in/
    name: t
    params:
      file_format: csv
    acceleration:
      enabled: true
      refresh_mode: append
      primary_key: "%s"
      on_conflict:
        "%s": %s
""" % (key, key, rule)), workdir=d, metrics=True, wait_ready=True)
        write_atomic(os.path.join(d, "data", "in", "2.csv"), second)
        refresh_and_wait(self, c, "t")
        return c

    def test_upsert_replaces_the_stored_row(self):
        c = self.run_conflict("upsert", "id,v\n1,a\n2,b\n", "id,v\n2,B\n3,c\n",
                              None)
        self.assertEqual(c.rows("SELECT id, v FROM t ORDER BY id"),
                         [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}])
        # repeated refreshes keep the count exact
        for i in range(3):
            refresh_and_wait(self, c, "t")
            write_atomic(os.path.join(c.dir, "data", "in", "x%d.csv" % i), "id,v\n3,c%d\n" % i)
        refresh_and_wait(self, c, "t")
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 3)
        self.assertEqual(c.scalar("SELECT v FROM t WHERE id = 3"), "c2")

    def test_drop_keeps_the_stored_row(self):
        c = self.run_conflict("drop", "id,v\n1,a\n2,b\n", "id,v\n2,B\n3,c\n", None)
        self.assertEqual(c.rows("SELECT id, v FROM t ORDER BY id"),
                         [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}])

    def test_upsert_dedup_last_row_of_the_batch_wins(self):
        c = self.run_conflict("upsert_dedup", "id,v\n1,a\n", "id,v\n1,x\n2,b\n2,c\n1,y\n", None)
        self.assertEqual(c.rows("SELECT id, v FROM t ORDER BY id"),
                         [{"id": 1, "v": "y"}, {"id": 2, "v": "c"}])

    def test_upsert_refuses_duplicate_keys_in_one_batch(self):
        c = self.run_conflict("upsert", "id,v\n1,a\n", "id,v\n2,b\n2,c\n", None)
        st = c.datasets()["t"]
        self.assertEqual(st["status"], "Error")
        self.assertIn("several rows with primary key 2", st["error_message"])
        self.assertEqual(c.rows("SELECT id, v FROM t"), [{"id": 1, "v": "a"}])  # kept

    def test_composite_key(self):
        c = self.run_conflict("upsert", "a,b,v\n1,1,x\n1,2,y\n", "a,b,v\n1,2,Y\n2,1,z\n", None,
                              key="(a, b)")
        self.assertEqual(c.rows("SELECT a, b, v FROM t ORDER BY a, b"),
                         [{"a": 1, "b": 1, "v": "x"}, {"a": 1, "b": 2, "v": "Y"},
                          {"a": 2, "b": 1, "v": "z"}])

    def test_full_refresh_with_primary_key_and_unique_index(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "t.csv")
        write_atomic(src, "id,code\n1,a\n2,b\n")
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      primary_key: id
      indexes:
        code: unique
"""), workdir=d, metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 2)
        # the unique index is enforced: a refresh that violates it fails and keeps the data
        write_atomic(src, "id,code\n1,a\n2,a\n3,c\n")
        refresh_and_wait(self, c, "t")
        st = c.datasets()["t"]
        self.assertEqual(st["status"], "Error")
        self.assertIn("unique", st["error_message"].lower())
        self.assertEqual(c.rows("SELECT id, code FROM t ORDER BY id"),
                         [{"id": 1, "code": "a"}, {"id": 2, "code": "b"}])
        self.assertGreaterEqual(metric(c.metrics(), "dataset_acceleration_refresh_errors_total",
                                       dataset="t"), 1)
        write_atomic(src, "id,code\n1,a\n2,b\n3,c\n")
        refresh_and_wait(self, c, "t")
        self.assertEqual(c.dataset_status("t"), "Ready")
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 3)


class RefreshControlTest(CloveTest):
    def test_refresh_sql_must_read_only_the_dataset(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "t.csv"), "id\n1\n")
        with open(os.path.join(d, "spicepod.yaml"), "w") as f:
            f.write(pod("""\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      refresh_sql: SELECT * FROM other WHERE id > 0
"""))
        p = subprocess.run([CLOVED, "--http", "127.0.0.1:0", d], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn('refresh_sql may only read the dataset itself, but it reads "other"',
                      p.stderr)

    def test_manual_overrides_and_patch(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "t.csv"), csv_text(["id"], [(i,) for i in range(10)]))
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      refresh_sql: SELECT * FROM t WHERE id < 5
"""), workdir=d, metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 5)
        refresh_and_wait(self, c, "t", '{"refresh_sql": "SELECT * FROM t WHERE id < 2"}')
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 2)
        # the override was for that run only
        refresh_and_wait(self, c, "t")
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 5)
        r = c.post("/v1/datasets/t/acceleration/refresh", '{"refresh_sql": "DROP TABLE t"}')
        self.assertStatus(r, 400)
        r = c.post("/v1/datasets/t/acceleration/refresh", '{"refresh_mode": "sideways"}')
        self.assertStatus(r, 400)
        self.assertIn("refresh_mode", r.text)
        # PATCH changes it until restart
        r = c.request("PATCH", "/v1/datasets/t/acceleration",
                      '{"refresh_sql": "SELECT * FROM t WHERE id >= 7"}')
        self.assertStatus(r, 200)
        refresh_and_wait(self, c, "t")
        self.assertEqual(c.rows("SELECT id FROM t ORDER BY id"), [{"id": 7}, {"id": 8}, {"id": 9}])
        r = c.request("PATCH", "/v1/datasets/nope/acceleration", '{"refresh_sql": null}')
        self.assertStatus(r, 404)
        r = c.request("PATCH", "/v1/datasets/t/acceleration", '{"refresh_sql": "SELECT * FROM x"}')
        self.assertStatus(r, 400)
        self.assertIn("may only read the dataset itself", r.text)

    def test_manual_refresh_replaces_one_in_progress(self):
        d = self.tempdir()
        fifo = Fifo(os.path.join(d, "data", "slow.csv"))
        write_atomic(os.path.join(d, "data", "fast.csv"), "id\n1\n")
        c = self.start(pod("""\
  - from: file:data/fast.csv
    name: t
    acceleration:
      enabled: true
"""), workdir=d, metrics=True)
        # PATCH points refreshes at the named pipe: the refresh blocks while nobody writes
        self.assertStatus(c.request("PATCH", "/v1/datasets/t/acceleration",
                                    '{"refresh_sql": "SELECT * FROM t WHERE id > 0 AND '
                                    '(SELECT count(*) FROM range(2000000000)) > 0"}'), 200)
        self.assertStatus(c.refresh("t"), 201)
        c.wait_until(lambda: c.dataset_status("t") == "Refreshing", what="Refreshing")
        t0 = time.time()
        refresh_and_wait(self, c, "t", '{"refresh_sql": "SELECT * FROM t WHERE id = 1"}')
        self.assertLess(time.time() - t0, 20)
        self.assertEqual(c.dataset_status("t"), "Ready")
        fifo.release()

    def test_refresh_data_window(self):
        d = self.tempdir()
        now = time.time()
        fmt = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
        write_atomic(os.path.join(d, "data", "t.csv"), csv_text(["id", "ts"], [
            (1, fmt(now - 3 * 86400)), (2, fmt(now - 3600)), (3, fmt(now - 60))]))
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    time_column: ts
    acceleration:
      enabled: true
      refresh_data_window: 1d
"""), workdir=d)
        self.assertEqual(c.rows("SELECT id FROM t ORDER BY id"), [{"id": 2}, {"id": 3}])

    def test_retention_period_and_sql(self):
        d = self.tempdir()
        now = time.time()
        fmt = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
        write_atomic(os.path.join(d, "data", "t.csv"), csv_text(["id", "ts", "kind"], [
            (1, fmt(now - 3 * 86400), "keep"), (2, fmt(now - 60), "keep"),
            (3, fmt(now - 30), "junk")]))
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    time_column: ts
    acceleration:
      enabled: true
      retention_check_enabled: true
      retention_period: 1d
      retention_check_interval: 1s
      retention_sql: DELETE FROM t WHERE kind = 'junk'
"""), workdir=d, metrics=True)
        c.wait_until(lambda: c.scalar("SELECT count(*) FROM t") == 1, what="retention")
        self.assertEqual(c.rows("SELECT id FROM t"), [{"id": 2}])
        self.assertEqual(metric(c.metrics(), "dataset_acceleration_retention_deleted_rows_total",
                                dataset="t"), 2)

    def test_retention_sql_is_validated(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "t.csv"), "id\n1\n")
        with open(os.path.join(d, "spicepod.yaml"), "w") as f:
            f.write(pod("""\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      retention_check_enabled: true
      retention_check_interval: 1m
      retention_sql: DROP TABLE t
"""))
        p = subprocess.run([CLOVED, "--http", "127.0.0.1:0", d], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("retention_sql must be DELETE FROM t WHERE <condition>", p.stderr)

    def test_retries_until_the_source_appears(self):
        d = self.tempdir()
        os.makedirs(os.path.join(d, "data"))
        c = self.start(pod("""\
  - from: file:data/late.csv
    name: late
    acceleration:
      enabled: true
      refresh_retry_enabled: true
"""), workdir=d, metrics=True)
        self.assertEqual(c.dataset_status("late"), "Error")
        r = c.sql("SELECT * FROM late")
        self.assertStatus(r, 400)
        write_atomic(os.path.join(d, "data", "late.csv"), "id\n42\n")
        c.wait_until(lambda: c.dataset_status("late") == "Ready", timeout=30, what="retry")
        self.assertEqual(c.rows("SELECT id FROM late"), [{"id": 42}])
        self.assertGreaterEqual(metric(c.metrics(), "dataset_acceleration_refresh_errors_total",
                                       dataset="late"), 1)

    def test_refresh_check_interval_with_jitter(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "t.csv")
        write_atomic(src, "id\n1\n")
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      refresh_check_interval: 500ms
      refresh_jitter_enabled: true
      refresh_jitter_max: 200ms
"""), workdir=d)
        write_atomic(src, "id\n1\n2\n")
        c.wait_until(lambda: c.scalar("SELECT count(*) FROM t") == 2, timeout=10,
                     what="scheduled refresh")


class FallbackTest(CloveTest):
    def test_on_zero_results_use_source(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "t.csv"), "id,v\n1,a\n2,b\n300,c\n")
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      refresh_sql: SELECT * FROM t WHERE id > 100
      on_zero_results: use_source
  - from: file:data/t.csv
    name: t_empty
    acceleration:
      enabled: true
      refresh_sql: SELECT * FROM t_empty WHERE id > 100
"""), workdir=d, metrics=True)
        self.assertEqual(c.rows("SELECT v FROM t WHERE id = 300"), [{"v": "c"}])  # local
        self.assertEqual(c.rows("SELECT v FROM t WHERE id = 2"), [{"v": "b"}])    # source
        self.assertEqual(c.rows("SELECT v FROM t_empty WHERE id = 2"), [])        # return_empty
        self.assertEqual(metric(c.metrics(), "accelerated_zero_results_federated_fallback_total",
                                dataset="t"), 1)

    def test_ready_state_on_registration_answers_from_the_source(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "t.csv"), "id\n1\n2\n")
        fifo = Fifo(os.path.join(d, "data", "gate.csv"))
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    ready_state: on_registration
    acceleration:
      enabled: true
      refresh_sql: SELECT * FROM t WHERE id > 0 AND (SELECT count(*) FROM range(1500000000)) > 0
"""), workdir=d, metrics=True, wait_ready=False)
        self.assertEqual(c.rows("SELECT id FROM t ORDER BY id"), [{"id": 1}, {"id": 2}])
        self.assertGreaterEqual(metric(c.metrics(), "accelerated_ready_state_federated_fallback_total",
                                       dataset="t"), 1)
        c.wait_ready(timeout=120)
        self.assertEqual(c.rows("SELECT id FROM t ORDER BY id"), [{"id": 1}, {"id": 2}])
        fifo.release()


class DurableFileTest(CloveTest):
    POD = """\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      engine: duckdb
      mode: %s
      params:
        duckdb_file: accel/t.db
%s"""

    def test_restart_serves_persisted_data_without_refetch(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "t.csv")
        write_atomic(src, "id\n1\n2\n3\n")
        c = self.start(pod(self.POD % ("file", "")), workdir=d)
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 3)
        self.assertTrue(os.path.exists(os.path.join(d, "accel", "t.db")))
        c.stop()
        os.remove(src)  # the source is gone: the restart must not need it
        c2 = self.start(None, workdir=d)
        self.assertEqual(c2.scalar("SELECT count(*) FROM t"), 3)
        self.assertEqual(c2.dataset_status("t"), "Ready")
        self.assertIn("serves 3 persisted rows", c2.logs())
        self.assertNotIn("refreshing dataset t", c2.logs())

    def test_refresh_on_startup_always(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "t.csv")
        write_atomic(src, "id\n1\n")
        c = self.start(pod(self.POD % ("file", "      refresh_on_startup: always\n")), workdir=d)
        c.stop()
        write_atomic(src, "id\n1\n2\n")
        c2 = self.start(None, workdir=d)
        c2.wait_until(lambda: c2.scalar("SELECT count(*) FROM t") == 2, what="startup refresh")

    def test_file_update_adds_columns(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "t.csv")
        write_atomic(src, "id\n1\n")
        c = self.start(pod(self.POD % ("file_update", "")), workdir=d)
        c.stop()
        write_atomic(src, "id,extra\n1,x\n2,y\n")
        c2 = self.start(None, workdir=d)
        self.assertIn("added column extra", c2.logs())
        self.assertEqual(c2.rows("SELECT * FROM t"), [{"id": 1, "extra": None}])

    def test_file_create_recreates(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "t.csv")
        write_atomic(src, "id\n1\n")
        c = self.start(pod(self.POD % ("file_create", "")), workdir=d)
        c.stop()
        write_atomic(src, "id\n1\n2\n")
        c2 = self.start(None, workdir=d)
        self.assertEqual(c2.scalar("SELECT count(*) FROM t"), 2)
        self.assertNotIn("persisted rows", c2.logs())

    def test_corrupt_file_is_moved_aside_and_rebuilt(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "t.csv"), "id\n1\n2\n")
        os.makedirs(os.path.join(d, "accel"))
        with open(os.path.join(d, "accel", "t.db"), "wb") as f:
            f.write(b"this is not a duckdb file" * 100)
        c = self.start(pod(self.POD % ("file", "")), workdir=d)
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 2)
        aside = [f for f in os.listdir(os.path.join(d, "accel")) if ".corrupt-" in f]
        self.assertEqual(len(aside), 1, os.listdir(os.path.join(d, "accel")))
        self.assertIn(os.path.join(d, "accel", "t.db"), c.logs())
        self.assertIn("cannot be opened", c.logs())

    def test_kill_9_during_a_refresh_keeps_the_committed_data(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "t.csv")
        write_atomic(src, csv_text(["id"], [(i,) for i in range(1000)]))
        c = self.start(pod(self.POD % ("file", "")), workdir=d, metrics=True)
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 1000)
        # a refresh that takes long: the kill lands while it runs
        write_atomic(src, csv_text(["id"], [(i,) for i in range(5000)]))
        self.assertStatus(c.request(
            "PATCH", "/v1/datasets/t/acceleration",
            '{"refresh_sql": "SELECT * FROM t WHERE (SELECT count(*) FROM range(3000000000)) > 0"}'),
            200)
        self.assertStatus(c.refresh("t"), 201)
        c.wait_until(lambda: c.dataset_status("t") == "Refreshing", what="Refreshing")
        time.sleep(0.3)
        c.proc.kill()
        c.proc.wait()
        c.stop(check=False)
        c2 = self.start(None, workdir=d)
        self.assertEqual(c2.scalar("SELECT count(*) FROM t"), 1000)


class AtomicityTest(CloveTest):
    def test_50_full_refreshes_under_a_reader(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "t.csv"),
                     csv_text(["id", "pad"], [(i, "x" * 20) for i in range(20000)]))
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      refresh_sql: SELECT * FROM t WHERE id < 10000
"""), workdir=d, metrics=True)
        seen, errors, stop = set(), [], threading.Event()

        def reader():
            while not stop.is_set():
                r = c.sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM t")
                if r.status != 200:
                    errors.append(r)
                    continue
                row = r.json()[0]
                seen.add((row["n"], row["d"]))

        th = threading.Thread(target=reader)
        th.start()
        try:
            for i in range(50):
                limit = 10000 if i % 2 else 20000
                refresh_and_wait(self, c, "t",
                                 '{"refresh_sql": "SELECT * FROM t WHERE id < %d"}' % limit)
        finally:
            stop.set()
            th.join()
        self.assertEqual(errors, [])
        self.assertLessEqual(seen, {(10000, 10000), (20000, 20000)})
        self.assertEqual(len(seen), 2)


class SqliteEngineTest(CloveTest):
    def test_sqlite_memory_and_file_with_joins_append_and_restart(self):
        d = self.tempdir()
        src = os.path.join(d, "data", "t.csv")
        write_atomic(src, "id,v,amount,ts\n1,a,1.50,2024-01-01 00:00:00\n"
                          "2,b,2.25,2024-01-02 00:00:00\n")
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: smem
    acceleration:
      enabled: true
      engine: sqlite
  - from: file:data/t.csv
    name: sfile
    time_column: ts
    acceleration:
      enabled: true
      engine: sqlite
      mode: file
      refresh_mode: append
      params:
        sqlite_file: accel/s.db
        busy_timeout: 2s
  - from: file:data/t.csv
    name: fed
"""), workdir=d, metrics=True)
        # the same values and types as the source, through DuckDB's own reader
        self.assertEqual(c.rows("SELECT * FROM smem ORDER BY id"), c.rows("SELECT * FROM fed ORDER BY id"))
        self.assertEqual(c.rows("SELECT column_name, column_type FROM (DESCRIBE smem)"),
                         c.rows("SELECT column_name, column_type FROM (DESCRIBE fed)"))
        self.assertEqual(c.rows("SELECT s.id, f.v FROM sfile s JOIN fed f USING (id) "
                                "JOIN smem m ON m.id = s.id WHERE s.amount > 2"),
                         [{"id": 2, "v": "b"}])
        self.assertTrue(os.path.exists(os.path.join(d, "accel", "s.db")))
        write_atomic(src, open(src).read() + "3,c,3.00,2024-01-02 00:00:00\n"
                                             "4,d,4.00,2024-01-03 00:00:00\n")
        refresh_and_wait(self, c, "sfile")
        self.assertEqual(c.rows("SELECT id FROM sfile ORDER BY id"),
                         [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}])
        c.stop()
        os.remove(src)
        c2 = self.start(None, workdir=d, wait_ready=False)
        # the stored rows answer at once; the startup append then fails (the source is
        # gone), which shows as Error while the data keeps serving
        c2.wait_until(lambda: "serves 4 persisted rows" in c2.logs(), what="persisted sqlite")
        self.assertEqual(c2.scalar("SELECT sum(amount) FROM sfile"), 10.75)

    def test_sqlite_upsert(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "in", "1.csv"), "id,v\n1,a\n2,b\n")
        c = self.start(pod("""\
  - from: file:data/in/
    name: t
    params:
      file_format: csv
    acceleration:
      enabled: true
      engine: sqlite
      refresh_mode: append
      primary_key: id
      on_conflict:
        id: upsert
"""), workdir=d, metrics=True)
        write_atomic(os.path.join(d, "data", "in", "2.csv"), "id,v\n2,B\n3,c\n")
        refresh_and_wait(self, c, "t")
        self.assertEqual(c.rows("SELECT id, v FROM t ORDER BY id"),
                         [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}])

    def test_filters_and_limit_run_inside_sqlite(self):
        d = self.tempdir()
        write_atomic(os.path.join(d, "data", "t.csv"),
                     csv_text(["id", "v", "x"], [(i, "v%d" % i, i * 0.5) for i in range(200)]))
        c = self.start(pod("""\
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
      engine: sqlite
  - from: file:data/t.csv
    name: fed
"""), workdir=d, args=["-v"])
        q = "SELECT id, v FROM t WHERE id BETWEEN 10 AND 12 AND v <> 'v11' ORDER BY id"
        self.assertEqual(c.rows(q), [{"id": 10, "v": "v10"}, {"id": 12, "v": "v12"}])
        # the same rows as the file itself, and the filter reached SQLite
        self.assertEqual(c.rows(q.replace("FROM t", "FROM fed")), c.rows(q))
        scans = [l for l in c.logs().splitlines() if "runs in SQLite" in l]
        self.assertTrue(any("WHERE" in l and "10" in l and "12" in l and "'v11'" in l
                            for l in scans), scans)
        self.assertEqual(len(c.rows("SELECT * FROM t WHERE id > 5 LIMIT 3")), 3)
        self.assertTrue(any("LIMIT 3" in l for l in c.logs().splitlines()
                            if "runs in SQLite" in l))
        # a join with another dataset still answers exactly
        self.assertEqual(c.rows("SELECT t.id, f.x FROM t JOIN fed f USING (id) WHERE t.id < 2 "
                                "ORDER BY 1"), [{"id": 0, "x": 0.0}, {"id": 1, "x": 0.5}])

"""
cloved's life: shutdown draining (503 for new requests but /health, in-flight answers
complete, exit 0), runtime.shutdown_timeout with queries that never end, a second signal;
configuration checking (--test-config, errors with file:line:col, no serving on errors,
--set-runtime); Prometheus metrics after queries and refreshes; limits (query timeout -> 504,
max_concurrent_queries queueing, a client that disconnects cancels its query).

Slow queries are either a client that stops reading a large streamed answer (costs no CPU,
holds the query exactly as long as the test wants) or a cross join that never ends (used only
where the engine itself must interrupt the query).
"""
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import (CLOVED, Cloved, CloveTest, Fifo, closed_port, csv_text, make_data, metric,
                     parse_prometheus)

# a query that would run for hours: the engine must interrupt it
ENDLESS = "SELECT sum(a.range * b.range) AS s FROM range(1000000) a, range(1000000) b"
# a large answer: a client that stops reading holds the query open
BIG = "SELECT range AS i, range * 2 AS j FROM range(5000000)"

SIMPLE_POD = """\
version: v1
kind: Spicepod
name: life
%s
datasets:
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
  - from: file:data/t.csv
    name: fed
"""
FILES = {"data/t.csv": csv_text(["a", "b"], [(1, "x"), (2, "y"), (3, "z")])}


def simple_pod(runtime=""):
    return SIMPLE_POD % (("runtime:\n" + runtime) if runtime else "")


class StalledClient:
    """Sends a query with a large answer (far more than the socket buffers hold), reads the
    headers, then stops reading, so the server's query stays in flight."""

    def __init__(self, port, sql=BIG, accept="text/csv"):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(("127.0.0.1", port))
        body = sql.encode()
        self.s.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nAccept: %s\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (accept.encode(), len(body), body))
        self.head = b""
        while b"\r\n\r\n" not in self.head:
            d = self.s.recv(4096)
            if not d:
                break
            self.head += d

    @property
    def status_line(self):
        return self.head.split(b"\r\n", 1)[0]

    def drain(self):
        """Reads everything else; returns all bytes received after the headers."""
        data = self.head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.head else b""
        self.s.settimeout(60)
        while True:
            d = self.s.recv(1 << 20)
            if not d:
                break
            data += d
            if data.endswith(b"\r\n0\r\n\r\n"):
                break
        return data

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def decode_chunked(data):
    out = bytearray()
    i = 0
    while True:
        j = data.index(b"\r\n", i)
        n = int(data[i:j].split(b";")[0], 16)
        if n == 0:
            return bytes(out)
        out += data[j + 2:j + 2 + n]
        i = j + 2 + n + 2


def run_cloved(args, timeout=30, env=None):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([CLOVED] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=full)


class ShutdownTest(CloveTest):
    def start_simple(self, runtime="", **kw):
        d = self.tempdir()
        return self.start(simple_pod(runtime), workdir=d, files=FILES, **kw)

    def test_drain_in_flight_query_then_exit_0(self):
        c = self.start_simple()
        # ~70 MB of CSV: far more than socket buffers hold, so the query is still running
        conn, r = c.open_stream("SELECT range AS i, range AS j FROM range(5000000)",
                                accept="text/csv")
        self.addCleanup(conn.close)
        self.assertEqual(r.status, 200)
        first = r.read(65536)
        c.signal(signal.SIGTERM)
        # new requests are refused while the query drains
        c.wait_until(lambda: c.sql("SELECT 1").status == 503, timeout=10,
                     what="503 for new queries after SIGTERM")
        r2 = c.sql("SELECT 1")
        self.assertEqual(r2.status, 503)
        self.assertEqual(r2.text, "Runtime is shutting down")
        for method, path in (("GET", "/v1/ready"), ("GET", "/v1/status"), ("GET", "/v1/datasets"),
                             ("GET", "/v1/spicepods"),
                             ("POST", "/v1/datasets/t/acceleration/refresh")):
            rr = c.request(method, path, body="" if method == "POST" else None)
            self.assertEqual(rr.status, 503, path)
        h = c.get("/health")
        self.assertEqual(h.status, 200)
        self.assertEqual(h.text.strip(), "ok")
        self.assertIsNone(c.proc.poll(), "cloved exited before the in-flight answer was sent")
        # the in-flight answer completes in full
        rest = r.read()
        body = first + rest
        self.assertEqual(body.count(b"\n"), 5000001)
        self.assertTrue(body.endswith(b"\n4999999,4999999\n"))
        self.assertEqual(c.wait_exit(30), 0)
        logs = c.logs()
        self.assertIn("received SIGTERM", logs)
        self.assertIn("stopped", logs)

    def test_sigint_exits_0(self):
        c = self.start_simple()
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 3)
        c.signal(signal.SIGINT)
        self.assertEqual(c.wait_exit(30), 0)
        self.assertIn("received SIGINT", c.logs())

    def test_idle_shutdown_is_quick(self):
        c = self.start_simple()
        # an idle keep-alive connection does not hold up the shutdown
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("GET", "/v1/ready")
        conn.getresponse().read()
        t0 = time.monotonic()
        c.signal(signal.SIGTERM)
        self.assertEqual(c.wait_exit(30), 0)
        self.assertLess(time.monotonic() - t0, 5)

    def test_shutdown_timeout_interrupts_endless_query(self):
        c = self.start_simple("  shutdown_timeout: 1s\n")
        result = {}

        def run():
            try:
                result["r"] = c.sql(ENDLESS, timeout=60)
            except Exception as e:          # checked below
                result["e"] = e

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.5)                      # the query is running
        t0 = time.monotonic()
        c.signal(signal.SIGTERM)
        rc = c.wait_exit(20)
        elapsed = time.monotonic() - t0
        t.join(20)
        self.assertEqual(rc, 0)
        self.assertLess(elapsed, 6, "shutdown took %.1fs with shutdown_timeout 1s" % elapsed)
        if "r" in result:
            self.assertEqual(result["r"].status, 503, result["r"])
            self.assertIn("shutting down", result["r"].text)

    def test_shutdown_timeout_with_stalled_client(self):
        c = self.start_simple("  shutdown_timeout: 1s\n")
        sc = StalledClient(c.port)
        self.addCleanup(sc.close)
        self.assertIn(b" 200 ", sc.status_line)
        t0 = time.monotonic()
        c.signal(signal.SIGTERM)
        rc = c.wait_exit(20)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 6)

    def test_second_signal_stops_waiting(self):
        # docs/runtime.md: "A second signal stops waiting at once."
        c = self.start_simple("  shutdown_timeout: 12s\n")
        sc = StalledClient(c.port)
        self.addCleanup(sc.close)
        c.signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertIsNone(c.proc.poll(), "cloved should wait for the in-flight query")
        t0 = time.monotonic()
        c.signal(signal.SIGTERM)
        try:
            rc = c.proc.wait(timeout=6)
        except subprocess.TimeoutExpired:
            self.fail("cloved still running %.1fs after a second SIGTERM (shutdown_timeout 12s)"
                      % (time.monotonic() - t0))
        self.assertEqual(rc, 0)
        self.assertIn("second signal", c.logs())

    def test_shutdown_during_cpu_heavy_initial_load(self):
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 100)
        c = self.start("""\
version: v1
kind: Spicepod
name: slowload
runtime:
  shutdown_timeout: 2s
datasets:
  - from: file:data/taxi_trips.parquet
    name: slow
    acceleration:
      enabled: true
      refresh_sql: SELECT * FROM slow WHERE (SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b) > 0
""", workdir=d, wait_ready=False)
        c.wait_until(lambda: c.dataset_status("slow") == "Initializing", what="slow loading")
        time.sleep(0.3)
        t0 = time.monotonic()
        c.signal(signal.SIGTERM)
        self.assertEqual(c.wait_exit(20), 0)
        self.assertLess(time.monotonic() - t0, 6)

    def test_shutdown_during_blocked_initial_load(self):
        # a load blocked in I/O (here: a named pipe nobody writes) must not keep cloved from
        # exiting past runtime.shutdown_timeout
        d = self.tempdir()
        fifo = Fifo(os.path.join(d, "data", "never.csv"))
        c = self.start("""\
version: v1
kind: Spicepod
name: blocked
runtime:
  shutdown_timeout: 1s
datasets:
  - from: file:data/never.csv
    name: never
    acceleration:
      enabled: true
""", workdir=d, wait_ready=False)
        self.addCleanup(fifo.release)        # lets cloved go when the test is over
        c.wait_until(lambda: c.dataset_status("never") == "Initializing", what="never loading")
        time.sleep(0.3)
        t0 = time.monotonic()
        c.signal(signal.SIGTERM)
        try:
            rc = c.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            fifo.release()
            c.wait_exit(20)
            self.fail("cloved still running %.1fs after SIGTERM (shutdown_timeout 1s) while a "
                      "dataset load was blocked reading its source" % (time.monotonic() - t0))
        self.assertEqual(rc, 0)


class LimitsTest(CloveTest):
    def start_simple(self, runtime="", **kw):
        d = self.tempdir()
        return self.start(simple_pod(runtime), workdir=d, files=FILES, **kw)

    def test_query_timeout_504(self):
        c = self.start_simple("  query:\n    timeout: 1s\n", metrics=True)
        t0 = time.monotonic()
        r = c.sql(ENDLESS)
        elapsed = time.monotonic() - t0
        self.assertStatus(r, 504)
        self.assertIn("timed out", r.text)
        self.assertGreater(elapsed, 0.9)
        self.assertLess(elapsed, 6)
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 3)
        self.assertEqual(metric(c.metrics(), "query_failures_total", err_code="timeout"), 1)

    def test_query_timeout_bounds_a_stalled_reader(self):
        # runtime.query.timeout bounds every query: a client that stops reading its answer
        # must not keep the query (and its slot) past the deadline
        c = self.start_simple("  query:\n    timeout: 2s\n    max_concurrent_queries: 1\n")
        sc = StalledClient(c.port)
        self.addCleanup(sc.close)
        self.assertIn(b" 200 ", sc.status_line)
        time.sleep(3)                        # past the stalled query's deadline
        r = c.sql("SELECT 1 AS one", timeout=30)
        self.assertStatus(r, 200, "the only query slot is still held by a query past its "
                                  "deadline whose client stopped reading")
        # the stalled client sees a truncated transfer, not a complete answer
        data = sc.drain()
        self.assertFalse(data.endswith(b"\r\n0\r\n\r\n"))

    def test_set_runtime_query_timeout(self):
        c = self.start_simple(args=["--set-runtime", "query.timeout=1s"])
        t0 = time.monotonic()
        r = c.sql(ENDLESS)
        self.assertStatus(r, 504)
        self.assertLess(time.monotonic() - t0, 6)
        # the override shows nowhere else: a quick query is fine
        self.assertEqual(c.scalar("SELECT 1"), 1)

    def test_max_concurrent_queries_second_waits(self):
        c = self.start_simple("  query:\n    max_concurrent_queries: 1\n")
        first = StalledClient(c.port)
        self.addCleanup(first.close)
        self.assertIn(b" 200 ", first.status_line)
        done = {}

        def second():
            done["r"] = c.sql("SELECT count(*) AS n FROM t", timeout=60)
            done["t"] = time.monotonic()

        t = threading.Thread(target=second)
        t.start()
        time.sleep(1.0)
        self.assertNotIn("r", done, "the second query ran while the only slot was busy")
        released = time.monotonic()
        body = decode_chunked(first.drain())
        t.join(30)
        self.assertEqual(body.count(b"\n"), 5000001)
        self.assertEqual(done["r"].status, 200)
        self.assertEqual(done["r"].json(), [{"n": 3}])
        self.assertGreaterEqual(done["t"], released)

    def test_max_concurrent_queries_both_cpu_queries_succeed(self):
        c = self.start_simple("  query:\n    max_concurrent_queries: 1\n")
        q = "SELECT sum(a.range * b.range) AS s FROM range(3000) a, range(20000) b"
        expected = sum(range(3000)) * sum(range(20000))
        results = []

        def run():
            results.append(c.sql(q, timeout=120))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual([r.status for r in results], [200, 200])
        self.assertEqual([r.json() for r in results], [[{"s": expected}]] * 2)

    def test_client_disconnect_cancels_running_query(self):
        c = self.start_simple("  query:\n    max_concurrent_queries: 1\n", metrics=True)
        s = socket.create_connection(("127.0.0.1", c.port))
        body = ENDLESS.encode()
        s.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))
        time.sleep(0.7)                       # it runs, holding the only slot
        s.close()
        t0 = time.monotonic()
        r = c.sql("SELECT count(*) AS n FROM t", timeout=30)
        self.assertStatus(r, 200)
        self.assertLess(time.monotonic() - t0, 5, "the abandoned query kept its slot")
        c.wait_until(lambda: metric(c.metrics(), "query_failures_total", err_code="canceled") >= 1,
                     timeout=10, what='query_failures_total{err_code="canceled"}')

    def test_client_disconnect_while_streaming_frees_slot(self):
        c = self.start_simple("  query:\n    max_concurrent_queries: 1\n")
        sc = StalledClient(c.port)
        self.assertIn(b" 200 ", sc.status_line)
        sc.close()
        t0 = time.monotonic()
        r = c.sql("SELECT 1 AS one", timeout=30)
        self.assertStatus(r, 200)
        self.assertLess(time.monotonic() - t0, 5)

    def test_many_concurrent_clients(self):
        c = self.start_simple()
        errors = []

        def worker(k):
            try:
                for i in range(10):
                    r = c.sql("SELECT %d + %d AS v, count(*) AS n FROM fed" % (k, i))
                    if r.status != 200 or r.json() != [{"v": k + i, "n": 3}]:
                        errors.append((k, i, r))
            except Exception as e:
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])


class MetricsTest(CloveTest):
    def test_metrics_after_queries_and_refreshes(self):
        d = self.tempdir()
        c = self.start(simple_pod() + """\
  - from: file:data/missing.csv
    name: missing
""", workdir=d, files=FILES, metrics=True)
        for _ in range(3):
            self.assertEqual(c.sql("SELECT count(*) FROM t").status, 200)
        self.assertEqual(c.sql("SELEC 1").status, 400)
        self.assertEqual(c.sql("SELECT * FROM nope").status, 400)
        self.assertStatus(c.refresh("t"), 201)
        c.wait_until(lambda: metric(c.metrics(),
                                    "dataset_acceleration_refresh_duration_ms_count",
                                    dataset="t") >= 2, what="second load of t in the metrics")
        text = c.metrics_text()
        m = parse_prometheus(text)
        for name, kind in (("query_executions", "counter"), ("query_duration_ms", "histogram"),
                           ("query_failures", "counter"), ("http_requests", "counter"),
                           ("http_requests_duration_ms", "histogram"),
                           ("dataset_load_state", "gauge"),
                           ("dataset_acceleration_refresh_duration_ms", "histogram"),
                           ("dataset_acceleration_last_refresh_time_ms", "gauge"),
                           ("dataset_acceleration_rows", "gauge")):
            self.assertIn("# TYPE %s %s\n" % (name, kind), text)
        self.assertEqual(metric(m, "query_executions_total"), 5)
        self.assertEqual(metric(m, "query_duration_ms_count"), 3)
        self.assertEqual(metric(m, "query_failures_total", err_code="invalid_sql"), 2)
        self.assertEqual(metric(m, "http_requests_total", method="POST", path="/v1/sql",
                                status="200"), 3)
        self.assertEqual(metric(m, "http_requests_total", method="POST", path="/v1/sql",
                                status="400"), 2)
        self.assertEqual(metric(m, "http_requests_total", method="POST",
                                path="/v1/datasets/{name}/acceleration/refresh", status="201"), 1)
        self.assertEqual(metric(m, "dataset_load_state", dataset="t"), 1)
        self.assertEqual(metric(m, "dataset_load_state", dataset="fed"), 1)
        self.assertEqual(metric(m, "dataset_load_state", dataset="missing"), 3)
        self.assertEqual(metric(m, "dataset_acceleration_rows", dataset="t"), 3)
        self.assertEqual(metric(m, "dataset_acceleration_refresh_duration_ms_count", dataset="t"), 2)
        last = metric(m, "dataset_acceleration_last_refresh_time_ms", dataset="t")
        self.assertLess(abs(last / 1000.0 - time.time()), 120)
        # histograms: cumulative buckets ending in +Inf == count
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in m.items()
                          if k[0] == "query_duration_ms_bucket"), key=lambda x: x[0])
        self.assertEqual(buckets[-1], (float("inf"), 3))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        # any path answers the metrics; /health answers OK
        self.assertIn("query_executions_total", c.metrics_text("/anything"))
        r = c.get("/health", port=c.metrics_port)
        self.assertStatus(r, 200)
        self.assertEqual(r.text, "OK")


class ConfigTest(CloveTest):
    BAD = """\
version: v1
kind: Spicepod
name: bad
runtime:
  query:
    timeout: abc
datasets:
  - from: file:x.csv
    name: a
    acceleration:
      enabled: true
      engine: duck
      enabeld: true
  - name: b
  - from: file:y.csv
    name: a
"""

    def write_pod(self, text, dotenv=None):
        d = self.tempdir()
        with open(os.path.join(d, "spicepod.yaml"), "w") as f:
            f.write(text)
        if dotenv:
            with open(os.path.join(d, ".env"), "w") as f:
                f.write(dotenv)
        return d

    def test_test_config_valid(self):
        d = self.write_pod(simple_pod("  query:\n    timeout: 5s\n"))
        p = run_cloved(["--test-config", d])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("valid", p.stdout)
        self.assertIn("2 dataset(s)", p.stdout)
        p = run_cloved(["--test-config", os.path.join(d, "spicepod.yaml")])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_test_config_reports_every_error(self):
        d = self.write_pod(self.BAD)
        p = run_cloved(["--test-config", d])
        self.assertEqual(p.returncode, 1)
        expected = [
            'spicepod.yaml:6:14: runtime.query.timeout: expected a duration like 500ms, 10s, '
            '5m, 1h or 1d; got "abc"',
            'spicepod.yaml:12:15: datasets[0].acceleration.engine: expected one of arrow, '
            'duckdb, sqlite; got "duck"',
            'spicepod.yaml:13:7: datasets[0].acceleration.enabeld: unknown key; did you mean '
            '"enabled"?',
            'spicepod.yaml:14:5: datasets[1]: missing required key "from"',
            'spicepod.yaml:16:11: datasets[2].name: duplicate dataset name "a"',
        ]
        out = p.stderr
        for line in expected:
            self.assertIn(line, out)
        # in file order
        positions = [out.index(line) for line in expected]
        self.assertEqual(positions, sorted(positions))

    def test_cloved_with_errors_exits_1_without_serving(self):
        d = self.write_pod(self.BAD)
        port = closed_port()
        p = run_cloved(["--http", "127.0.0.1:%d" % port, d], timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("spicepod.yaml:12:15", p.stderr)
        self.assertIn("not starting", p.stderr)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    def test_warnings_do_not_stop(self):
        d = self.write_pod(simple_pod("  telemetry:\n    enabled: false\n"))
        p = run_cloved(["--test-config", d])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("runtime.telemetry", p.stderr)

    def test_set_runtime_validation(self):
        d = self.write_pod(simple_pod())
        p = run_cloved(["--test-config", "--set-runtime", "query.timeout=xyz", d])
        self.assertEqual(p.returncode, 1)
        self.assertIn('--set-runtime "query.timeout=xyz": runtime.query.timeout: expected a '
                      'duration', p.stderr)
        p = run_cloved(["--test-config", "--set-runtime", "query.bogus=1", d])
        self.assertEqual(p.returncode, 1)
        self.assertIn("runtime.query.bogus", p.stderr)
        p = run_cloved(["--test-config", "--set-runtime", "runtime.query.timeout=2s", d])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_secret_value_not_in_config_errors(self):
        secret = "engine-Secret-Value-5a1e"
        d = self.write_pod("""\
version: v1
kind: Spicepod
name: sec
datasets:
  - from: file:x.csv
    name: a
    acceleration:
      engine: ${secrets:ENG}
""", dotenv="ENG=%s\n" % secret)
        p = run_cloved(["--test-config", d])
        self.assertEqual(p.returncode, 1)
        self.assertIn("${secrets:ENG}", p.stderr)
        self.assertNotIn(secret, p.stderr + p.stdout)

    def test_missing_pod_and_bad_flags(self):
        d = self.tempdir()
        p = run_cloved(["--test-config", d])
        self.assertEqual(p.returncode, 1)
        self.assertIn("no spicepod.yaml or spicepod.yml", p.stderr)
        p = run_cloved(["--test-config", os.path.join(d, "nope.yaml")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such file or directory", p.stderr)
        p = run_cloved(["--no-such-flag", d])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--no-such-flag", p.stderr)
        p = run_cloved(["--version"])
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.strip(), p.stdout)

    def test_test_config_rejects_view_refused_by_sandbox(self):
        # a view whose SQL the sandbox refuses keeps cloved from starting, so --test-config
        # should say so rather than call the spicepod valid
        d = self.write_pod("""\
version: v1
kind: Spicepod
name: badview
datasets:
  - from: file:data/t.csv
    name: t
views:
  - name: sneaky
    sql: SELECT * FROM read_csv('/etc/passwd')
""")
        os.makedirs(os.path.join(d, "data"))
        with open(os.path.join(d, "data", "t.csv"), "w") as f:
            f.write("a\n1\n")
        port = closed_port()
        started = run_cloved(["--http", "127.0.0.1:%d" % port, d], timeout=30)
        self.assertEqual(started.returncode, 1)
        self.assertIn("read_csv", started.stderr)
        p = run_cloved(["--test-config", d])
        self.assertEqual(p.returncode, 1, "--test-config accepted a spicepod cloved refuses to "
                                          "start with:\n" + p.stdout + p.stderr)
        self.assertIn("views[0]", p.stderr)


if __name__ == "__main__":
    unittest.main()

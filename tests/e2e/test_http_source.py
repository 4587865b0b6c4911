"""
HTTP(S) connector against a fixture server written here: JSON (array of objects and NDJSON),
CSV and Parquet bodies, federated and accelerated; conditional requests (ETag and
Last-Modified: an unchanged body is answered 304 and not transferred again); Basic auth (URL
user, http_username, http_password from ${secrets:...}, never shown); http_headers;
client_timeout on a slow answer; retries with backoff on 503 and recovery; certificate
verification on HTTPS (refused without the CA, accepted with tls_ca_certificate_file).
"""
import base64
import hashlib
import http.server
import os
import socketserver
import ssl
import subprocess
import threading
import time
import unittest

from harness import BIN_DIR, CloveTest, metric

DUCK = os.path.join(BIN_DIR, "clove-duckdb-exec")


class Fixture:
    """A threaded HTTP(S) server with mutable resources."""

    def __init__(self, tls=None):
        self.lock = threading.Lock()
        self.files = {}              # path -> {"body", "etag", "last_modified", "ctype"}
        self.hits = {}               # path -> [status, ...]
        self.fail_next = {}          # path -> number of 503 answers still to give
        self.throttle_next = {}      # path -> number of 429 (Retry-After: 1) answers to give
        self.slow = {}               # path -> seconds to wait before answering
        self.auth = {}               # path -> "user:password"
        self.need_header = {}        # path -> (name, value)
        self.down = set()            # paths answering 503 to every GET and HEAD
        self.heads = []              # paths of HEAD requests, in order
        self.seen_headers = []
        fixture = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, status, body=b"", headers=()):
                with fixture.lock:
                    fixture.hits.setdefault(self.path.split("?")[0], []).append(status)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:  # the client gave up (client_timeout)
                    pass

            def do_HEAD(self):
                path = self.path.split("?")[0]
                with fixture.lock:
                    fixture.heads.append(path)
                    down = path in fixture.down
                    known = path in fixture.files
                self.send_response(503 if down else 200 if known else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                path = self.path.split("?")[0]
                with fixture.lock:
                    if path in fixture.down:
                        fixture.fail_next[path] = 1
                    fixture.seen_headers.append((self.path, dict(self.headers)))
                    f = fixture.files.get(path)
                    fail = fixture.fail_next.get(path, 0)
                    if fail:
                        fixture.fail_next[path] = fail - 1
                    slow = fixture.slow.get(path, 0)
                    throttle = fixture.throttle_next.get(path, 0)
                    if throttle:
                        fixture.throttle_next[path] = throttle - 1
                    auth = fixture.auth.get(path)
                    need = fixture.need_header.get(path)
                if slow:
                    time.sleep(slow)
                if fail:
                    return self.answer(503, b"temporarily unavailable")
                if throttle:
                    return self.answer(429, b"slow down", [("Retry-After", "1")])
                if auth:
                    want = "Basic " + base64.b64encode(auth.encode()).decode()
                    if self.headers.get("Authorization") != want:
                        return self.answer(401, b"who are you",
                                           [("WWW-Authenticate", 'Basic realm="x"')])
                if need and self.headers.get(need[0]) != need[1]:
                    return self.answer(403, b"missing api key")
                if not f:
                    return self.answer(404, b"no such resource")
                if f.get("etag") and self.headers.get("If-None-Match") == f["etag"]:
                    return self.answer(304, b"", [("ETag", f["etag"])])
                if (not f.get("etag") and f.get("last_modified") and
                        self.headers.get("If-Modified-Since") == f["last_modified"]):
                    return self.answer(304)
                hdrs = [("Content-Type", f.get("ctype", "application/octet-stream"))]
                if f.get("etag"):
                    hdrs.append(("ETag", f["etag"]))
                if f.get("last_modified"):
                    hdrs.append(("Last-Modified", f["last_modified"]))
                return self.answer(200, f["body"], hdrs)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def put(self, path, body, etag=True, last_modified=None, ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        with self.lock:
            self.files[path] = {
                "body": body, "ctype": ctype, "last_modified": last_modified,
                "etag": ('"%s"' % hashlib.md5(body).hexdigest()) if etag else None}

    def statuses(self, path):
        with self.lock:
            return list(self.hits.get(path, []))


def pod(datasets):
    return "version: v1\nkind: Spicepod\nname: http_test\ndatasets:\n" + datasets


def refresh_count(c, name):
    return metric(c.metrics(), "dataset_acceleration_refresh_duration_ms_count", dataset=name)


def refresh_and_wait(test, c, name):
    before = refresh_count(c, name)
    test.assertStatus(c.post("/v1/datasets/%s/acceleration/refresh" % name, ""), 201)
    c.wait_until(lambda: refresh_count(c, name) > before, what="refresh of " + name)


def ds_error(c, name):
    return c.datasets()[name].get("error_message")


class HttpSourceTest(CloveTest):
    def setUp(self):
        self.fx = Fixture()
        self.addCleanup(self.fx.stop)

    def test_formats_federated(self):
        fx = self.fx
        fx.put("/items.json", '[{"id": 1, "name": "a"}, {"id": 2, "name": null}]')
        fx.put("/events.ndjson", '{"id": 3, "v": 1.5}\n{"id": 4, "v": -2}\n')
        fx.put("/table.csv", "id,city\n5,Zürich\n6,\"Quoted, City\"\n")
        work = self.tempdir()
        pq = os.path.join(work, "t.parquet")
        subprocess.run([DUCK, "COPY (SELECT i AS id, i * 2.5 AS x, DATE '2024-01-01' + i::INT "
                        "AS d FROM range(3) t(i)) TO '%s' (FORMAT parquet)" % pq], check=True)
        with open(pq, "rb") as f:
            fx.put("/data/t.parquet", f.read())
        fx.put("/api/v1/things", '[{"k": "x", "n": 7}]', ctype="application/json")
        c = self.start(pod(
            "  - from: %s/items.json\n    name: items\n"
            "  - from: %s/events.ndjson\n    name: events\n"
            "  - from: %s/table.csv\n    name: cities\n"
            "  - from: %s/data/t.parquet\n    name: t\n"
            "  - from: %s/api/v1/things?limit=10\n    name: things\n"
            % ((fx.base,) * 5)))
        self.assertEqual(c.rows("SELECT id, name FROM items ORDER BY id"),
                         [{"id": 1, "name": "a"}, {"id": 2, "name": None}])
        self.assertEqual(c.rows("SELECT id, v FROM events ORDER BY id"),
                         [{"id": 3, "v": 1.5}, {"id": 4, "v": -2.0}])
        self.assertEqual(c.rows("SELECT id, city FROM cities ORDER BY id"),
                         [{"id": 5, "city": "Zürich"}, {"id": 6, "city": "Quoted, City"}])
        self.assertEqual(c.rows("SELECT id, x, d FROM t ORDER BY id"),
                         [{"id": 0, "x": 0.0, "d": "2024-01-01"},
                          {"id": 1, "x": 2.5, "d": "2024-01-02"},
                          {"id": 2, "x": 5.0, "d": "2024-01-03"}])
        self.assertEqual(c.rows("SELECT k, n FROM things"), [{"k": "x", "n": 7}])
        # the query string went to the server
        self.assertTrue(any(p == "/api/v1/things?limit=10" for p, _ in fx.seen_headers))

    def test_conditional_requests_etag_and_last_modified(self):
        fx = self.fx
        fx.put("/e.csv", "id,v\n1,a\n")
        fx.put("/lm.csv", "id,v\n1,x\n", etag=False,
               last_modified="Wed, 21 Oct 2026 07:28:00 GMT")
        c = self.start(pod(
            "  - from: %s/e.csv\n    name: e\n    acceleration:\n      enabled: true\n"
            "  - from: %s/lm.csv\n    name: lm\n    acceleration:\n      enabled: true\n"
            % (fx.base, fx.base)), metrics=True)
        self.assertEqual(c.rows("SELECT id, v FROM e"), [{"id": 1, "v": "a"}])
        refresh_and_wait(self, c, "e")
        refresh_and_wait(self, c, "lm")
        self.assertEqual(fx.statuses("/e.csv"), [200, 304])
        self.assertEqual(fx.statuses("/lm.csv"), [200, 304])
        self.assertEqual(c.rows("SELECT id, v FROM lm"), [{"id": 1, "v": "x"}])
        m = c.metrics()
        self.assertEqual(metric(m, "http_source_requests_total", dataset="e",
                                result="not_modified"), 1)
        self.assertEqual(metric(m, "http_source_requests_total", dataset="e", result="fetched"), 1)
        fx.put("/e.csv", "id,v\n1,a\n2,b\n")
        refresh_and_wait(self, c, "e")
        self.assertEqual(fx.statuses("/e.csv"), [200, 304, 200])
        self.assertEqual(c.rows("SELECT id, v FROM e ORDER BY id"),
                         [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])

    def test_federated_freshness_revalidates(self):
        fx = self.fx
        fx.put("/f.json", '[{"n": 1}]')
        c = self.start(pod("  - from: %s/f.json\n    name: f\n    params:\n"
                           "      http_cache_ttl: 0s\n" % fx.base))
        self.assertEqual(c.scalar("SELECT sum(n) FROM f"), 1)
        self.assertEqual(c.scalar("SELECT sum(n) FROM f"), 1)
        self.assertEqual(fx.statuses("/f.json")[-1], 304)
        fx.put("/f.json", '[{"n": 1}, {"n": 41}]')
        self.assertEqual(c.scalar("SELECT sum(n) FROM f"), 42)

    def test_federated_source_down_after_ready_then_back_by_probe(self):
        fx = self.fx
        fx.put("/f.csv", "n\n1\n41\n")
        c = self.start(pod("  - from: %s/f.csv\n    name: f\n    params:\n"
                           "      http_cache_ttl: 0s\n      max_retries: 1\n" % fx.base),
                       metrics=True)
        self.assertEqual(c.scalar("SELECT sum(n) FROM f"), 42)
        fx.down.add("/f.csv")
        r = c.sql("SELECT sum(n) FROM f")
        self.assertEqual(r.status, 503, r.text)
        self.assertIn('could not fetch "%s/f.csv" for dataset f: HTTP 503 temporarily '
                      'unavailable (after 1 retry)' % fx.base, r.text)
        self.assertEqual(c.dataset_status("f"), "Error")
        self.assertEqual(metric(c.metrics(), "dataset_load_state", dataset="f"), 3)
        # the probe is a HEAD request; it keeps failing while the server does
        c.wait_until(lambda: "/f.csv" in fx.heads, what="a probe")
        self.assertEqual(c.dataset_status("f"), "Error")
        n_get = len(fx.statuses("/f.csv"))
        fx.down.discard("/f.csv")
        c.wait_until(lambda: c.dataset_status("f") == "Ready", timeout=60,
                     what="f to become Ready by itself")
        self.assertEqual(metric(c.metrics(), "dataset_load_state", dataset="f"), 1)
        self.assertEqual(len(fx.statuses("/f.csv")), n_get)  # no GET: the probes found it
        self.assertIn('dataset f is Ready again: its source "%s/f.csv" answers' % fx.base,
                      c.logs())
        self.assertEqual(c.scalar("SELECT sum(n) FROM f"), 42)

    def test_basic_auth_and_headers(self):
        fx = self.fx
        fx.put("/private.csv", "id\n1\n2\n")
        fx.auth["/private.csv"] = "reader:Pa55w0rd-Secret"
        fx.put("/keyed.json", '[{"ok": true}]')
        fx.need_header["/keyed.json"] = ("X-Api-Key", "k-123")
        dotenv = "HTTP_PASS=Pa55w0rd-Secret\nWRONG_PASS=Wr0ngPassword-77\n"
        c = self.start(pod(
            "  - from: %s/private.csv\n    name: p1\n    params:\n      http_username: reader\n"
            "      http_password: ${secrets:HTTP_PASS}\n"
            "  - from: http://reader@127.0.0.1:%d/private.csv\n    name: p2\n    params:\n"
            "      http_password: ${secrets:HTTP_PASS}\n"
            "  - from: %s/private.csv\n    name: p3\n    params:\n      http_username: reader\n"
            "      http_password: ${secrets:WRONG_PASS}\n      max_retries: 0\n"
            "  - from: %s/keyed.json\n    name: keyed\n    params:\n"
            "      http_headers: 'X-Api-Key: k-123; Accept: application/json'\n"
            % (fx.base, fx.port, fx.base, fx.base)), dotenv=dotenv)
        self.assertEqual(c.scalar("SELECT sum(id) FROM p1"), 3)
        self.assertEqual(c.scalar("SELECT sum(id) FROM p2"), 3)
        self.assertEqual(c.rows("SELECT ok FROM keyed"), [{"ok": True}])
        err = ds_error(c, "p3")
        self.assertIn('could not fetch "%s/private.csv" for dataset p3: HTTP 401' % fx.base, err)
        for text in (c.logs(), c.get("/v1/datasets?status=true").text,
                     c.get("/v1/spicepods").text):
            self.assertNotIn("Pa55w0rd-Secret", text)
            self.assertNotIn("Wr0ngPassword-77", text)

    def test_client_timeout_and_retries(self):
        fx = self.fx
        fx.put("/slow.csv", "id\n1\n")
        fx.slow["/slow.csv"] = 3
        fx.put("/flaky.csv", "id\n7\n")
        fx.fail_next["/flaky.csv"] = 2
        fx.put("/down.csv", "id\n9\n")
        fx.fail_next["/down.csv"] = 1000
        c = self.start(pod(
            "  - from: %s/slow.csv\n    name: slow\n    params:\n      client_timeout: 500ms\n"
            "      max_retries: 0\n"
            "  - from: %s/flaky.csv\n    name: flaky\n    params:\n      max_retries: 3\n"
            "      retry_jitter: 0\n"
            "  - from: %s/down.csv\n    name: down\n    params:\n      max_retries: 1\n"
            "      retry_backoff_method: linear\n    acceleration:\n      enabled: true\n"
            "      refresh_retry_enabled: false\n"
            % (fx.base, fx.base, fx.base)), metrics=True)
        self.assertIn("timed out after 500 ms (client_timeout)", ds_error(c, "slow"))
        self.assertEqual(c.scalar("SELECT id FROM flaky"), 7)
        self.assertEqual(fx.statuses("/flaky.csv"), [503, 503, 200])
        self.assertEqual(metric(c.metrics(), "http_source_request_retries_total",
                                dataset="flaky"), 2)
        err = ds_error(c, "down")
        self.assertIn("HTTP 503 temporarily unavailable (after 1 retry)", err)
        self.assertEqual(fx.statuses("/down.csv"), [503, 503])
        # the source comes back: a refresh loads it
        fx.fail_next["/down.csv"] = 0
        refresh_and_wait(self, c, "down")
        self.assertEqual(c.scalar("SELECT id FROM down"), 9)
        self.assertEqual(c.get("/health").status, 200)

    def test_429_waits_for_retry_after(self):
        fx = self.fx
        fx.put("/busy.json", '[{"n": 5}]')
        fx.throttle_next["/busy.json"] = 1
        c = self.start(pod("  - from: %s/busy.json\n    name: busy\n    params:\n"
                           "      retry_jitter: 0\n" % fx.base))
        t0 = time.time()
        self.assertEqual(c.scalar("SELECT n FROM busy"), 5)
        self.assertEqual(fx.statuses("/busy.json"), [429, 200])
        # the second request came after Retry-After (1 s), not after the 500 ms backoff
        with fx.lock:
            self.assertEqual(len(fx.seen_headers), 2)
        self.assertIn("retrying in 1000 ms", c.logs())
        self.assertLess(time.time() - t0, 30)


class HttpsSourceTest(CloveTest):
    def test_certificate_verification(self):
        d = self.tempdir()
        key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        fx = Fixture(tls=(cert, key))
        self.addCleanup(fx.stop)
        fx.put("/s.json", '[{"secure": 1}]')
        c = self.start(pod(
            "  - from: %s/s.json\n    name: untrusted\n    params:\n      max_retries: 0\n"
            "  - from: %s/s.json\n    name: trusted\n    params:\n"
            "      tls_ca_certificate_file: %s\n" % (fx.base, fx.base, cert)))
        self.assertEqual(c.rows("SELECT secure FROM trusted"), [{"secure": 1}])
        self.assertIn("certificate", ds_error(c, "untrusted").lower())


if __name__ == "__main__":
    unittest.main()

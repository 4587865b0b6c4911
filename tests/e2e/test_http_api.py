"""
Every route of the HTTP API over a real cloved: /health, /v1/ready, /v1/sql (text and JSON
bodies, positional and named parameters, every Accept), /v1/status, /v1/datasets (status,
csv), refresh (201/404/400, case-insensitive names), /v1/spicepods (secrets redacted, also in
the logs), unknown routes and methods, and the request errors (empty and malformed bodies,
413 for bodies over 128 MiB, bad SQL, unknown tables).
"""
import json
import os
import socket
import time
import unittest

from harness import Cloved, CloveTest, make_data

SECRET = "s3cr3t-Pa55-e2e-7f1d"

POD = """\
version: v1
kind: Spicepod
name: api_pod
datasets:
  - from: file:data/taxi_trips.parquet
    name: taxi_trips
    description: trips
    acceleration:
      enabled: true
      engine: duckdb
      mode: memory
  - from: file:data/zones.csv
    name: zones
    params:
      pg_pass: ${secrets:PG_PASS}
      harmless_looking: ${secrets:PG_PASS}
      inline: "user=bob password=${secrets:PG_PASS} host=db"
  - from: file:data/does_not_exist.csv
    name: broken
views:
  - name: trips_per_borough
    sql: |
      SELECT z.borough, count(*) AS trips
      FROM taxi_trips t JOIN zones z ON t.pickup_zone = z.zone_id
      GROUP BY z.borough
"""


class HttpApiTest(CloveTest):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.workdir = tempfile.mkdtemp(prefix="clove-e2e-api-")
        make_data(os.path.join(cls.workdir, "data"), 1000)
        # -v: debug logging must not leak the secret either
        cls.c = Cloved(POD, workdir=cls.workdir, dotenv="PG_PASS=%s\n" % SECRET,
                       metrics=True, args=["-v"])

    @classmethod
    def tearDownClass(cls):
        import shutil
        try:
            cls.c.stop()
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    # ---- simple routes ------------------------------------------------------------------

    def test_health(self):
        r = self.c.get("/health")
        self.assertStatus(r, 200)
        self.assertEqual(r.text.strip(), "ok")
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))

    def test_ready(self):
        r = self.c.get("/v1/ready")
        self.assertStatus(r, 200)
        self.assertEqual(r.text, "ready")

    def test_unknown_route_404(self):
        for path in ("/nope", "/v1", "/v1/sqlx", "/v1/datasets/x/acceleration/nope", "/v2/sql"):
            r = self.c.get(path)
            self.assertStatus(r, 404, path)
            self.assertEqual(r.body, b"", path)
        self.assertStatus(self.c.post("/v1/nope", "SELECT 1"), 404)

    def test_wrong_method_405(self):
        r = self.c.get("/v1/sql")
        self.assertStatus(r, 405)
        self.assertEqual(r.headers.get("allow"), "POST")
        r = self.c.post("/health", "")
        self.assertStatus(r, 405)
        self.assertIn("GET", r.headers.get("allow"))
        r = self.c.get("/v1/datasets/taxi_trips/acceleration/refresh")
        self.assertStatus(r, 405)
        self.assertEqual(r.headers.get("allow"), "POST")

    def test_status(self):
        r = self.c.get("/v1/status")
        self.assertStatus(r, 200)
        self.assertEqual(r.headers["content-type"], "application/json")
        comps = {x["name"]: x for x in r.json()}
        self.assertEqual(comps["http"], {"name": "http", "endpoint": self.c.http, "status": "Ready"})
        self.assertEqual(comps["metrics"],
                         {"name": "metrics", "endpoint": self.c.metrics_addr, "status": "Ready"})
        self.assertIn("flight", comps)
        self.assertEqual(comps["opentelemetry"]["status"], "Disabled")
        r = self.c.get("/v1/status?format=csv")
        self.assertStatus(r, 200)
        lines = r.text.splitlines()
        self.assertEqual(lines[0], "name,endpoint,status")
        self.assertIn("http,%s,Ready" % self.c.http, lines)
        self.assertIn("metrics,%s,Ready" % self.c.metrics_addr, lines)

    # ---- datasets -----------------------------------------------------------------------

    def test_datasets_json(self):
        r = self.c.get("/v1/datasets")
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), [
            {"from": "file:data/taxi_trips.parquet", "name": "taxi_trips",
             "replication_enabled": False, "acceleration_enabled": True, "error_message": None},
            {"from": "file:data/zones.csv", "name": "zones",
             "replication_enabled": False, "acceleration_enabled": False, "error_message": None},
            {"from": "file:data/does_not_exist.csv", "name": "broken",
             "replication_enabled": False, "acceleration_enabled": False, "error_message": None},
        ])

    def test_datasets_source_filter(self):
        r = self.c.get("/v1/datasets?source=file")
        self.assertStatus(r, 200)
        self.assertEqual([d["name"] for d in r.json()], ["taxi_trips", "zones", "broken"])
        r = self.c.get("/v1/datasets?source=postgres")
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), [])

    def test_head_requests(self):
        r = self.c.request("HEAD", "/health")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        r = self.c.request("HEAD", "/v1/ready")
        self.assertStatus(r, 200)

    def test_datasets_status(self):
        r = self.c.get("/v1/datasets?status=true")
        self.assertStatus(r, 200)
        ds = {d["name"]: d for d in r.json()}
        self.assertEqual(ds["taxi_trips"]["status"], "Ready")
        self.assertIsNone(ds["taxi_trips"]["error"])
        self.assertIsNone(ds["taxi_trips"]["error_message"])
        self.assertEqual(ds["zones"]["status"], "Ready")
        self.assertEqual(ds["broken"]["status"], "Error")
        self.assertIsInstance(ds["broken"]["error"], dict)
        # the message names the file that is missing
        self.assertIn(os.path.join(self.workdir, "data", "does_not_exist.csv"),
                      ds["broken"]["error_message"])
        # status=false is the plain listing
        r2 = self.c.get("/v1/datasets?status=false")
        self.assertNotIn("status", r2.json()[0])

    def test_datasets_csv(self):
        r = self.c.get("/v1/datasets?format=csv")
        self.assertStatus(r, 200)
        self.assertEqual(r.text,
                         "from,name,replication_enabled,acceleration_enabled,error_message\n"
                         "file:data/taxi_trips.parquet,taxi_trips,false,true,\n"
                         "file:data/zones.csv,zones,false,false,\n"
                         "file:data/does_not_exist.csv,broken,false,false,\n")
        r = self.c.get("/v1/datasets?status=true&format=csv")
        self.assertStatus(r, 200)
        lines = r.text.splitlines()
        self.assertEqual(lines[0], "from,name,replication_enabled,acceleration_enabled,status,"
                                   "error,error_message")
        self.assertEqual(lines[1], "file:data/taxi_trips.parquet,taxi_trips,false,true,Ready,,")
        self.assertEqual(lines[2], "file:data/zones.csv,zones,false,false,Ready,,")
        self.assertTrue(lines[3].startswith("file:data/does_not_exist.csv,broken,false,false,Error,"),
                        lines[3])

    def test_datasets_bad_query_args(self):
        r = self.c.get("/v1/datasets?format=xml")
        self.assertStatus(r, 400)
        self.assertIn("format", r.text)
        r = self.c.get("/v1/datasets?status=maybe")
        self.assertStatus(r, 400)
        self.assertIn("status", r.text)

    def test_refresh(self):
        r = self.c.refresh("taxi_trips")
        self.assertStatus(r, 201)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json(), {"message": "Dataset refresh triggered for taxi_trips."})
        # names match case-insensitively
        r = self.c.refresh("TAXI_Trips")
        self.assertStatus(r, 201)
        self.assertIn("TAXI_Trips", r.json()["message"])
        # percent-encoded names are decoded
        self.assertStatus(self.c.refresh("taxi%5Ftrips"), 201)
        r = self.c.refresh("no_such_dataset")
        self.assertStatus(r, 404)
        self.assertEqual(r.json(), {"message": "Dataset no_such_dataset not found"})
        r = self.c.refresh("zones")
        self.assertStatus(r, 400)
        self.assertEqual(r.json(), {"message": "Dataset zones does not have acceleration enabled"})
        # a JSON body (what `clove refresh` sends) is accepted too
        r = self.c.post("/v1/datasets/taxi_trips/acceleration/refresh", "{}",
                        headers={"Content-Type": "application/json"})
        self.assertStatus(r, 201)
        # the refreshes complete and the data is still all there
        self.c.wait_until(lambda: self.c.dataset_status("taxi_trips") == "Ready",
                          what="taxi_trips Ready after refresh")
        self.assertEqual(self.c.scalar("SELECT count(*) FROM taxi_trips"), 1000)

    # ---- spicepods and secrets ----------------------------------------------------------

    def test_spicepods_redacts_secrets(self):
        r = self.c.get("/v1/spicepods")
        self.assertStatus(r, 200)
        self.assertNotIn(SECRET, r.text)
        self.assertNotIn(SECRET[:8], r.text)
        pods = r.json()
        self.assertEqual(len(pods), 1)
        pod = pods[0]
        self.assertEqual(pod["name"], "api_pod")
        self.assertEqual(pod["kind"], "Spicepod")
        self.assertEqual(pod["version"], "v1")
        ds = {d["name"]: d for d in pod["datasets"]}
        self.assertEqual(ds["zones"]["params"], {"pg_pass": "[REDACTED]",
                                                 "harmless_looking": "[REDACTED]",
                                                 "inline": "[REDACTED]"})
        self.assertEqual(ds["taxi_trips"]["from"], "file:data/taxi_trips.parquet")
        self.assertEqual(ds["taxi_trips"]["acceleration"]["engine"], "duckdb")
        self.assertEqual([v["name"] for v in pod["views"]], ["trips_per_borough"])
        self.assertEqual(pod["models"], [])
        r = self.c.get("/v1/spicepods?format=csv")
        self.assertStatus(r, 200)
        self.assertEqual(r.text.splitlines()[0],
                         "name,version,datasets_count,models_count,dependencies_count")
        self.assertEqual(r.text.splitlines()[1], "api_pod,v1,3,0,0")
        self.assertNotIn(SECRET, r.text)

    def test_secret_never_in_any_answer_or_log(self):
        for path in ("/v1/datasets", "/v1/datasets?status=true", "/v1/datasets?format=csv",
                     "/v1/status", "/v1/spicepods"):
            self.assertNotIn(SECRET, self.c.get(path).text, path)
        self.assertNotIn(SECRET, self.c.metrics_text())
        self.assertNotIn(SECRET, self.c.logs())

    # ---- /v1/sql: bodies and parameters -------------------------------------------------

    def test_sql_text_body_default_json(self):
        r = self.c.sql("SELECT zone_id, borough FROM zones WHERE zone_id <= 3 ORDER BY zone_id")
        self.assertStatus(r, 200)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.text, '[{"zone_id":1,"borough":"Brooklyn"},'
                                 '{"zone_id":2,"borough":"Queens"},'
                                 '{"zone_id":3,"borough":"Bronx"}]')
        self.assertEqual(r.headers.get("content-length"), str(len(r.body)))

    def test_sql_view_and_qualified_names(self):
        rows = self.c.rows("SELECT * FROM trips_per_borough ORDER BY borough")
        self.assertEqual(sum(x["trips"] for x in rows), 1000)
        self.assertEqual([x["borough"] for x in rows],
                         ["Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"])
        self.assertEqual(self.c.scalar("SELECT count(*) FROM spice.public.taxi_trips"), 1000)
        self.assertEqual(self.c.scalar('SELECT count(*) FROM "ZONES"'), 20)

    def test_sql_json_body_positional(self):
        r = self.c.sql("SELECT $1::INTEGER + 1 AS a, $2 AS b, $3 AS c, $4 AS d, $5::DOUBLE AS e",
                       params=[41, "x'y", None, True, 2.5])
        self.assertStatus(r, 200)
        self.assertEqual(r.text, '[{"a":42,"b":"x\'y","c":null,"d":true,"e":2.5}]')
        # same statement, other values (the prepared statement is reused with new bindings)
        r = self.c.sql("SELECT $1::INTEGER + 1 AS a, $2 AS b, $3 AS c, $4 AS d, $5::DOUBLE AS e",
                       params=[1, "z", 7, False, -1.0])
        self.assertEqual(r.text, '[{"a":2,"b":"z","c":7,"d":false,"e":-1.0}]')

    def test_sql_json_body_filters_dataset(self):
        rows = self.c.rows("SELECT zone_name FROM zones WHERE zone_id = $1 OR zone_name = $2 "
                           "ORDER BY 1", params=[3, "Zone 7"])
        self.assertEqual(rows, [{"zone_name": "Zone 3"}, {"zone_name": "Zone 7"}])

    def test_sql_json_body_named(self):
        r = self.c.sql("SELECT :id + 1 AS a, :name AS b, $name AS c, 'x:y' AS d, 1::INT AS e",
                       params={"id": 41, "name": "n"})
        self.assertStatus(r, 200)
        self.assertEqual(r.text, '[{"a":42,"b":"n","c":"n","d":"x:y","e":1}]')
        rows = self.c.rows("SELECT count(*) AS n FROM zones WHERE borough = :b",
                           params={"b": "Queens"})
        self.assertEqual(rows, [{"n": 4}])

    def test_sql_json_big_integer_parameter(self):
        big = 170141183460469231731687303715884105727
        body = '{"sql": "SELECT $1::HUGEINT AS h, $2::UBIGINT AS u", "parameters": [%d, %d]}' % (
            big, 18446744073709551615)
        r = self.c.post("/v1/sql", body, headers={"Content-Type": "application/json"})
        self.assertStatus(r, 200)
        self.assertEqual(r.text, '[{"h":%d,"u":18446744073709551615}]' % big)

    def test_sql_parameter_errors(self):
        r = self.c.sql("SELECT $1 AS a, $2 AS b", params=[1, 2, 3])
        self.assertStatus(r, 400)
        r = self.c.sql("SELECT :a AS a", params={"b": 1})
        self.assertStatus(r, 400)
        self.assertIn("b", r.text)
        r = self.c.sql("SELECT $1 AS a", params=[[1, 2]])
        self.assertStatus(r, 400)
        self.assertIn("parameter", r.text)
        r = self.c.post("/v1/sql", '{"sql": "SELECT $1", "parameters": 5}',
                        headers={"Content-Type": "application/json"})
        self.assertStatus(r, 400)
        self.assertIn("parameters", r.text)
        r = self.c.sql("SELECT $1 AS a")        # a parameter, no values
        self.assertStatus(r, 400)
        self.assertIn("parameter", r.text)

    def test_sql_json_body_without_content_type(self):
        # a body that is a JSON object with "sql" is taken as JSON even without the header
        r = self.c.post("/v1/sql", json.dumps({"sql": "SELECT 7 AS seven"}))
        self.assertStatus(r, 200)
        self.assertEqual(r.text, '[{"seven":7}]')

    # ---- /v1/sql: Accept ----------------------------------------------------------------

    Q = "SELECT zone_id AS id, zone_name AS name FROM zones WHERE zone_id IN (1, 2) ORDER BY 1"

    def test_accept_json(self):
        for accept in (None, "application/json", "*/*", "application/*", "foo/bar",
                       "application/xml", "text/csv;q=0, application/json"):
            r = self.c.sql(self.Q, accept=accept)
            self.assertStatus(r, 200, accept)
            self.assertEqual(r.headers["content-type"], "application/json", accept)
            self.assertEqual(r.text, '[{"id":1,"name":"Zone 1"},{"id":2,"name":"Zone 2"}]', accept)

    def test_accept_spice_envelope(self):
        r = self.c.sql(self.Q, accept="application/vnd.spiceai.sql.v1+json")
        self.assertStatus(r, 200)
        self.assertEqual(r.headers["content-type"], "application/vnd.spiceai.sql.v1+json")
        doc = r.json()
        self.assertEqual(doc["row_count"], 2)
        self.assertEqual(doc["data"], [{"id": 1, "name": "Zone 1"}, {"id": 2, "name": "Zone 2"}])
        self.assertEqual(doc["schema"], {"fields": [
            {"name": "id", "data_type": "Int64", "nullable": True, "dict_id": 0,
             "dict_is_ordered": False, "metadata": {}},
            {"name": "name", "data_type": "Utf8", "nullable": True, "dict_id": 0,
             "dict_is_ordered": False, "metadata": {}}], "metadata": {}})
        self.assertIsInstance(doc["execution_time_ms"], float)
        self.assertGreaterEqual(doc["execution_time_ms"], 0.0)

    def test_accept_csv(self):
        r = self.c.sql(self.Q, accept="text/csv")
        self.assertStatus(r, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/csv"))
        self.assertEqual(r.text, "id,name\n1,Zone 1\n2,Zone 2\n")

    def test_accept_text_plain(self):
        for accept in ("text/plain", "text/*"):
            r = self.c.sql(self.Q, accept=accept)
            self.assertStatus(r, 200, accept)
            self.assertEqual(r.headers["content-type"], "text/plain; charset=utf-8")
            self.assertEqual(r.text,
                             "+----+--------+\n"
                             "| id | name   |\n"
                             "+----+--------+\n"
                             "| 1  | Zone 1 |\n"
                             "| 2  | Zone 2 |\n"
                             "+----+--------+")

    def test_accept_quality_values(self):
        r = self.c.sql(self.Q, accept="application/json;q=0.5, text/csv;q=0.9")
        self.assertEqual(r.headers["content-type"].split(";")[0], "text/csv")
        r = self.c.sql(self.Q, accept="text/csv;q=0.2, application/vnd.spiceai.sql.v1+json")
        self.assertEqual(r.headers["content-type"], "application/vnd.spiceai.sql.v1+json")

    # ---- /v1/sql: errors ----------------------------------------------------------------

    def test_empty_body(self):
        for body in ("", "   \n\t "):
            r = self.c.post("/v1/sql", body)
            self.assertStatus(r, 400, repr(body))
            self.assertIn("empty", r.text)

    def test_malformed_json_body(self):
        for body in ('{"sql":', '{"sql": "SELECT 1",}', '{"sql": "SELECT 1", "sql": "SELECT 2"}'):
            r = self.c.post("/v1/sql", body, headers={"Content-Type": "application/json"})
            self.assertStatus(r, 400, body)
            self.assertIn("JSON", r.text, body)
        r = self.c.post("/v1/sql", '{"query": "SELECT 1"}',
                        headers={"Content-Type": "application/json"})
        self.assertStatus(r, 400)
        self.assertIn('"sql"', r.text)
        r = self.c.post("/v1/sql", '{"sql": 42}', headers={"Content-Type": "application/json"})
        self.assertStatus(r, 400)
        self.assertIn('"sql"', r.text)
        r = self.c.post("/v1/sql", '{"sql": "  "}', headers={"Content-Type": "application/json"})
        self.assertStatus(r, 400)
        self.assertIn("empty", r.text)
        r = self.c.post("/v1/sql", b"SELECT '\xff\xfe'")
        self.assertStatus(r, 400)
        self.assertIn("UTF-8", r.text)

    def test_unknown_table(self):
        r = self.c.sql("SELECT * FROM no_such_table_xyz")
        self.assertStatus(r, 400)
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        self.assertIn("Catalog Error", r.text)
        self.assertIn("no_such_table_xyz", r.text)

    def test_unknown_column(self):
        r = self.c.sql("SELECT no_such_col FROM zones")
        self.assertStatus(r, 400)
        self.assertIn("no_such_col", r.text)

    def test_syntax_error(self):
        r = self.c.sql("SELEC 1")
        self.assertStatus(r, 400)
        self.assertIn("syntax error", r.text)
        self.assertIn("SELEC", r.text)
        r = self.c.sql("SELECT * FROM zones WHERE")
        self.assertStatus(r, 400)
        self.assertIn("syntax error", r.text)

    def test_query_on_dataset_in_error(self):
        r = self.c.sql("SELECT * FROM broken")
        self.assertStatus(r, 400)
        self.assertIn("broken", r.text)
        self.assertIn("does_not_exist.csv", r.text)

    def test_execution_error(self):
        r = self.c.sql("SELECT 1 / 0 AS x, CAST('abc' AS INTEGER) AS y")
        self.assertStatus(r, 400)
        self.assertIn("abc", r.text)

    def test_body_too_large_by_content_length(self):
        # 128 MiB + 1 announced: 413 at once, without the server waiting for the body
        s = socket.create_connection(("127.0.0.1", self.c.port), timeout=10)
        try:
            t0 = time.time()
            s.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 134217729\r\n\r\nSELECT ")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            elapsed = time.time() - t0
        finally:
            s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])
        self.assertLess(elapsed, 5.0)

    def test_body_exactly_at_limit_is_not_413_by_length(self):
        # announcing exactly 128 MiB is allowed: the server waits for the body (we send none
        # and close); it must not answer 413
        s = socket.create_connection(("127.0.0.1", self.c.port), timeout=2)
        try:
            s.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 134217728\r\n\r\n")
            try:
                data = s.recv(100)
            except socket.timeout:
                data = b""
        finally:
            s.close()
        self.assertFalse(data.startswith(b"HTTP/1.1 413"), data)

    def test_body_too_large_streamed_chunked(self):
        # no Content-Length: the limit is enforced while receiving
        s = socket.create_connection(("127.0.0.1", self.c.port), timeout=30)
        chunk = b"-- " + b"x" * (1 << 20) + b"\n"
        head = b"%x\r\n" % len(chunk)
        sent = 0
        answer = b""
        try:
            s.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            try:
                while sent < 140 * (1 << 20):
                    s.sendall(head + chunk + b"\r\n")
                    sent += len(chunk)
                s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass                      # the server may hang up once it has answered
            try:
                while b"\r\n\r\n" not in answer:
                    d = s.recv(65536)
                    if not d:
                        break
                    answer += d
            except ConnectionResetError:
                pass
        finally:
            s.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])
        self.assertIn(b"larger than the limit", answer)
        # the server is fine afterwards
        self.assertEqual(self.c.scalar("SELECT 1"), 1)

    def test_large_body_under_limit_ok(self):
        # a 2 MiB SQL text (a long comment) is fine
        sql = "SELECT 1 AS one -- " + "y" * (2 << 20)
        r = self.c.sql(sql)
        self.assertStatus(r, 200)
        self.assertEqual(r.text, '[{"one":1}]')

    def test_keep_alive_connection_serves_many_requests(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.c.port, timeout=10)
        try:
            for i in range(20):
                conn.request("POST", "/v1/sql", body="SELECT %d AS i" % i)
                r = conn.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.read(), b'[{"i":%d}]' % i)
            conn.request("GET", "/nope")
            r = conn.getresponse()
            self.assertEqual(r.status, 404)
            r.read()
            conn.request("POST", "/v1/sql", body="SELEC")
            r = conn.getresponse()
            self.assertEqual(r.status, 400)
            r.read()
            conn.request("GET", "/v1/ready")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"ready")
        finally:
            conn.close()


class HostileRequestsTest(CloveTest):
    """Requests no client should send: each gets a 4xx and the server keeps serving."""

    def test_hostile_requests(self):
        c = self.start("version: v1\nkind: Spicepod\nname: hostile\ndatasets:\n"
                       "  - from: file:data/zones.csv\n    name: zones\n",
                       files={"data/zones.csv": "zone_id,zone_name,borough\n1,a,b\n"})
        r = c.get("/v1/datasets?x=" + "a" * 200000)
        self.assertIn(r.status, (400, 413, 414, 431))
        r = c.get("/v1/ready", headers={"X-H%d" % i: "v" * 100 for i in range(2000)})
        self.assertIn(r.status, (400, 413, 431))
        r = c.post("/v1/sql", b"SELECT 1\x00")
        self.assertStatus(r, 400)
        self.assertIn("NUL", r.text)
        r = c.post("/v1/sql", '{"sql": "SELECT 1", "parameters": ' + "[" * 100000 + "]" * 100000 + "}",
                   headers={"Content-Type": "application/json"})
        self.assertStatus(r, 400)
        r = c.sql("SELECT " + "(" * 100000 + "1" + ")" * 100000)
        self.assertStatus(r, 400)
        r = c.sql("SELECT length('" + "c" * (4 << 20) + "') AS n")
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), [{"n": 4 << 20}])
        r = c.post("/v1/datasets/a%00b/acceleration/refresh", "")
        self.assertStatus(r, 400)
        r = c.post("/v1/datasets/a%2Fb/acceleration/refresh", "")
        self.assertStatus(r, 404)
        self.assertEqual(r.json(), {"message": "Dataset a/b not found"})
        # half a request, then the client goes away
        s = socket.create_connection(("127.0.0.1", c.port))
        s.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nSELECT")
        s.close()
        s = socket.create_connection(("127.0.0.1", c.port))
        s.sendall(b"GARBAGE\r\n\r\n")
        s.close()
        self.assertEqual(c.scalar("SELECT count(*) FROM zones"), 1)
        self.assertEqual(c.get("/health").status, 200)


class AuthTest(CloveTest):
    def test_api_keys(self):
        rw = "rw-Key-Secret-e2e-31"
        c = self.start("""\
version: v1
kind: Spicepod
name: auth
runtime:
  auth:
    api-key:
      enabled: true
      keys:
        - ${secrets:RW_KEY}:rw
        - readkey:ro
datasets:
  - from: file:data/t.csv
    name: t
    acceleration:
      enabled: true
""", files={"data/t.csv": "a\n1\n"}, dotenv="RW_KEY=%s\n" % rw)
        # /health and /v1/ready need no key
        self.assertStatus(c.get("/health"), 200)
        self.assertStatus(c.get("/v1/ready"), 200)
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"},
                        {"X-API-Key": rw + "x"}, {"Authorization": "Basic cmVhZGtleQ=="}):
            r = c.sql("SELECT 1 AS a", headers=headers)
            self.assertStatus(r, 401, headers)
            self.assertEqual(r.text, "Unauthorized")
            for path in ("/v1/status", "/v1/datasets", "/v1/spicepods"):
                self.assertStatus(c.get(path, headers=headers), 401, path)
            self.assertStatus(c.post("/v1/datasets/t/acceleration/refresh", "", headers=headers), 401)
        for headers in ({"X-API-Key": "readkey"}, {"Authorization": "Bearer readkey"},
                        {"X-API-Key": rw}, {"Authorization": "Bearer " + rw}):
            r = c.sql("SELECT 1 AS a", headers=headers)
            self.assertStatus(r, 200, headers)
            self.assertEqual(r.text, '[{"a":1}]')
            self.assertStatus(c.get("/v1/datasets", headers=headers), 200)
        # a read-only key may not refresh; a read-write key may
        r = c.post("/v1/datasets/t/acceleration/refresh", "", headers={"X-API-Key": "readkey"})
        self.assertStatus(r, 403)
        self.assertIn("read-only", r.json()["message"])
        r = c.post("/v1/datasets/t/acceleration/refresh", "", headers={"X-API-Key": rw})
        self.assertStatus(r, 201)
        # the key from the secret is nowhere to be seen
        sp = c.get("/v1/spicepods", headers={"X-API-Key": rw}).text
        self.assertNotIn(rw, sp)
        self.assertNotIn(rw, c.logs())
        # the CLI sends --api-key / CLOVE_API_KEY
        p = c.clove("status")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Error: Unauthorized", p.stderr)
        p = c.clove("--api-key", "readkey", "sql", "-e", "SELECT 1 AS a")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "+---+\n| a |\n+---+\n| 1 |\n+---+\n")
        p = c.clove("refresh", "t", env={"CLOVE_API_KEY": "readkey"})
        self.assertEqual(p.returncode, 1)
        self.assertIn("read-only", p.stderr)
        p = c.clove("refresh", "t", env={"CLOVE_API_KEY": rw})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "Dataset refresh triggered for t.\n")


class SecretInErrorMessagesTest(CloveTest):
    """Secret values never appear in messages: when a value that came from a secret is wrong,
    the message shows the ${...} reference instead (docs/configuration.md)."""

    def test_bad_secret_param_value_not_echoed(self):
        d = self.tempdir()
        make_data(os.path.join(d, "data"), 10)
        pod = """\
version: v1
kind: Spicepod
name: leak
datasets:
  - from: file:data/zones.csv
    name: zones
  - from: file:data/zones.csv
    name: z2
    params:
      file_format: ${secrets:FMT}
"""
        secret = "fmt-Secret-Value-91c2"
        c = self.start(pod, workdir=d, dotenv="FMT=%s\n" % secret)
        ds = c.datasets()
        self.assertEqual(ds["z2"]["status"], "Error")
        self.assertEqual(ds["zones"]["status"], "Ready")
        r = c.sql("SELECT * FROM z2")
        self.assertStatus(r, 400)
        answers = {
            "/v1/datasets?status=true": c.get("/v1/datasets?status=true").text,
            "/v1/datasets?status=true&format=csv": c.get("/v1/datasets?status=true&format=csv").text,
            "/v1/spicepods": c.get("/v1/spicepods").text,
            "POST /v1/sql error": r.text,
            "log": c.logs(),
        }
        leaked = [where for where, text in answers.items() if secret in text]
        self.assertEqual(leaked, [], "the secret value of FMT appears in these answers")

    def test_secret_in_source_path_not_in_errors_or_logs(self):
        d = self.tempdir()
        secret = "dir-Secret-Value-77b0"
        c = self.start("""\
version: v1
kind: Spicepod
name: leak2
datasets:
  - from: file:data/${secrets:DIRSEC}.csv
    name: z3
""", workdir=d, dotenv="DIRSEC=%s\n" % secret)
        ds = c.datasets()["z3"]
        self.assertEqual(ds["status"], "Error")
        r = c.sql("SELECT * FROM z3")
        self.assertStatus(r, 400)
        answers = {
            "error_message in /v1/datasets?status=true": ds["error_message"] or "",
            "/v1/spicepods": c.get("/v1/spicepods").text,
            "POST /v1/sql error": r.text,
            "log": c.logs(),
        }
        leaked = [where for where, text in answers.items() if secret in text]
        self.assertEqual(leaked, [], "the secret value of DIRSEC appears in these answers")


if __name__ == "__main__":
    unittest.main()

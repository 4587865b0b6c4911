"""
`clove sql` over Arrow Flight SQL against a real cloved (docs/cli.md): `-e` and stdin scripts
with the exact table output (the same tables as over HTTP), SQL errors, a closed port, TLS
against a plain-text server, and endpoint handling (Flight addresses are refused by the
HTTP-only commands, a bad grpc:// URL is a usage error).
"""
import os
import shutil
import tempfile
import unittest

from harness import Cloved, CloveTest, closed_port, csv_text, run_clove

POD = """\
version: v1
kind: Spicepod
name: cli_flight
datasets:
  - from: file:data/zones.csv
    name: zones
  - from: file:data/small.csv
    name: small
    acceleration:
      enabled: true
"""

ZONES = csv_text(["zone_id", "zone_name", "borough"],
                 [(1, "Zone 1", "Brooklyn"), (2, "Zone 2", "Queens"), (3, "Zone 3", "Bronx")])

ZONES_TABLE = ("+---------+-----------+----------+\n"
               "| zone_id | zone_name | borough  |\n"
               "+---------+-----------+----------+\n"
               "|       1 | Zone 1    | Brooklyn |\n"
               "|       2 | Zone 2    | Queens   |\n"
               "|       3 | Zone 3    | Bronx    |\n"
               "+---------+-----------+----------+\n")


class CliFlightTest(CloveTest):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="clove-e2e-cli-flight-")
        cls.c = Cloved(POD, workdir=cls.workdir, files={
            "data/zones.csv": ZONES, "data/small.csv": csv_text(["v"], [(1,), (2,)])})
        cls.grpc = "grpc://" + cls.c.flight

    @classmethod
    def tearDownClass(cls):
        try:
            cls.c.stop()
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def sql(self, *args, input=None, endpoint=None):
        return run_clove(["--endpoint", endpoint or self.grpc, "sql"] + list(args), input=input)

    def ok(self, *args, input=None):
        p = self.sql(*args, input=input)
        self.assertEqual(p.returncode, 0, "clove sql %s: %s" % (args, p.stderr))
        self.assertEqual(p.stderr, "")
        return p

    # ---- results -----------------------------------------------------------------------------

    def test_exact_table(self):
        p = self.ok("-e", "SELECT zone_id, zone_name, borough FROM zones ORDER BY zone_id")
        self.assertEqual(p.stdout, ZONES_TABLE)

    def test_same_table_as_http(self):
        sql = ("SELECT * FROM (VALUES (1, 'a', 10, [1, 2], 2.50::DECIMAL(5,2)), "
               "(NULL, 'bb', 200, NULL, NULL), (333, '日本', NULL, [], -1)) t(x, y, z, l, d) "
               "ORDER BY y")
        flight = self.ok("-e", sql)
        http = run_clove(["--endpoint", self.c.endpoint, "sql", "-e", sql])
        self.assertEqual(http.returncode, 0, http.stderr)
        self.assertEqual(flight.stdout, http.stdout)
        self.assertEqual(flight.stdout,
                         "+-----+------+-----+-------+-------+\n"
                         "| x   | y    | z   | l     | d     |\n"
                         "+-----+------+-----+-------+-------+\n"
                         "|   1 | a    |  10 | [1,2] |  2.50 |\n"
                         "|     | bb   | 200 |       |       |\n"
                         "| 333 | 日本 |     | []    | -1.00 |\n"
                         "+-----+------+-----+-------+-------+\n")

    def test_cells_escaped(self):
        p = self.ok("-e", "SELECT 'a' || chr(10) || 'b' || chr(9) AS nl, 1 AS a, 2 AS a")
        self.assertEqual(p.stdout,
                         "+--------+---+---+\n"
                         "| nl     | a | a |\n"
                         "+--------+---+---+\n"
                         "| a\\nb\\t | 1 | 2 |\n"
                         "+--------+---+---+\n")

    def test_empty_result(self):
        p = self.ok("-e", "SELECT 1 AS a, 'x' AS b WHERE false")
        self.assertEqual(p.stdout, "+---+---+\n| a | b |\n+---+---+\n")

    def test_many_rows_several_batches(self):
        p = self.ok("-e", "SELECT count(*) AS n, sum(i) AS s FROM range(100000) t(i)")
        self.assertEqual(p.stdout, "+--------+------------+\n| n      | s          |\n"
                                   "+--------+------------+\n| 100000 | 4999950000 |\n"
                                   "+--------+------------+\n")
        p = self.ok("-e", "SELECT i FROM range(5000) t(i) ORDER BY i")
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 5000 + 4)
        self.assertEqual(lines[3], "|    0 |")
        self.assertEqual(lines[-2], "| 4999 |")

    def test_several_statements_and_tables(self):
        p = self.ok("-e", "SELECT ';' AS s; SELECT 2 AS t", "-e", ".tables")
        self.assertEqual(p.stdout,
                         "+---+\n| s |\n+---+\n| ; |\n+---+\n"
                         "+---+\n| t |\n+---+\n| 2 |\n+---+\n"
                         "+-------+\n| name  |\n+-------+\n| small |\n| zones |\n+-------+\n")

    def test_api_key_handshake(self):
        # auth is off in this pod: a key is sent in the handshake and simply not needed
        p = run_clove(["--endpoint", self.grpc, "--api-key", "secret", "sql", "-e",
                       "SELECT 1 AS a"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "+---+\n| a |\n+---+\n| 1 |\n+---+\n")

    # ---- stdin scripts -----------------------------------------------------------------------

    def test_script_on_stdin(self):
        script = ("-- a comment\n"
                  "SELECT 1 AS a;\n"
                  "SELECT v FROM small\n"
                  "  ORDER BY v;\n"
                  "SELECT 2 AS b, NULL AS c, -3.5 AS d\n")
        p = self.ok(input=script)
        self.assertEqual(p.stdout,
                         "+---+\n| a |\n+---+\n| 1 |\n+---+\n"
                         "+---+\n| v |\n+---+\n| 1 |\n| 2 |\n+---+\n"
                         "+---+---+------+\n| b | c | d    |\n+---+---+------+\n"
                         "| 2 |   | -3.5 |\n+---+---+------+\n")

    def test_script_stops_at_first_error(self):
        p = self.sql(input="SELECT 1 AS a;\nSELEC 2;\nSELECT 3 AS c;\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "+---+\n| a |\n+---+\n| 1 |\n+---+\n")
        self.assertTrue(p.stderr.startswith("Error: "), p.stderr)
        self.assertIn("syntax error", p.stderr)

    def test_script_quit(self):
        p = self.ok(input="SELECT 1 AS a;\n\\q\nSELECT 2 AS b;\n")
        self.assertEqual(p.stdout, "+---+\n| a |\n+---+\n| 1 |\n+---+\n")

    # ---- errors ------------------------------------------------------------------------------

    def test_sql_error(self):
        p = self.sql("-e", "SELECT * FROM no_such_table")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith("Error: "), p.stderr)
        self.assertIn("no_such_table", p.stderr)
        p = self.sql("-e", "DROP TABLE zones")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Error: DROP statements are not allowed", p.stderr)

    def test_closed_port(self):
        port = closed_port()
        p = self.sql("-e", "SELECT 1", endpoint="grpc://127.0.0.1:%d" % port)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr, "could not connect to clove at grpc://127.0.0.1:%d: "
                                   "Connection refused\n" % port)

    def test_tls_against_plain_server(self):
        p = self.sql("-e", "SELECT 1", endpoint="grpc+tls://" + self.c.flight)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith(
            "could not connect to clove at grpc+tls://%s: " % self.c.flight), p.stderr)
        self.assertIn("try grpc:// instead of grpc+tls://", p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)  # no gRPC log lines

    def test_missing_root_certificate_file(self):
        p = run_clove(["--endpoint", "grpc+tls://" + self.c.flight,
                       "--tls-root-certificate-file", "/nonexistent/ca.pem", "sql", "-e",
                       "SELECT 1"])
        self.assertEqual(p.returncode, 1)
        self.assertIn('could not open the TLS root certificate file "/nonexistent/ca.pem"',
                      p.stderr)

    # ---- endpoints ---------------------------------------------------------------------------

    def test_endpoint_forms(self):
        expected = "+---+\n| a |\n+---+\n| 1 |\n+---+\n"
        for args, env in ((["--endpoint", self.grpc + "/"], None),
                          (["--endpoint=grpc+tcp://" + self.c.flight], None),
                          ([], {"CLOVE_ENDPOINT": self.grpc})):
            p = run_clove(args + ["sql", "-e", "SELECT 1 AS a"], env=env)
            self.assertEqual(p.returncode, 0, (args, env, p.stderr))
            self.assertEqual(p.stdout, expected)

    def test_default_sql_endpoint_is_flight(self):
        p = run_clove(["sql", "--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("grpc://127.0.0.1:50051", p.stdout)

    def test_flight_endpoint_refused_by_http_commands(self):
        for cmd in (["status"], ["datasets"], ["refresh", "small"]):
            p = run_clove(["--endpoint", self.grpc] + cmd)
            self.assertEqual(p.returncode, 2, cmd)
            self.assertEqual(p.stdout, "")
            self.assertIn("is an Arrow Flight address", p.stderr)

    def test_bad_flight_endpoint_is_usage_error(self):
        for bad in ("grpc://", "grpc://host:notaport", "grpc://host:1/path"):
            p = run_clove(["--endpoint", bad, "sql", "-e", "SELECT 1"])
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
            self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()


class FlightAuthTest(CloveTest):
    """runtime.auth.api-key on Flight: the Basic handshake with a configured key gives a
    session token that later calls carry; a wrong or missing key is UNAUTHENTICATED."""

    def test_api_keys_on_flight(self):
        c = self.start(POD.replace("name: cli_flight\n", """name: cli_flight
runtime:
  auth:
    api-key:
      enabled: true
      keys:
        - good-key-1
        - ro-key-2:ro
"""), files={"data/zones.csv": ZONES, "data/small.csv": csv_text(["v"], [(1,), (2,)])})
        grpc = "grpc://" + c.flight
        for key in ("good-key-1", "ro-key-2"):
            p = run_clove(["--endpoint", grpc, "--api-key", key, "sql", "-e", "SELECT 1 AS a"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, "+---+\n| a |\n+---+\n| 1 |\n+---+\n")
        for args in (["--api-key", "wrong"], []):
            p = run_clove(["--endpoint", grpc] + args + ["sql", "-e", "SELECT 1 AS a"])
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("invalid or missing API key", p.stderr)
            self.assertNotIn("good-key-1", p.stderr)
        # HTTP keeps its own check with the same keys
        self.assertStatus(c.sql("SELECT 1"), 401)
        self.assertStatus(c.sql("SELECT 1", headers={"X-API-Key": "good-key-1"}), 200)
        self.assertNotIn("good-key-1", c.logs())

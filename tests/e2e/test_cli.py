"""
The `clove` command-line client against a real cloved (docs/cli.md): `sql -e`, scripts on
stdin, the exact table output, `status`, `datasets`, `refresh`, `run`, endpoints given every
way, and the errors (no server, bad SQL, unknown dataset, usage errors) with their exit codes.
"""
import os
import shutil
import tempfile
import unittest

from harness import Cloved, CloveTest, closed_port, csv_text, run_clove

POD = """\
version: v1
kind: Spicepod
name: cli
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


def box(header, rows, right=()):
    """The expected table: rule, header, rule, rows, rule (rows given as display text)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def line(cells, align_right):
        out = []
        for i, (cell, w) in enumerate(zip(cells, widths)):
            out.append(" " + (cell.rjust(w) if align_right and i in right else cell.ljust(w)) + " ")
        return "|" + "|".join(out) + "|\n"

    text = rule + line(header, False) + rule
    if not rows:
        return text
    return text + "".join(line(r, True) for r in rows) + rule


class CliTest(CloveTest):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="clove-e2e-cli-")
        cls.c = Cloved(POD, workdir=cls.workdir, files={
            "data/zones.csv": ZONES, "data/small.csv": csv_text(["v"], [(1,), (2,)])})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.c.stop()
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def ok(self, *args, input=None):
        p = self.c.clove(*args, input=input)
        self.assertEqual(p.returncode, 0, "clove %s: %s" % (args, p.stderr))
        return p

    # ---- sql -------------------------------------------------------------------------------

    def test_sql_e_exact_table(self):
        p = self.ok("sql", "-e", "SELECT zone_id, zone_name, borough FROM zones ORDER BY zone_id")
        self.assertEqual(p.stdout,
                         "+---------+-----------+----------+\n"
                         "| zone_id | zone_name | borough  |\n"
                         "+---------+-----------+----------+\n"
                         "|       1 | Zone 1    | Brooklyn |\n"
                         "|       2 | Zone 2    | Queens   |\n"
                         "|       3 | Zone 3    | Bronx    |\n"
                         "+---------+-----------+----------+\n")
        self.assertEqual(p.stderr, "")

    def test_sql_cells(self):
        p = self.ok("sql", "-e", "SELECT '日本' AS j, 'a' || chr(10) || 'b' || chr(9) AS nl, "
                                 "42 AS n, NULL AS z, -3.5 AS d, 'x' AS s")
        self.assertEqual(p.stdout,
                         "+------+--------+----+---+------+---+\n"
                         "| j    | nl     | n  | z | d    | s |\n"
                         "+------+--------+----+---+------+---+\n"
                         "| 日本 | a\\nb\\t | 42 |   | -3.5 | x |\n"
                         "+------+--------+----+---+------+---+\n")

    def test_sql_mixed_column_alignment(self):
        p = self.ok("sql", "-e", "SELECT * FROM (VALUES (1, 'a', 10), (NULL, 'bb', 200), "
                                 "(333, '7', NULL)) t(x, y, z) ORDER BY y")
        # x and z hold only numbers (and NULLs): right-aligned; y is text: left-aligned
        self.assertEqual(p.stdout,
                         "+-----+----+-----+\n"
                         "| x   | y  | z   |\n"
                         "+-----+----+-----+\n"
                         "| 333 | 7  |     |\n"
                         "|   1 | a  |  10 |\n"
                         "|     | bb | 200 |\n"
                         "+-----+----+-----+\n")

    def test_sql_empty_result(self):
        p = self.ok("sql", "-e", "SELECT 1 AS a, 'x' AS b WHERE false")
        self.assertEqual(p.stdout, "+---+---+\n| a | b |\n+---+---+\n")

    def test_sql_duplicate_columns_kept(self):
        p = self.ok("sql", "-e", "SELECT 1 AS a, 2 AS a")
        self.assertEqual(p.stdout, "+---+---+\n| a | a |\n+---+---+\n| 1 | 2 |\n+---+---+\n")

    def test_sql_several_statements_and_flags(self):
        p = self.ok("sql", "-e", "SELECT ';' AS s; SELECT 2 AS t", "-e", "SELECT 'x' AS u;")
        self.assertEqual(p.stdout,
                         "+---+\n| s |\n+---+\n| ; |\n+---+\n"
                         "+---+\n| t |\n+---+\n| 2 |\n+---+\n"
                         "+---+\n| u |\n+---+\n| x |\n+---+\n")

    def test_sql_tables_command(self):
        p = self.ok("sql", "-e", ".tables")
        self.assertEqual(p.stdout, "+-------+\n| name  |\n+-------+\n| small |\n| zones |\n+-------+\n")

    def test_sql_script_on_stdin(self):
        script = ("-- a comment\n"
                  "SELECT 1 AS a;\n"
                  "SELECT v FROM small\n"
                  "  ORDER BY v;\n"
                  "SELECT 2 AS b, NULL AS c, -3.5 AS d\n")
        p = self.ok("sql", input=script)
        self.assertEqual(p.stdout,
                         "+---+\n| a |\n+---+\n| 1 |\n+---+\n"
                         "+---+\n| v |\n+---+\n| 1 |\n| 2 |\n+---+\n"
                         "+---+---+------+\n| b | c | d    |\n+---+---+------+\n"
                         "| 2 |   | -3.5 |\n+---+---+------+\n")
        self.assertEqual(p.stderr, "")

    def test_sql_script_stops_at_first_error(self):
        p = self.c.clove("sql", input="SELECT 1 AS a;\nSELEC 2;\nSELECT 3 AS c;\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "+---+\n| a |\n+---+\n| 1 |\n+---+\n")
        self.assertTrue(p.stderr.startswith("Error: "), p.stderr)
        self.assertIn("syntax error", p.stderr)
        self.assertNotIn("| c |", p.stdout)

    def test_sql_bad_sql_exit_1(self):
        p = self.c.clove("sql", "-e", "SELECT * FROM no_such_table")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith("Error: "), p.stderr)
        self.assertIn("no_such_table", p.stderr)
        p = self.c.clove("sql", "-e", "DROP TABLE zones")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Error: DROP statements are not allowed", p.stderr)

    def test_sql_unknown_dot_command(self):
        p = self.c.clove("sql", "-e", ".foo")
        self.assertEqual(p.returncode, 1)
        self.assertIn('Error: unknown command ".foo"', p.stderr)

    def test_sql_usage_errors(self):
        p = self.c.clove("sql", "-e", "")
        self.assertEqual(p.returncode, 2)
        p = self.c.clove("sql", "-x")
        self.assertEqual(p.returncode, 2)
        self.assertIn('unknown flag "-x"', p.stderr)

    # ---- status, datasets, refresh -----------------------------------------------------------

    def test_status(self):
        p = self.ok("status")
        self.assertEqual(p.stdout, box(["NAME", "ENDPOINT", "STATUS"], [
            ["http", self.c.http, "Ready"], ["flight", self.c.flight, "Ready"],
            ["metrics", "N/A", "Disabled"], ["opentelemetry", "N/A", "Disabled"]]))

    def test_datasets(self):
        p = self.ok("datasets")
        self.assertEqual(p.stdout, box(["NAME", "FROM", "ACCELERATED", "STATUS"], [
            ["zones", "file:data/zones.csv", "false", "Ready"],
            ["small", "file:data/small.csv", "true", "Ready"]]))

    def test_refresh(self):
        p = self.ok("refresh", "small")
        self.assertEqual(p.stdout, "Dataset refresh triggered for small.\n")
        p = self.c.clove("refresh", "nosuch")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn("Error: Dataset nosuch not found", p.stderr)
        p = self.c.clove("refresh", "zones")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Error: Dataset zones does not have acceleration enabled", p.stderr)
        p = self.c.clove("refresh")
        self.assertEqual(p.returncode, 2)

    # ---- endpoints and connection errors -----------------------------------------------------

    def test_endpoint_forms(self):
        expected = "+---+\n| a |\n+---+\n| 1 |\n+---+\n"
        for args, env in ((["--endpoint", self.c.http], None),
                          (["--endpoint=%s/" % self.c.endpoint], None),
                          ([], {"CLOVE_ENDPOINT": self.c.endpoint})):
            p = run_clove(args + ["sql", "-e", "SELECT 1 AS a"], env=env)
            self.assertEqual(p.returncode, 0, (args, env, p.stderr))
            self.assertEqual(p.stdout, expected)
        # a global flag after the command
        p = run_clove(["sql", "-e", "SELECT 1 AS a", "--endpoint", self.c.endpoint])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, expected)

    def test_closed_port(self):
        port = closed_port()
        for cmd in (["status"], ["datasets"], ["sql", "-e", "SELECT 1"], ["refresh", "small"]):
            p = run_clove(["--endpoint", "127.0.0.1:%d" % port] + cmd)
            self.assertEqual(p.returncode, 1, cmd)
            self.assertEqual(p.stdout, "")
            self.assertIn("could not connect to clove at http://127.0.0.1:%d" % port, p.stderr)
            self.assertIn("Connection refused", p.stderr)

    def test_bad_endpoint_is_usage_error(self):
        for bad in ("http://", "https:///"):
            p = run_clove(["--endpoint", bad, "status"])
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
            self.assertEqual(p.stdout, "")

    def test_non_http_endpoint_is_usage_error(self):
        # docs/cli.md: exit 2 for an invalid --endpoint ("nothing was sent"); only http:// and
        # https:// endpoints make sense
        p = run_clove(["--endpoint", "ftp://127.0.0.1:1", "status"])
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_version_and_help(self):
        p = run_clove(["version"])
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^clove \S+\n$")
        self.assertEqual(run_clove(["--version"]).stdout, p.stdout)
        p = run_clove(["--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("sql", p.stdout)
        p = run_clove(["bogus"])
        self.assertEqual(p.returncode, 2)
        self.assertIn('unknown command "bogus"', p.stderr)

    def test_run_passes_through_to_cloved(self):
        p = run_clove(["run", "--", "--test-config", self.workdir])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("valid", p.stdout)
        d = tempfile.mkdtemp(prefix="clove-e2e-cli-bad-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "spicepod.yaml"), "w") as f:
            f.write("version: v1\nkind: Spicepod\nname: x\nbogus: 1\n")
        p = run_clove(["run", "--test-config", d])
        self.assertEqual(p.returncode, 1)
        self.assertIn("bogus", p.stderr)


if __name__ == "__main__":
    unittest.main()

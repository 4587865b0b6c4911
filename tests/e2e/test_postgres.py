"""
PostgreSQL connector end to end, against a private PostgreSQL 15 cluster (pg_harness.py):
every mapped type with edge values (checked value by value as DuckDB text, and the DuckDB types),
what crosses the wire (PostgreSQL's own statement log: projected columns, WHERE, LIMIT), pushed
filters giving the same answers as DuckDB evaluating them itself (text under ICU and
nondeterministic collations, NaN, infinities, dates BC, enums, uuids), unsupported types under
each unsupported_type_action, accelerated datasets (full, append with the watermark pushed as a
literal, upsert, refresh_sql pushed), streaming with bounded memory, errors that name host,
port and dataset but never the password.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import CLOVED, Cloved, metric, run_clove
from pg_harness import PASSWORD, PgCluster

HERE = os.path.dirname(os.path.abspath(__file__))

EXPECTED_TYPES = [
    ("id", "INTEGER"), ("i2", "SMALLINT"), ("i4", "INTEGER"), ("i8", "BIGINT"),
    ("n102", "DECIMAL(10,2)"), ("n380", "DECIMAL(38,0)"), ("n3838", "DECIMAL(38,38)"),
    ("n184", "DECIMAL(18,4)"), ("r", "FLOAT"), ("dp", "DOUBLE"), ("t", "VARCHAR"),
    ("vc", "VARCHAR"), ("ch", "VARCHAR"), ("nm", "VARCHAR"), ("b", "BOOLEAN"), ("d", "DATE"),
    ("tm", "TIME"), ("ttz", "TIME WITH TIME ZONE"), ("ts", "TIMESTAMP"),
    ("tz", "TIMESTAMP WITH TIME ZONE"), ("iv", "INTERVAL"), ("u", "UUID"), ("j", "JSON"),
    ("jb", "JSON"), ("by", "BLOB"), ("m", "ENUM('sad', 'ok', 'happy', 'ünïcode')"),
    ("dom", "INTEGER"), ("a_i4", "INTEGER[]"), ("a_i8", "BIGINT[]"), ("a_t", "VARCHAR[]"),
    ("a_n", "DECIMAL(10,2)[]"), ("a_tz", "TIMESTAMP WITH TIME ZONE[]"), ("a_b", "BOOLEAN[]"),
    ("a_u", "UUID[]"), ("a_m", "ENUM('sad', 'ok', 'happy', 'ünïcode')[]"), ("a_d", "DATE[]"),
    ("a_by", "BLOB[]"), ("a_jb", "JSON[]"), ("a_f8", "DOUBLE[]"), ("a_iv", "INTERVAL[]"),
]

# CAST(col AS VARCHAR) per row id (DuckDB's own text of each value; 2 is the all-NULL row)
EXPECTED_VALUES = {
    "i2": {1: "1", 3: "-32768", 4: "32767", 5: "0"},
    "i4": {1: "2", 3: "2147483647", 4: "-2147483648", 5: "0"},
    "i8": {1: "3", 3: "-9223372036854775808", 4: "9223372036854775807", 5: "0"},
    "n102": {1: "1.50", 3: "-99999999.99", 4: "0.01", 5: "0.00"},
    "n380": {1: "12", 3: "99999999999999999999999999999999999999",
             4: "-99999999999999999999999999999999999999", 5: "0"},
    "n3838": {1: ".50000000000000000000000000000000000000",
              3: ".99999999999999999999999999999999999999",
              4: "-.00000000000000000000000000000000000001",
              5: ".00000000000000000000000000000000000000"},
    "n184": {1: "3.1415", 3: "-99999999999999.9999", 4: "0.0000", 5: "0.0000"},
    "r": {1: "1.25", 3: "nan", 4: "-0.0", 5: "inf"},
    "dp": {1: "-2.5", 3: "-inf", 4: "1e+308", 5: "nan"},
    "t": {1: "apple", 3: "", 4: 'it\'s "quoted"', 5: "banana"},
    "vc": {1: "vç", 3: "ünïcödé ✓", 4: "Zebra", 5: "apple"},
    "ch": {1: "ab   ", 3: "x    ", 4: "abcde", 5: "aaaaa"},
    "nm": {1: "nm", 3: "ß", 4: "zz", 5: "a"},
    "b": {1: "true", 3: "false", 4: "true", 5: "false"},
    "d": {1: "2024-01-02", 3: "infinity", 4: "0044-03-15 (BC)", 5: "2000-01-01"},
    "tm": {1: "13:14:15", 3: "24:00:00", 4: "00:00:00", 5: "12:00:00.000001"},
    "ttz": {1: "13:14:15+05:30", 3: "00:00:00-14:59", 4: "23:59:59.999999+14",
            5: "12:00:00+00"},
    "ts": {1: "2024-01-02 03:04:05.123456", 3: "-infinity", 4: "1970-01-01 00:00:00",
           5: "2000-01-01 00:00:00"},
    "tz": {1: "2024-01-02 01:04:05+00", 3: "infinity", 4: "2024-07-01 06:59:59.999999+00",
           5: "2000-01-01 00:00:00+00"},
    "iv": {1: "1 year 2 months 3 days 04:05:06.7", 3: "-178000000 years",
           4: "-1 month 2 days -00:00:00.000001", 5: "00:00:00"},
    "u": {1: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 3: "00000000-0000-0000-0000-000000000000",
          4: "ffffffff-ffff-ffff-ffff-ffffffffffff", 5: "11111111-2222-3333-4444-555555555555"},
    "j": {1: '{"a": [1, 2]}', 3: "null", 4: '{"nested": {"deep": [true, null]}}', 5: "{}"},
    "jb": {1: '{"a": 1, "b": null}', 3: "[]", 4: '{"ü": "ñ"}', 5: "{}"},
    "by": {1: "\\xDE\\xAD\\xBE\\xEF", 3: "\\x00\\xFF\\x00", 4: "", 5: "\\x00"},
    "m": {1: "happy", 3: "ünïcode", 4: "sad", 5: "ok"},
    "dom": {1: "7", 3: "2147483647", 4: "1", 5: "5"},
    "a_i4": {1: "[1, NULL, 3]", 3: "[]", 4: "[-2147483648, 2147483647]", 5: "[0]"},
    "a_i8": {1: "[9223372036854775807]", 3: "[]", 4: "[NULL]", 5: "[0]"},
    "a_t": {1: "[x, é, NULL, 'NULL', 'a,b']", 3: "[]", 4: "['']", 5: "[banana]"},
    "a_n": {1: "[1.25, NULL]", 3: "[]", 4: "[-0.01]", 5: "[0.00]"},
    "a_tz": {1: "['2024-01-02 01:04:05+00', '2000-01-01 07:59:59.5+00']", 3: "[]",
             4: "[infinity]", 5: "['2000-01-01 00:00:00+00']"},
    "a_b": {1: "[true, false, NULL]", 3: "[]", 4: "[NULL]", 5: "[true]"},
    "a_u": {1: "[a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11]", 3: "[]", 4: "[NULL]",
            5: "[11111111-2222-3333-4444-555555555555]"},
    "a_m": {1: "[sad, ünïcode]", 3: "[]", 4: "[NULL]", 5: "[ok]"},
    "a_d": {1: "[2024-02-29]", 3: "[]", 4: "[-infinity, infinity]", 5: "[2000-01-01]"},
    "a_by": {1: "[\\x00\\xFF, NULL]", 3: "[]", 4: "['']", 5: "[\\x00]"},
    "a_jb": {1: '[{"k": 1}]', 3: "[]", 4: "[NULL]", 5: "[{}]"},
    "a_f8": {1: "[1.5, nan, -inf]", 3: "[]", 4: "[-0.0, 1e-308]", 5: "[0.0]"},
    "a_iv": {1: "[1 day, '-02:00:00']", 3: "[]", 4: "[-178000000 years]", 5: "['00:00:00']"},
}


def pod(*datasets):
    return "version: v1\nkind: Spicepod\nname: pgtest\ndatasets:\n" + "".join(datasets)


def dataset(pg, name, source, extra="", **params):
    return ("  - from: postgres:%s\n    name: %s\n    params:\n%s%s"
            % (source, name, pg.params_yaml(**params), extra))


ACCEL = "    acceleration:\n      enabled: true\n"


class PgTestCase(unittest.TestCase):
    """One cluster for the class, loaded with the fixtures."""

    @classmethod
    def setUpClass(cls):
        cls.pg = PgCluster()
        with open(os.path.join(HERE, "pg_fixtures.sql"), encoding="utf-8") as f:
            cls.pg.psql(f.read())

    @classmethod
    def tearDownClass(cls):
        cls.pg.destroy()

    def start(self, yaml, **kw):
        kw.setdefault("env", {})["PG_PASS"] = PASSWORD
        c = Cloved(yaml, **kw)
        self.addCleanup(c.stop)
        return c

    def assert_no_password(self, c, *texts):
        for t in texts + (c.logs(),):
            self.assertNotIn(PASSWORD, t)


class TypesTest(PgTestCase):
    def test_every_type_exactly(self):
        c = self.start(pod(dataset(self.pg, "types", "types")))
        desc = [(r["column_name"], r["column_type"]) for r in c.rows("DESCRIBE types")]
        self.assertEqual(desc, EXPECTED_TYPES)
        for col, want in EXPECTED_VALUES.items():
            rows = c.rows('SELECT id, CAST("%s" AS VARCHAR) AS v FROM types ORDER BY id' % col)
            got = {r["id"]: r["v"] for r in rows}
            self.assertIsNone(got.pop(2), col)  # the all-NULL row
            self.assertEqual(got, want, col)
        # values compare and compute as their DuckDB types
        self.assertEqual(c.scalar("SELECT sum(n380) FROM types WHERE id IN (3, 4)"), 0)
        # an ENUM sorts in label order; compared with a string it compares as text
        self.assertEqual(c.scalar("SELECT m FROM types WHERE m IS NOT NULL ORDER BY m DESC "
                                  "LIMIT 1"), "ünïcode")
        self.assertEqual(c.scalar("SELECT m FROM types WHERE m > 'ok' ORDER BY m LIMIT 1"),
                         "sad")
        self.assertEqual(c.scalar("SELECT json_extract_string(jb, '$.ü') FROM types "
                                  "WHERE id = 4"), "ñ")
        self.assertEqual(c.scalar("SELECT len(a_t) FROM types WHERE id = 1"), 5)
        self.assertEqual(c.scalar("SELECT epoch_us(tz) FROM types WHERE id = 1"),
                         1704157445000000)
        # the role's session time zone (Asia/Kathmandu) changes nothing
        self.assertEqual(self.pg.psql("SELECT rolconfig FROM pg_roles WHERE rolname = "
                                      "'clove_reader'").strip(), "{TimeZone=Asia/Kathmandu}")
        self.assert_no_password(c)

    def test_same_values_accelerated(self):
        c = self.start(pod(dataset(self.pg, "types", "public.types", ACCEL)))
        self.assertEqual(c.dataset_status("types"), "Ready")
        desc = [(r["column_name"], r["column_type"]) for r in c.rows("DESCRIBE types")]
        self.assertEqual(desc, EXPECTED_TYPES)
        for col, want in EXPECTED_VALUES.items():
            rows = c.rows('SELECT id, CAST("%s" AS VARCHAR) AS v FROM types ORDER BY id' % col)
            got = {r["id"]: r["v"] for r in rows}
            self.assertIsNone(got.pop(2), col)
            self.assertEqual(got, want, col)


class PushdownTest(PgTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg.psql("""
            CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2',
                                 deterministic = false);
            CREATE TABLE words (id integer PRIMARY KEY, icu text COLLATE "und-x-icu",
                                ci text COLLATE ci, plain text, vc varchar(10), f8 float8,
                                f4 real, n numeric(12,3), d date, tz timestamptz, ts timestamp,
                                u uuid, m mood, b boolean, i8 bigint);
            INSERT INTO words VALUES
              (1, 'apple', 'ABC', 'a_b', 'x', 1.5, 1.5, 1.5, '2024-01-01',
               '2024-01-01 00:00:00+00', '2024-01-01 00:00:00',
               'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'sad', true, 1),
              (2, 'Banana', 'abc', 'a%b', 'y', 'NaN', 'NaN', -1.5, '2024-01-05',
               '2024-01-05 12:00:00+05', '2024-01-05 12:00:00',
               '00000000-0000-0000-0000-000000000001', 'ok', false, -9223372036854775808),
              (3, 'banana', 'Abc', 'a\\b', 'z', '-0', '-0', 0, 'infinity', 'infinity',
               'infinity', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'happy', NULL,
               9223372036854775807),
              (4, 'Äpfel', 'äbc', 'ab', 'X', 'Infinity', 'Infinity', 999999999.999,
               '0044-03-15 BC', '-infinity', '-infinity', NULL, 'ünïcode', true, 0),
              (5, 'zebra', NULL, NULL, NULL, '-Infinity', '-Infinity', NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL),
              (6, 'ébène', 'abd', 'abc', 'ab', 2, 2, 2, '2024-01-02',
               '2024-01-01 23:59:59.999999-01', '2024-01-02 00:00:00.000001',
               '11111111-2222-3333-4444-555555555555', 'sad', false, 42);
            ALTER TABLE words OWNER TO clove_reader;
            CREATE TABLE orders (id integer PRIMARY KEY, cust text, amount numeric(10,2),
                                 qty integer, ts timestamptz);
            INSERT INTO orders SELECT g, 'c' || (g % 7), g / 10.0, g % 5,
                timestamptz '2024-01-01 00:00+00' + g * interval '1 hour'
                FROM generate_series(1, 100) g;
            INSERT INTO orders VALUES (101, NULL, NULL, NULL, NULL), (102, 'Cz', 1, 1, NULL),
                                      (103, 'é', -0.01, -7, '1999-12-31 23:00:00-05');
            ALTER TABLE orders OWNER TO clove_reader;
            CREATE TABLE big (id integer, payload text);
            INSERT INTO big SELECT g, repeat(md5(g::text), 10) FROM generate_series(1, 200000) g;
            ALTER TABLE big OWNER TO clove_reader;
        """)

    def pod_words(self):
        return pod(dataset(self.pg, "words", "public.words"),
                   dataset(self.pg, "words_local", "public.words", ACCEL),
                   dataset(self.pg, "types", "types"))

    def test_projection_filter_limit_on_the_wire(self):
        c = self.start(self.pod_words())
        # a query that cannot run whole in PostgreSQL (lower() is not pushed) reads the table
        # with the needed columns, the filters that can go, and no LIMIT (DuckDB filters more)
        mark = self.pg.log_mark()
        self.assertEqual(c.rows("SELECT id, plain FROM words WHERE id > 1 AND plain = 'ab' "
                                "AND lower(icu) <> 'x' LIMIT 5"), [{"id": 4, "plain": "ab"}])
        self.assertEqual(self.pg.wait_statement(r"^COPY", mark),
                         'COPY (SELECT "id", "icu", "plain" FROM "public"."words" WHERE '
                         '(("id" > 1) AND ("plain" COLLATE "C" = E\'ab\'))) TO STDOUT '
                         '(FORMAT binary)')
        # LIMIT goes with exact filters: joined with an accelerated dataset, the federated
        # side is a scan; a plain LIMIT over it alone runs whole
        mark = self.pg.log_mark()
        self.assertEqual(c.rows("SELECT id FROM words LIMIT 2"), [{"id": 1}, {"id": 2}])
        self.assertEqual(self.pg.wait_statement(r"^COPY", mark),
                         'COPY (SELECT "words"."id" AS "c1" FROM "public"."words" AS "words" '
                         'LIMIT 2) TO STDOUT (FORMAT binary)')
        mark = self.pg.log_mark()
        self.assertEqual(c.rows("SELECT id, icu::VARCHAR AS l FROM words WHERE b LIMIT 2"),
                         [{"id": 1, "l": "apple"}, {"id": 4, "l": "Äpfel"}])
        self.assertEqual(self.pg.wait_statement(r"^COPY", mark),
                         'COPY (SELECT "id", "icu", "b" FROM "public"."words" WHERE (("b" = '
                         'true)) LIMIT 2) TO STDOUT (FORMAT binary)')
        # a filter that cannot go (a function of a column) stays in DuckDB, no LIMIT either
        mark = self.pg.log_mark()
        self.assertEqual(c.rows("SELECT id FROM words WHERE lower(icu) = 'banana' AND b "
                                "ORDER BY id LIMIT 1"), [])
        stmt = self.pg.wait_statement(r"^COPY", mark)
        self.assertIn('WHERE (("b" = true))', stmt)
        self.assertNotIn("LIMIT", stmt)
        self.assertNotIn("lower", stmt)
        # joined with an accelerated dataset: the federated side gets its own conditions
        mark = self.pg.log_mark()
        rows = c.rows("SELECT w.id, t.i8 FROM words w JOIN words_local t ON t.id = w.id "
                      "WHERE w.vc IN ('x', 'z') AND t.i8 >= 0 ORDER BY w.id")
        self.assertEqual(rows, [{"id": 1, "i8": 1}, {"id": 3, "i8": 9223372036854775807}])
        self.assertEqual(self.pg.wait_statement(r"^COPY", mark),
                         'COPY (SELECT "id", "vc" FROM "public"."words" WHERE (("vc" COLLATE "C" '
                         'IN (E\'x\', E\'z\')))) TO STDOUT (FORMAT binary)')
        self.assert_no_password(c)

    def test_parameters(self):
        """A query that can run whole in PostgreSQL with integer parameters goes there as one
        parameterized statement (no DuckDB); parameters that are no integers take the DuckDB
        plan, where $1 on an integer column still goes to PostgreSQL as the bound value; the
        answers are the same either way."""
        c = self.start(self.pod_words())
        direct = 'execute clove_p'
        cases = [("SELECT id, icu FROM words WHERE i8 = $1", [42], [{"id": 6, "icu": "ébène"}],
                  direct, "$1 = '42'"),
                 ("SELECT id FROM words WHERE i8 >= $1 ORDER BY id", [9223372036854775807],
                  [{"id": 3}], direct, "$1 = '9223372036854775807'"),
                 # the same statement again: prepared once per connection, executed again
                 ("SELECT id, icu FROM words WHERE i8 = $1", [1], [{"id": 1, "icu": "apple"}],
                  direct, "$1 = '1'"),
                 ("SELECT id FROM words WHERE i8 = $1", [None], [], direct, "$1 = NULL"),
                 ("SELECT id FROM words WHERE i8 = $1", [1.5], [], "COPY", '("i8" = 2)'),
                 ("SELECT id FROM words WHERE icu = $1", ["zebra"], [{"id": 5}], "COPY", None),
                 ("SELECT id FROM words WHERE i8 > $1 AND icu <> $2 ORDER BY id", [0, "apple"],
                  [{"id": 3}, {"id": 6}], "COPY", '("i8" > 0)')]
        for sql, params, want, kind, pushed in cases:
            for table in ("words", "words_local"):
                mark = self.pg.log_mark()
                self.assertEqual(c.rows(sql.replace("words", table), params=params), want,
                                 (sql, params, table))
                if table != "words":
                    continue
                stmt = self.pg.wait_statement(r"^(COPY|execute)", mark)
                stmt = [s for s in self.pg.statements(mark, params=True)
                        if s.startswith(("COPY", "execute"))][0]
                self.assertTrue(stmt.startswith(kind), (sql, params, stmt))
                if pushed:
                    self.assertIn(pushed, stmt, (sql, params))
                elif kind == "COPY":
                    self.assertNotIn("WHERE", stmt, (sql, params))
        # the direct statement in full
        mark = self.pg.log_mark()
        c.rows("SELECT id, icu FROM words WHERE i8 = $1", params=[42])
        self.pg.wait_statement(r"^execute", mark)
        stmt = re.sub(r"clove_p\d+", "clove_pN", self.pg.statements(mark, params=True)[0])
        self.assertEqual(stmt,
                         'execute clove_pN: SELECT "words"."id" AS "c1", "words"."icu" COLLATE '
                         '"C" AS "c2" FROM "public"."words" AS "words" WHERE "words"."i8" = '
                         '$1::int8 -- parameters: $1 = \'42\'')

    PREDICATES = [
        "icu > 'Banana'", "icu < 'b'", "icu BETWEEN 'B' AND 'a'", "icu >= 'É'", "icu = 'banana'",
        "ci = 'abc'", "ci > 'ABC'", "ci IN ('abc', 'ABD')", "ci LIKE 'a%'", "ci NOT LIKE 'A%'",
        "plain LIKE 'a\\b'", "plain LIKE 'a_b'", "plain LIKE 'a%b'", "plain NOT LIKE '%b'",
        "vc < 'Y'", "vc >= 'x'", "vc <> 'x'",
        "f8 > 1", "f8 >= 1.5", "f8 = 0", "f8 < 0", "f8 <> 2", "f8 > 1.4999", "f8 = 1.5",
        "NOT (f8 > 1)", "f4 = 1.5", "f4 > 1.1", "f4 <= 0",
        "n > 1.5", "n = 2", "n <= -1.5", "n BETWEEN -2 AND 2.0005", "n > 0.0005",
        "d > '2024-01-01'", "d <= DATE '2024-01-05'", "d < 'infinity'", "d > '0001-01-01'",
        "tz >= TIMESTAMPTZ '2024-01-05 07:00:00+00'", "tz < '2024-01-02'",
        "tz > '2024-01-02 00:00:00.000001+01'", "ts > '2024-01-02'", "ts <= TIMESTAMP '2024-01-05 12:00'",
        "u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "u IN ('ffffffff-ffff-ffff-ffff-ffffffffffff')",
        "u <> '00000000-0000-0000-0000-000000000001'",
        "m = 'sad'", "m IN ('ok', 'ünïcode')", "m <> 'happy'",
        "b", "NOT b", "b = false", "b IS NULL", "i8 < 0", "i8 >= 9223372036854775807",
        "i8 > 1.5", "i8 = 42 OR icu = 'zebra'", "NOT (i8 = 42 OR d IS NULL)",
        "icu IS NOT NULL AND ci IS NULL",
    ]

    def test_pushed_filters_answer_like_duckdb(self):
        """Every predicate runs on the federated table (pushed into PostgreSQL) and on an
        accelerated copy (DuckDB evaluates it): the answers must be equal, and most of them
        must actually have been pushed."""
        c = self.start(self.pod_words())
        pushed = 0
        for p in self.PREDICATES:
            mark = self.pg.log_mark()
            fed = c.rows("SELECT id FROM words WHERE %s ORDER BY id" % p)
            local = c.rows("SELECT id FROM words_local WHERE %s ORDER BY id" % p)
            self.assertEqual(fed, local, p)
            stmt = self.pg.wait_statement(r"^COPY", mark)
            if " WHERE " in stmt:
                pushed += 1
        self.assertGreaterEqual(pushed, len(self.PREDICATES) - 3)
        # LIMIT over exact filters
        for p in ("icu > 'Banana'", "ci = 'abc'", "plain LIKE 'a%'", "m = 'sad'"):
            mark = self.pg.log_mark()
            self.assertEqual(len(c.rows("SELECT id FROM words WHERE %s LIMIT 1" % p)), 1, p)
            self.assertIn("LIMIT 1", self.pg.wait_statement(r"^COPY", mark), p)

    WHOLE = [
        "SELECT count(*) FROM {o}",
        "SELECT cust, count(*), sum(amount), sum(qty), min(ts), max(cust) FROM {o} GROUP BY cust "
        "ORDER BY cust",
        "SELECT cust, count(*) AS n FROM {o} WHERE qty > 1 GROUP BY 1 HAVING count(*) > 2 "
        "ORDER BY n DESC, cust LIMIT 3",
        "SELECT o.id, w.icu, w.m FROM {o} o JOIN {w} w ON w.id = o.id ORDER BY o.id",
        "SELECT * FROM {o} WHERE id > 98 ORDER BY id",
        "SELECT DISTINCT cust FROM {o} ORDER BY 1 NULLS FIRST",
        "SELECT id, amount > 5 AS big, 1 AS one, 'x' AS s, 2.50 AS d FROM {o} "
        "ORDER BY amount DESC, id LIMIT 3",
        "SELECT w.icu, count(o.id) FROM {w} w LEFT JOIN {o} o ON o.id = w.id GROUP BY w.icu "
        "ORDER BY w.icu DESC",
        "SELECT icu FROM {w} ORDER BY icu",
        "SELECT ci, count(*) FROM {w} GROUP BY ci ORDER BY ci NULLS FIRST",
        "SELECT count(DISTINCT ci), count(ci), count(*) FROM {w}",
        "SELECT min(icu), max(icu), min(d), max(tz), min(n) FROM {w}",
        "SELECT sum(i8), sum(n) FROM {w}",
        "SELECT id, f8, f4 FROM {w} ORDER BY f8 NULLS FIRST, id",
        "SELECT d, tz, ts FROM {w} WHERE d < 'infinity' ORDER BY d DESC",
        "SELECT id FROM {w} WHERE u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' OR m = 'ok' "
        "ORDER BY id",
        "SELECT id, n FROM {w} WHERE n BETWEEN -2 AND 2 ORDER BY n NULLS FIRST, id LIMIT 2 "
        "OFFSET 1",
        "SELECT o.cust, w.m FROM {o} o CROSS JOIN {w} w WHERE o.id = 1 ORDER BY w.id",
        "SELECT b, count(*) FROM {w} GROUP BY b ORDER BY b DESC NULLS FIRST",
        "SELECT id FROM {w} WHERE ci LIKE 'a%' AND plain NOT LIKE '%b' ORDER BY id",
        "SELECT cust, sum(qty) FROM {o} GROUP BY cust HAVING sum(qty) > 28 AND min(id) < 5 "
        "ORDER BY 2 DESC, 1",
    ]
    LOCAL = [
        "SELECT avg(qty) FROM {o}",
        "SELECT id FROM {o} WHERE id IN (SELECT id FROM {w}) ORDER BY id",
        "SELECT id, row_number() OVER (ORDER BY id DESC) FROM {o} ORDER BY id LIMIT 3",
        "SELECT lower(icu) FROM {w} ORDER BY 1",
        "SELECT cust FROM {o} UNION SELECT icu FROM {w} ORDER BY 1",
        "SELECT f8, count(*) FROM {w} GROUP BY f8 ORDER BY 1",
        "SELECT id, amount / 2 FROM {o} ORDER BY id LIMIT 3",
        "SELECT m, count(*) FROM {w} GROUP BY m ORDER BY m",
    ]

    def test_whole_query_runs_in_postgres(self):
        """Queries over federated tables of one database run in PostgreSQL as one statement
        and answer exactly like DuckDB over accelerated copies: same column names, types
        (the Spice envelope carries the schema) and rows. Queries with constructs whose
        semantics differ run locally over scans with pushed filters."""
        yaml = pod(dataset(self.pg, "orders", "orders"),
                   dataset(self.pg, "orders_local", "orders", ACCEL),
                   dataset(self.pg, "words", "public.words"),
                   dataset(self.pg, "words_local", "public.words", ACCEL))
        c = self.start(yaml)
        env = "application/vnd.spiceai.sql.v1+json"
        for q in self.WHOLE + self.LOCAL:
            mark = self.pg.log_mark()
            fed = c.sql(q.format(o="orders", w="words"), accept=env)
            local = c.sql(q.format(o="orders_local", w="words_local"), accept=env)
            self.assertEqual(fed.status, 200, (q, fed.text))
            self.assertEqual(local.status, 200, (q, local.text))
            fj, lj = fed.json(), local.json()
            for j in (fj, lj):
                j.pop("execution_time_ms", None)
            self.assertEqual(fj, lj, q)
            self.pg.wait_statement(r"^COPY", mark)
            stmts = [s for s in self.pg.statements(mark) if s.startswith("COPY")]
            whole = [s for s in stmts if ' AS "c1"' in s]
            if q in self.WHOLE:
                self.assertEqual(len(stmts), 1, (q, stmts))
                self.assertEqual(len(whole), 1, (q, stmts))
            else:
                self.assertEqual(whole, [], q)
        # what the grouped query sent
        mark = self.pg.log_mark()
        c.rows(self.WHOLE[2].format(o="orders"))
        self.assertEqual(
            self.pg.wait_statement(r"^COPY", mark),
            'COPY (SELECT "orders"."cust" COLLATE "C" AS "c1", (count(*))::int8 AS "c2" FROM '
            '"orders" AS "orders" WHERE "orders"."qty" > 1 GROUP BY "orders"."cust" COLLATE "C" '
            'HAVING count(*) > 2 ORDER BY 2 DESC NULLS LAST, "orders"."cust" COLLATE "C" ASC '
            'NULLS LAST LIMIT 3) TO STDOUT (FORMAT binary)')

    def test_streaming_memory_is_bounded(self):
        """200k rows of 320 bytes (64 MB of text) stream through a federated aggregate while the
        process's peak memory grows far less than that."""
        c = self.start(pod(dataset(self.pg, "big", "big")),
                       env={"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:"
                                            "quarantine_size_mb=4"})

        def hwm():
            with open("/proc/%d/status" % c.pid) as f:
                return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024

        self.assertEqual(c.scalar("SELECT count(*) FROM big WHERE id <= 10"), 10)
        before = hwm()
        total = c.scalar("SELECT sum(length(payload)) FROM big")
        self.assertEqual(total, 200000 * 320)
        grown = hwm() - before
        self.assertLess(grown, 32 * 1024 * 1024, "peak memory grew by %d bytes" % grown)


class UnsupportedTypesTest(PgTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg.psql("""
            CREATE TABLE odd (id integer, n numeric, big numeric(50, 2), addr inet,
                              grid integer[][], ok text);
            INSERT INTO odd VALUES (1, 3.14159265358979323846264338327950288419716939937510,
                                    123456789012345678901234567890123456789012345678.91,
                                    '10.0.0.1/8', '{{1,2},{3,4}}', 'fine'),
                                   (2, 'NaN', NULL, NULL, NULL, 'also');
            ALTER TABLE odd OWNER TO clove_reader;
        """)

    def test_actions(self):
        yaml = pod(dataset(self.pg, "odd_error", "odd"),
                   dataset(self.pg, "odd_string", "odd", unsupported_type_action="string"),
                   dataset(self.pg, "odd_ignore", "odd", unsupported_type_action="ignore"),
                   dataset(self.pg, "odd_warn", "odd", unsupported_type_action="warn"))
        c = self.start(yaml)
        ds = c.datasets()
        self.assertEqual(ds["odd_error"]["status"], "Error")
        msg = ds["odd_error"]["error_message"]
        self.assertIn('column "n" of PostgreSQL table "odd" (dataset "odd_error") has type '
                      'numeric', msg)
        self.assertIn("unsupported_type_action", msg)
        r = c.sql("SELECT * FROM odd_error")
        self.assertEqual(r.status, 400)
        # string: exact text for what has no DuckDB type
        rows = c.rows("SELECT n, big, addr, ok FROM odd_string ORDER BY id")
        self.assertEqual(rows, [
            {"n": "3.14159265358979323846264338327950288419716939937510",
             "big": "123456789012345678901234567890123456789012345678.91",
             "addr": "10.0.0.1/8", "ok": "fine"},
            {"n": "NaN", "big": None, "addr": None, "ok": "also"}])
        self.assertEqual([r["column_type"] for r in c.rows("DESCRIBE odd_string")],
                         ["INTEGER", "VARCHAR", "VARCHAR", "VARCHAR", "INTEGER[]", "VARCHAR"])
        # ignore and warn leave them out; warn says so in the log
        for name in ("odd_ignore", "odd_warn"):
            self.assertEqual([r["column_name"] for r in c.rows("DESCRIBE %s" % name)],
                             ["id", "grid", "ok"])
        # a 2-D value in an int[] column fails the query with a clear message
        r = c.sql("SELECT grid FROM odd_warn")
        self.assertEqual(r.status, 400)
        self.assertIn("multi-dimensional arrays", r.text)
        self.assertIn('dataset "odd_warn"', r.text)
        self.assertEqual(c.rows("SELECT id, ok FROM odd_warn ORDER BY id"),
                         [{"id": 1, "ok": "fine"}, {"id": 2, "ok": "also"}])
        logs = c.logs()
        self.assertIn('dataset odd_warn: column "n" (type numeric) of "odd" is left out', logs)
        self.assertNotIn('dataset odd_ignore: column "n"', logs)


class AcceleratedTest(PgTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg.psql("""
            CREATE TABLE events (id integer PRIMARY KEY, ts timestamptz NOT NULL, kind text,
                                 amount numeric(10,2));
            INSERT INTO events SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval
                                   '1 minute', CASE WHEN g % 2 = 0 THEN 'keep' ELSE 'drop' END,
                                   g / 100.0 FROM generate_series(1, 1000) g;
            ALTER TABLE events OWNER TO clove_reader;
        """)

    def test_full_append_upsert_refresh_sql(self):
        acc_append = ("    time_column: ts\n    acceleration:\n      enabled: true\n"
                      "      refresh_mode: append\n")
        acc_upsert = ("    time_column: ts\n    acceleration:\n      enabled: true\n"
                      "      refresh_mode: append\n      primary_key: id\n"
                      "      on_conflict:\n        id: upsert\n")
        acc_sql = ("    acceleration:\n      enabled: true\n"
                   "      refresh_sql: SELECT id, kind FROM ev_sql WHERE kind = 'keep' AND "
                   "id <= 500\n")
        c = self.start(pod(dataset(self.pg, "ev_full", "events", ACCEL),
                           dataset(self.pg, "ev_append", "events", acc_append),
                           dataset(self.pg, "ev_upsert", "events", acc_upsert),
                           dataset(self.pg, "ev_sql", "events", acc_sql)))
        for name in ("ev_full", "ev_append", "ev_upsert"):
            self.assertEqual(c.scalar("SELECT count(*) FROM %s" % name), 1000, name)
        self.assertEqual(c.scalar("SELECT sum(amount) FROM ev_full"), 5005.0)
        # refresh_sql went to PostgreSQL as WHERE, with only its columns
        self.assertEqual(c.scalar("SELECT count(*) FROM ev_sql"), 250)
        stmts = [s for s in self.pg.statements() if 'FROM "events"' in s]
        self.assertIn('COPY (SELECT "id", "kind" FROM "events" WHERE (("kind" '
                      'COLLATE "C" = E\'keep\') AND ("id" <= 500))) TO STDOUT (FORMAT binary)',
                      stmts)

        # new rows, one at the watermark's timestamp, and an update of a held row
        self.pg.psql("""
            INSERT INTO events VALUES (1001, timestamptz '2024-01-01 16:40:00+00', 'keep', 1),
                                      (1002, timestamptz '2024-01-02 00:00:00+00', 'drop', 2);
            UPDATE events SET amount = 99.99, ts = timestamptz '2024-01-03 00:00:00+00'
            WHERE id = 5;
        """)
        for name in ("ev_append", "ev_upsert", "ev_full"):
            mark = self.pg.log_mark()
            self.assertEqual(c.refresh(name).status, 201)
            stmt = self.pg.wait_statement(r"^COPY", mark)
            if name != "ev_full":
                # the watermark (the newest held ts) went to PostgreSQL as a literal
                self.assertIn('WHERE (("ts" >= \'2024-01-01 16:40:00+00\'::timestamptz))', stmt)
            else:
                self.assertNotIn("WHERE", stmt)
        c.wait_until(lambda: c.scalar("SELECT count(*) FROM ev_full") == 1002, what="full")
        c.wait_until(lambda: c.scalar("SELECT count(*) FROM ev_append") == 1003, what="append")
        c.wait_until(lambda: c.scalar("SELECT count(*) FROM ev_upsert") == 1002, what="upsert")
        # append keeps history (row 5 twice), upsert replaces it; no row is lost or doubled at
        # the boundary timestamp
        self.assertEqual(c.rows("SELECT CAST(amount AS VARCHAR) AS a FROM ev_append WHERE "
                                "id = 5 ORDER BY amount"), [{"a": "0.05"}, {"a": "99.99"}])
        self.assertEqual(c.rows("SELECT CAST(amount AS VARCHAR) AS a FROM ev_upsert WHERE "
                                "id = 5"), [{"a": "99.99"}])
        self.assertEqual(c.scalar("SELECT count(*) FROM ev_append WHERE id IN (1000, 1001)"), 2)
        self.assert_no_password(c)


class SchemaChangeTest(PgTestCase):
    """Columns added, dropped or retyped in PostgreSQL after the dataset registered."""

    def table(self, name):
        self.pg.psql("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id integer, v text);"
                     "INSERT INTO %s VALUES (1, 'a'), (2, 'bb'), (3, 'ccc');"
                     "ALTER TABLE %s OWNER TO clove_reader;" % (name, name, name, name))

    def test_federated_scans_see_new_columns(self):
        self.table("sc_fed")
        yaml = pod(dataset(self.pg, "fed", "sc_fed")) + (
            "views:\n  - name: fed_view\n    sql: SELECT * FROM fed WHERE id > 1\n")
        c = self.start(yaml)
        self.assertEqual(c.rows("SELECT * FROM fed ORDER BY id"),
                         [{"id": 1, "v": "a"}, {"id": 2, "v": "bb"}, {"id": 3, "v": "ccc"}])
        self.assertEqual(len(c.rows("SELECT * FROM fed_view")), 2)
        # a column added: the scan finds the table changed before reading a row, the dataset
        # is registered again and the query runs again over the new columns
        self.pg.psql("ALTER TABLE sc_fed ADD COLUMN extra bigint DEFAULT 7")
        self.assertEqual(c.rows("SELECT * FROM fed ORDER BY id"),
                         [{"id": 1, "v": "a", "extra": 7}, {"id": 2, "v": "bb", "extra": 7},
                          {"id": 3, "v": "ccc", "extra": 7}])
        self.assertIn("dataset fed registered again with the columns its source has now",
                      c.logs())
        self.assertEqual(c.rows("SELECT * FROM fed_view ORDER BY id"),
                         [{"id": 2, "v": "bb", "extra": 7}, {"id": 3, "v": "ccc", "extra": 7}])
        # retyped: never decoded with the old type (text bytes read as a bigint)
        self.pg.psql("ALTER TABLE sc_fed ALTER COLUMN extra TYPE text USING 'x' || extra")
        self.assertEqual(c.rows("SELECT id, extra FROM fed WHERE id = 2"),
                         [{"id": 2, "extra": "x7"}])
        self.assertEqual(c.rows("SELECT typeof(extra) AS t FROM fed LIMIT 1"),
                         [{"t": "VARCHAR"}])
        # dropped
        self.pg.psql("ALTER TABLE sc_fed DROP COLUMN v")
        self.assertEqual(c.rows("SELECT * FROM fed ORDER BY id"),
                         [{"id": 1, "extra": "x7"}, {"id": 2, "extra": "x7"},
                          {"id": 3, "extra": "x7"}])
        # a query naming a column added since: its binder error makes clove look
        self.pg.psql("ALTER TABLE sc_fed ADD COLUMN late date DEFAULT '2024-02-29'")
        self.assertEqual(c.rows("SELECT late FROM fed WHERE id = 3"), [{"late": "2024-02-29"}])
        # a column that really does not exist stays a 400 naming it
        r = c.sql("SELECT nosuch FROM fed")
        self.assertEqual(r.status, 400)
        self.assertIn("nosuch", r.text)
        self.assertEqual(c.dataset_status("fed"), "Ready")

    def test_direct_runs_never_decode_a_retyped_column(self):
        self.table("sc_direct")
        c = self.start(pod(dataset(self.pg, "fed", "sc_direct")))
        q = "SELECT id, v FROM fed WHERE id = $1"
        self.assertEqual(c.rows(q, params=[2]), [{"id": 2, "v": "bb"}])
        # the statement was prepared in PostgreSQL; v becomes an integer under it
        self.pg.psql("ALTER TABLE sc_direct ALTER COLUMN v TYPE integer USING length(v)")
        r = c.sql(q, params=[2])
        self.assertEqual(r.status, 400, r.text)
        self.assertIn('the columns of PostgreSQL table "sc_direct" at "127.0.0.1:%d" changed '
                      'since dataset "fed" read them' % self.pg.port, r.text)
        self.assertIn("run the query again", r.text)
        self.assertEqual(c.rows(q, params=[2]), [{"id": 2, "v": 2}])
        self.assertEqual(c.rows(q, params=[3]), [{"id": 3, "v": 3}])
        # on a connection that never prepared it, PostgreSQL plans the statement afresh and
        # answers the new type without complaint: the answer's row description gives it away
        self.pg.psql("ALTER TABLE sc_direct ALTER COLUMN v TYPE bigint USING v * 10000000000;"
                     "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                     "application_name = 'clove'")
        r = c.sql(q, params=[3])
        self.assertEqual(r.status, 400, r.text)
        self.assertIn('the columns of PostgreSQL table "sc_direct"', r.text)
        self.assertEqual(c.rows(q, params=[3]), [{"id": 3, "v": 30000000000}])
        self.assertEqual(c.dataset_status("fed"), "Ready")

    def test_accelerated_full_refresh_takes_new_columns(self):
        self.table("sc_acc")
        c = self.start(pod(dataset(self.pg, "acc", "sc_acc", ACCEL)))
        self.assertEqual(c.rows("SELECT * FROM acc ORDER BY id LIMIT 1"), [{"id": 1, "v": "a"}])
        self.pg.psql("ALTER TABLE sc_acc ADD COLUMN n numeric(6,2) DEFAULT 1.5;"
                     "ALTER TABLE sc_acc DROP COLUMN v")
        before = c.datasets()["acc"]
        self.assertEqual(c.refresh("acc").status, 201)
        c.wait_until(lambda: c.rows("SELECT * FROM acc ORDER BY id LIMIT 1") ==
                     [{"id": 1, "n": 1.5}], what="the refresh with the new columns")
        self.assertEqual(c.rows("SELECT CAST(n AS VARCHAR) AS n FROM acc WHERE id = 3"),
                         [{"n": "1.50"}])
        self.assertEqual(c.dataset_status("acc"), "Ready")
        self.assertIsNone(before["error_message"])


class ConfigAndErrorsTest(PgTestCase):
    def test_errors_name_host_port_dataset_not_password(self):
        port = self.pg.port
        yaml = pod(dataset(self.pg, "wrong_pass", "types", pg_pass="${secrets:BAD_PASS}"),
                   dataset(self.pg, "no_table", "nope.missing"),
                   dataset(self.pg, "good", "types"))
        c = self.start(yaml, env={"BAD_PASS": "not-the-" + PASSWORD})
        ds = c.datasets()
        self.assertEqual(ds["good"]["status"], "Ready")
        self.assertEqual(ds["wrong_pass"]["status"], "Error")
        m = ds["wrong_pass"]["error_message"]
        self.assertIn('could not connect to PostgreSQL at "127.0.0.1:%d" for dataset '
                      '"wrong_pass"' % port, m)
        self.assertIn("password authentication failed", m)
        self.assertEqual(ds["no_table"]["status"], "Error")
        self.assertIn('table "nope.missing" does not exist in PostgreSQL database "clovedb" at '
                      '"127.0.0.1:%d" (dataset "no_table")' % port,
                      ds["no_table"]["error_message"])
        self.assertEqual(c.scalar("SELECT count(*) FROM good"), 5)
        spicepods = c.get("/v1/spicepods").text
        self.assert_no_password(c, spicepods, c.get("/v1/datasets?status=true").text)
        self.assertNotIn("not-the-" + PASSWORD, c.logs() + spicepods)

    def test_config_checks(self):
        for params, want in [
            ({"pg_pass": PASSWORD}, "params.pg_pass must not be written in the spicepod"),
            ({"pg_sslmode": "sometimes"}, "params.pg_sslmode: expected one of disable, prefer, "
                                          "require, verify-ca, verify-full"),
            ({"connection_pool_size": "0"}, "params.connection_pool_size: expected a number"),
            ({"pg_hots": "x"}, "params.pg_hots: unknown PostgreSQL parameter"),
            ({"unsupported_type_action": "explode"}, "params.unsupported_type_action"),
            ({"pg_connection_string": "host=x password=%s" % PASSWORD},
             "params.pg_connection_string holds a password"),
        ]:
            c = self.start(pod(dataset(self.pg, "bad", "types", **params),
                               dataset(self.pg, "good", "types")))
            ds = c.datasets()
            self.assertEqual(ds["bad"]["status"], "Error", params)
            self.assertIn(want, ds["bad"]["error_message"])
            self.assertEqual(ds["good"]["status"], "Ready")
            self.assert_no_password(c, c.get("/v1/spicepods").text,
                                    c.get("/v1/datasets?status=true").text)
            c.stop()
        # a bad from
        c = self.start(pod(dataset(self.pg, "bad", 'a.b.c.d')))
        self.assertIn("from: expected postgres:[database.][schema.]table",
                      c.datasets()["bad"]["error_message"])

    def test_test_config_checks_connector_params(self):
        d = tempfile.mkdtemp(prefix="clove-pg-tc-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "spicepod.yaml"), "w") as f:
            f.write(pod(dataset(self.pg, "a", "types", pg_pass=PASSWORD),
                        "  - from: duckdb:t\n    name: b\n",
                        dataset(self.pg, "c", "types", pg_sslmode="maybe"),
                        dataset(self.pg, "ok", "types")))
        env = dict(os.environ, PG_PASS=PASSWORD)
        p = subprocess.run([CLOVED, "--test-config", d], capture_output=True, text=True,
                           timeout=30, env=env)
        self.assertEqual(p.returncode, 1)
        out = p.stdout + p.stderr
        self.assertIn("datasets[0]: dataset a: params.pg_pass must not be written", out)
        self.assertIn("datasets[1].params.duckdb_open is required", out)
        self.assertIn("datasets[2]: dataset c: params.pg_sslmode", out)
        self.assertNotIn("datasets[3]", out)
        self.assertNotIn(PASSWORD, out)

    def test_connection_string_and_pool(self):
        cs = "host=127.0.0.1 port=%d dbname=%s user=clove_reader password=%s sslmode=disable" % (
            self.pg.port, self.pg.db, PASSWORD)
        yaml = pod("  - from: postgres:clovedb.public.types\n    name: t\n    params:\n"
                   "      pg_connection_string: ${secrets:PG_CS}\n"
                   "      connection_pool_size: 2\n")
        c = self.start(yaml, env={"PG_CS": cs})
        self.assertEqual(c.scalar("SELECT count(*) FROM t"), 5)
        # four concurrent queries share two connections
        import threading
        errors = []

        def q():
            try:
                self.assertEqual(c.scalar("SELECT count(*) FROM t WHERE id > 0"), 5)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        ts = [threading.Thread(target=q) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        n = self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                         "'clove'").strip()
        self.assertLessEqual(int(n), 2)
        self.assert_no_password(c, c.get("/v1/spicepods").text)


class HealthTest(unittest.TestCase):
    """Failure injection: PostgreSQL down at start, stopped in the middle of a refresh,
    restarted. Each test has its own cluster."""

    def setUp(self):
        self.pg = PgCluster()
        self.addCleanup(self.pg.destroy)
        self.pg.psql("""
            CREATE TABLE base (id integer PRIMARY KEY, v text);
            INSERT INTO base SELECT g, 'v' || g FROM generate_series(1, 1000) g;
            -- a refresh of slow_v stalls at row 500 while armed; a restart disarms it
            CREATE TABLE ctl (armed timestamptz);
            INSERT INTO ctl VALUES ('-infinity');
            CREATE VIEW slow_v AS SELECT b.id, b.v FROM base b,
                LATERAL (SELECT pg_sleep(CASE WHEN b.id = 500 AND (SELECT armed FROM ctl) >
                         pg_postmaster_start_time() THEN 60 ELSE 0 END)) s ORDER BY b.id;
            ALTER TABLE base OWNER TO clove_reader;
            ALTER TABLE ctl OWNER TO clove_reader;
            ALTER VIEW slow_v OWNER TO clove_reader;
        """)

    def start(self, yaml, **kw):
        kw.setdefault("env", {})["PG_PASS"] = PASSWORD
        c = Cloved(yaml, **kw)
        self.addCleanup(c.stop)
        return c

    def test_unreachable_at_start_then_ready(self):
        self.pg.stop()
        yaml = pod(dataset(self.pg, "fed", "base"),
                   dataset(self.pg, "acc", "base", ACCEL),
                   "  - from: file:local.csv\n    name: local\n")
        c = self.start(yaml, files={"local.csv": "a,b\n1,x\n2,y\n"})
        # the runtime is up and every other dataset serves
        self.assertEqual(c.get("/health").status, 200)
        self.assertEqual(c.scalar("SELECT count(*) FROM local"), 2)
        ds = c.datasets()
        for name in ("fed", "acc"):
            self.assertEqual(ds[name]["status"], "Error", name)
            self.assertIn('could not connect to PostgreSQL at "127.0.0.1:%d" for dataset "%s"'
                          % (self.pg.port, name), ds[name]["error_message"])
        # an unreachable source answers 503 (retry later), before registration as after
        r = c.sql("SELECT count(*) FROM fed")
        self.assertEqual(r.status, 503, r.text)
        self.assertIn("dataset fed is not available", r.text)
        self.pg.start()
        for name in ("fed", "acc"):
            c.wait_until(lambda: c.dataset_status(name) == "Ready", timeout=90,
                         what="%s to become Ready" % name)
        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 1000)
        self.assertEqual(c.scalar("SELECT count(*) FROM acc"), 1000)
        self.assertEqual(c.scalar("SELECT v FROM fed WHERE id = 7"), "v7")
        self.assertNotIn(PASSWORD, c.logs() + c.get("/v1/datasets?status=true").text)

    def test_stopped_during_refresh_then_recovers(self):
        yaml = pod(dataset(self.pg, "acc", "slow_v", ACCEL),
                   dataset(self.pg, "fed", "base"),
                   dataset(self.pg, "fed_idle", "base"))
        c = self.start(yaml)
        self.assertEqual(c.scalar("SELECT count(*) FROM acc"), 1000)
        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 1000)
        self.assertEqual(c.scalar("SELECT count(*) FROM fed_idle"), 1000)
        self.pg.psql("INSERT INTO base SELECT g, 'new' || g FROM generate_series(1001, 1500) g;"
                     "UPDATE ctl SET armed = now();")
        mark = self.pg.log_mark()
        self.assertEqual(c.refresh("acc").status, 201)
        self.pg.wait_statement(r'^COPY .*"slow_v"', mark)
        c.wait_until(lambda: c.dataset_status("acc") == "Refreshing", what="refresh to run")
        time.sleep(0.5)  # the refresh now waits inside PostgreSQL (pg_sleep at row 500)
        self.pg.stop()
        c.wait_until(lambda: c.dataset_status("acc") == "Error", timeout=60,
                     what="the refresh to fail")
        err = c.datasets()["acc"]["error_message"]
        self.assertIn('PostgreSQL at "127.0.0.1:%d" for dataset "acc"' % self.pg.port, err)
        # the data loaded before keeps serving
        self.assertEqual(c.scalar("SELECT count(*) FROM acc"), 1000)
        # while PostgreSQL is down, federated queries fail clearly (503: the source is
        # unavailable, not the query wrong)
        r = c.sql("SELECT count(*) FROM fed")
        self.assertEqual(r.status, 503, r.text)
        self.assertIn('for dataset "fed"', r.text)
        self.pg.start()
        # the pool recovers by itself: the first query after the restart succeeds, also on a
        # dataset whose pooled connection died unnoticed
        self.assertEqual(c.scalar("SELECT count(*) FROM fed_idle"), 1500)
        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 1500)
        # and the refresh retries until it succeeds
        c.wait_until(lambda: c.dataset_status("acc") == "Ready", timeout=90,
                     what="the refresh to succeed after the restart")
        # the successful refresh cleared the error it showed
        self.assertIsNone(c.datasets()["acc"]["error_message"])
        self.assertEqual(c.scalar("SELECT count(*) FROM acc"), 1500)
        self.assertEqual(c.scalar("SELECT v FROM acc WHERE id = 1500"), "new1500")
        self.assertNotIn(PASSWORD, c.logs())

    def test_federated_error_while_down_then_ready_by_probe(self):
        self.pg.psql("CREATE TABLE locked (id integer); INSERT INTO locked VALUES (1);"
                     "REVOKE ALL ON locked FROM PUBLIC;")
        yaml = pod(dataset(self.pg, "fed", "base"), dataset(self.pg, "locked", "locked"),
                   dataset(self.pg, "other", "base"))
        c = self.start(yaml, metrics=True)

        def load_state(name):
            return metric(c.metrics(), "dataset_load_state", dataset=name)

        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 1000)
        self.assertEqual(load_state("fed"), 1)
        # errors of a query or of one table are not the source being down
        r = c.sql("SELECT nosuchcolumn FROM fed")
        self.assertEqual(r.status, 400, r.text)
        r = c.sql("SELECT * FROM locked")
        self.assertEqual(r.status, 400, r.text)
        self.assertIn("permission denied", r.text)
        self.assertEqual(c.dataset_status("fed"), "Ready")
        self.assertEqual(c.dataset_status("locked"), "Ready")

        self.pg.stop()
        # the first query that finds PostgreSQL gone fails with its error and puts the dataset
        # in Error; so does a parameterized query that runs whole in PostgreSQL
        r = c.sql("SELECT count(*) FROM fed")
        self.assertEqual(r.status, 503, r.text)
        want = 'PostgreSQL at "127.0.0.1:%d" for dataset "fed"' % self.pg.port
        self.assertIn(want, r.text)
        st = c.datasets()["fed"]
        self.assertEqual(st["status"], "Error")
        self.assertIn(want, st["error_message"])
        self.assertEqual(load_state("fed"), 3)
        # Flight SQL clients get UNAVAILABLE with the source's message (not a transport error)
        p = run_clove(["--endpoint", "grpc://" + c.flight, "sql", "-e",
                       "SELECT count(*) FROM fed"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(want, p.stderr)
        self.assertNotIn("could not connect to clove", p.stderr)
        r = c.sql("SELECT v FROM other WHERE id = $1", params=[7])
        self.assertEqual(r.status, 503, r.text)
        self.assertIn('for dataset "other"', r.text)
        self.assertEqual(c.dataset_status("other"), "Error")
        # a dataset nobody queried does not know yet
        self.assertEqual(c.dataset_status("locked"), "Ready")
        logs = c.logs()
        self.assertIn("dataset fed is in Error: ", logs)
        self.assertIn("probing its source until it answers", logs)

        # PostgreSQL comes back: the probes (SELECT 1) find it, no query needed
        mark = self.pg.log_mark()
        self.pg.start()
        for name in ("fed", "other"):
            c.wait_until(lambda: c.dataset_status(name) == "Ready", timeout=60,
                         what="%s to become Ready by itself" % name)
            self.assertEqual(load_state(name), 1)
            self.assertIsNone(c.datasets()[name]["error_message"])
        self.assertIn("SELECT 1", self.pg.statements(mark))
        self.assertIn('dataset fed is Ready again: its source PostgreSQL at "127.0.0.1:%d" '
                      'answers' % self.pg.port, c.logs())
        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 1000)
        self.assertEqual(c.rows("SELECT v FROM other WHERE id = $1", params=[7]), [{"v": "v7"}])
        self.assertNotIn(PASSWORD, c.logs() + c.get("/v1/datasets?status=true").text)

    def test_query_on_error_dataset_reaches_the_source_at_once(self):
        yaml = pod(dataset(self.pg, "fed", "base"))
        c = self.start(yaml)
        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 1000)
        self.pg.stop()
        self.assertEqual(c.sql("SELECT count(*) FROM fed").status, 503)
        self.assertEqual(c.dataset_status("fed"), "Error")
        self.pg.start()
        # no waiting for a probe: the query tries the source, and its success ends the Error
        self.assertEqual(c.scalar("SELECT count(*) FROM fed"), 1000)
        self.assertEqual(c.dataset_status("fed"), "Ready")


if __name__ == "__main__":
    unittest.main()

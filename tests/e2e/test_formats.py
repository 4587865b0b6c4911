"""
Result formats over HTTP, compared to exact expected text (src/format/README.md): JSON for
every DuckDB type (integer extremes, DECIMAL(38,10), shortest doubles, NULL, dates and times,
TIMESTAMPTZ in UTC whatever the server's time zone, INTERVAL, UUID, BLOB, nested types,
escaped and non-ASCII strings), the Spice envelope's schema, CSV and text/plain cells, empty
answers, and streaming of large answers (first bytes before the end, exact content of 3M rows,
the text/plain row cap, an error after the answer started).
"""
import http.client
import json
import os
import time
import unittest

from harness import Cloved, CloveTest, make_data


def envelope_field(name, data_type):
    return {"name": name, "data_type": data_type, "nullable": True, "dict_id": 0,
            "dict_is_ordered": False, "metadata": {}}


class FormatsTest(CloveTest):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.workdir = tempfile.mkdtemp(prefix="clove-e2e-fmt-")
        make_data(os.path.join(cls.workdir, "data"), 100)
        pod = """\
version: v1
kind: Spicepod
name: formats
datasets:
  - from: file:data/zones.csv
    name: zones
"""
        # a server time zone far from UTC: TIMESTAMPTZ must still come out in UTC
        cls.c = Cloved(pod, workdir=cls.workdir, env={"TZ": "America/New_York"})

    @classmethod
    def tearDownClass(cls):
        import shutil
        try:
            cls.c.stop()
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def json_text(self, sql):
        r = self.c.sql(sql)
        self.assertStatus(r, 200, sql)
        self.assertEqual(r.headers["content-type"], "application/json")
        json.loads(r.text)          # always valid JSON
        return r.text

    def check_json(self, sql, expected):
        self.assertEqual(self.json_text(sql), expected)

    def check_csv(self, sql, expected):
        r = self.c.sql(sql, accept="text/csv")
        self.assertStatus(r, 200, sql)
        self.assertEqual(r.text, expected)

    def check_plain(self, sql, expected):
        r = self.c.sql(sql, accept="text/plain")
        self.assertStatus(r, 200, sql)
        self.assertEqual(r.text, expected)

    # ---- JSON, type by type ---------------------------------------------------------------

    def test_integer_extremes(self):
        self.check_json(
            "SELECT 9223372036854775807::BIGINT a, (-9223372036854775808)::BIGINT b,"
            " 170141183460469231731687303715884105727::HUGEINT c,"
            " (-170141183460469231731687303715884105728)::HUGEINT d,"
            " 18446744073709551615::UBIGINT e,"
            " 340282366920938463463374607431768211455::UHUGEINT f,"
            " (-128)::TINYINT g, 255::UTINYINT h, (-32768)::SMALLINT i, 65535::USMALLINT j,"
            " (-2147483648)::INTEGER k, 4294967295::UINTEGER l, 0::BIGINT m",
            '[{"a":9223372036854775807,"b":-9223372036854775808,'
            '"c":170141183460469231731687303715884105727,'
            '"d":-170141183460469231731687303715884105728,'
            '"e":18446744073709551615,"f":340282366920938463463374607431768211455,'
            '"g":-128,"h":255,"i":-32768,"j":65535,"k":-2147483648,"l":4294967295,"m":0}]')

    def test_decimals(self):
        self.check_json(
            "SELECT 1234567890123456789012345678.0123456789::DECIMAL(38,10) a,"
            " (-0.05)::DECIMAL(10,3) b, 0.1::DECIMAL(38,10) c, 1::DECIMAL(4,0) d,"
            " (-1)::DECIMAL(38,37) e, 99999999999999999999999999999999999999::DECIMAL(38,0) f,"
            " 12.5::DECIMAL(5,2) g, 0::DECIMAL(18,6) h",
            '[{"a":1234567890123456789012345678.0123456789,"b":-0.050,"c":0.1000000000,'
            '"d":1,"e":-1.0000000000000000000000000000000000000,'
            '"f":99999999999999999999999999999999999999,"g":12.50,"h":0.000000}]')

    def test_doubles_shortest_round_trip(self):
        self.check_json(
            "SELECT 0.1::DOUBLE a, 1e300::DOUBLE b, 1.0::DOUBLE c, '-0.0'::DOUBLE d,"
            " 1e10::DOUBLE e, 1.5e-7::DOUBLE f, 1234567890.0::DOUBLE g, 5e-324::DOUBLE h,"
            " 1.7976931348623157e308::DOUBLE i, 123456789012345678::DOUBLE j,"
            " 0.00001::DOUBLE k, 0.000001::DOUBLE l, 100.0::DOUBLE m, -2.5::DOUBLE n,"
            " 0.1::FLOAT o, 3.4028235e38::FLOAT p, 1.0::DOUBLE / 3 q",
            '[{"a":0.1,"b":1.0e300,"c":1.0,"d":-0.0,"e":1.0e10,"f":1.5e-7,"g":1234567890.0,'
            '"h":5.0e-324,"i":1.7976931348623157e308,"j":1.2345678901234568e17,'
            '"k":0.00001,"l":1.0e-6,"m":100.0,"n":-2.5,"o":0.1,"p":3.4028235e38,'
            '"q":0.3333333333333333}]')
        # every value reads back equal
        rows = json.loads(self.json_text(
            "SELECT 0.1::DOUBLE + 0.2::DOUBLE a, pi() b, exp(1) c, 1e-310::DOUBLE d"))
        self.assertEqual(rows, [{"a": 0.1 + 0.2, "b": 3.141592653589793, "c": 2.718281828459045,
                                 "d": 1e-310}])

    def test_nan_and_infinity(self):
        self.check_json("SELECT 'nan'::DOUBLE a, 'inf'::DOUBLE b, '-inf'::DOUBLE c, 'nan'::FLOAT d",
                        '[{"a":null,"b":null,"c":null,"d":null}]')

    def test_nulls(self):
        self.check_json(
            "SELECT NULL a, NULL::INTEGER b, NULL::VARCHAR c, NULL::INTEGER[] d,"
            " NULL::STRUCT(x INT) e, NULL::DATE f, NULL::BLOB g, NULL::DECIMAL(38,10) h",
            '[{"a":null,"b":null,"c":null,"d":null,"e":null,"f":null,"g":null,"h":null}]')

    def test_booleans(self):
        self.check_json("SELECT true a, false b", '[{"a":true,"b":false}]')

    def test_dates_and_times(self):
        self.check_json(
            "SELECT DATE '2024-01-02' a, DATE '0001-01-01' - 1 b, 'infinity'::DATE c,"
            " '-infinity'::DATE d, DATE '10000-01-01' e, DATE '-0043-03-15' f,"
            " TIME '12:34:56' g, TIME '00:00:00.5' h, TIME '01:02:03.000001' i,"
            " TIME '24:00:00' j, TIMETZ '12:34:56+05:30' k, TIMETZ '12:34:56-07:00:30' l",
            '[{"a":"2024-01-02","b":"0000-12-31","c":"infinity","d":"-infinity",'
            '"e":"+10000-01-01","f":"-0043-03-15","g":"12:34:56","h":"00:00:00.500",'
            '"i":"01:02:03.000001","j":"24:00:00","k":"12:34:56+05:30","l":"12:34:56-07:00:30"}]')

    def test_timestamps(self):
        self.check_json(
            "SELECT TIMESTAMP '2024-01-02 03:04:05' a,"
            " TIMESTAMP '2024-01-02 03:04:05.123456' b,"
            " TIMESTAMP_S '2024-01-02 03:04:05' c,"
            " TIMESTAMP_MS '2024-01-02 03:04:05.120' d,"
            " TIMESTAMP_NS '2024-01-02 03:04:05.123456789' e,"
            " 'infinity'::TIMESTAMP f, '-infinity'::TIMESTAMP g,"
            " TIMESTAMP '1969-12-31 23:59:59.999999' h",
            '[{"a":"2024-01-02T03:04:05","b":"2024-01-02T03:04:05.123456",'
            '"c":"2024-01-02T03:04:05","d":"2024-01-02T03:04:05.120",'
            '"e":"2024-01-02T03:04:05.123456789","f":"infinity","g":"-infinity",'
            '"h":"1969-12-31T23:59:59.999999"}]')

    def test_timestamptz_in_utc(self):
        # cloved runs with TZ=America/New_York; answers are UTC with Z
        self.check_json(
            "SELECT TIMESTAMPTZ '2024-01-02 03:04:05.25+02' a,"
            " TIMESTAMPTZ '2024-01-02 03:04:05+00' b,"
            " TIMESTAMP '2024-07-01 12:00:00'::TIMESTAMPTZ c,"
            " TIMESTAMP '2024-01-15 12:00:00'::TIMESTAMPTZ d",
            '[{"a":"2024-01-02T01:04:05.250Z","b":"2024-01-02T03:04:05Z",'
            '"c":"2024-07-01T16:00:00Z","d":"2024-01-15T17:00:00Z"}]')

    def test_intervals(self):
        self.check_json(
            "SELECT INTERVAL '1 year 2 months 3 days 4 hours 5 minutes 6.789 seconds' a,"
            " INTERVAL 0 SECOND b, INTERVAL 36 HOUR c, INTERVAL '-1 day' d, INTERVAL 14 MONTH e",
            '[{"a":"1 year 2 months 3 days 04:05:06.789","b":"00:00:00","c":"36:00:00",'
            '"d":"-1 day","e":"1 year 2 months"}]')

    def test_uuid_blob_bit_enum_bignum(self):
        self.check_json(
            "SELECT '550E8400-E29B-41D4-A716-446655440000'::UUID a, '\\x00\\xFFA'::BLOB b,"
            " ''::BLOB c, '0101'::BIT d, 'b'::ENUM('a', 'b') e,"
            " '123456789012345678901234567890'::VARINT f",
            '[{"a":"550e8400-e29b-41d4-a716-446655440000","b":"00ff41","c":"","d":"0101",'
            '"e":"b","f":123456789012345678901234567890}]')

    def test_nested(self):
        self.check_json(
            "SELECT [1, 2, NULL] a, {'x': 1, 'y': [true, false]} b, MAP {'k1': 1, 'k2': 2} c,"
            " MAP {1: 'a'} d, [[1], []] e, ['a', 'b']::VARCHAR[2] f, [] g, {'a': NULL} h,"
            " [{'s': 'x'}] i, {'a\"b': 1, 'c\\d': 'x'} j,"
            " union_value(num := 2)::UNION(num INTEGER, str VARCHAR) k,"
            " [1.5, NULL]::DOUBLE[] l, [DATE '2024-01-02'] m, MAP {'k': [1]} n",
            '[{"a":[1,2,null],"b":{"x":1,"y":[true,false]},"c":{"k1":1,"k2":2},'
            '"d":[{"key":1,"value":"a"}],"e":[[1],[]],"f":["a","b"],"g":[],"h":{"a":null},'
            '"i":[{"s":"x"}],"j":{"a\\"b":1,"c\\\\d":"x"},"k":2,"l":[1.5,null],'
            '"m":["2024-01-02"],"n":{"k":[1]}}]')

    def test_strings(self):
        self.check_json(
            "SELECT 'a\"b\\c' || chr(10) || chr(13) || chr(9) || chr(8) || chr(12) || chr(1) a,"
            " 'héllo ☃ 😀 日本' b, '' c, chr(8232) d, '</script>' e, chr(127) f",
            '[{"a":"a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001","b":"héllo ☃ 😀 日本","c":"",'
            '"d":"\u2028","e":"</script>","f":"\x7f"}]')

    def test_column_names_escaped_and_duplicates_kept(self):
        self.check_json("SELECT 1 AS \"we\"\"ird\\name\", 2 AS x, 3 AS x, 4 AS \"é\"",
                        '[{"we\\"ird\\\\name":1,"x":2,"x":3,"é":4}]')

    def test_parsed_json_equals_python_values(self):
        rows = json.loads(self.json_text(
            "SELECT range AS i, range * 1.5 AS d, 'v' || range AS s FROM range(3)"))
        self.assertEqual(rows, [{"i": 0, "d": 0.0, "s": "v0"}, {"i": 1, "d": 1.5, "s": "v1"},
                                {"i": 2, "d": 3.0, "s": "v2"}])

    # ---- Spice envelope -------------------------------------------------------------------

    def test_envelope_schema_types(self):
        r = self.c.sql(
            "SELECT 1::BIGINT a, 1.5::DECIMAL(10,2) b, 1::HUGEINT c, 'x'::BLOB d,"
            " DATE '2020-01-01' e, TIME '01:00:00' f, TIMESTAMP '2020-01-01' g,"
            " TIMESTAMPTZ '2020-01-01 00:00:00+00' h, INTERVAL 1 DAY i, 1.0::DOUBLE j,"
            " true k, 1::TINYINT l, 'x' m, 1::INTEGER n, 1::FLOAT o, [1] p, {'q': 1} q",
            accept="application/vnd.spiceai.sql.v1+json")
        self.assertStatus(r, 200)
        doc = r.json()
        self.assertEqual(list(doc.keys()), ["schema", "data", "row_count", "execution_time_ms"])
        f = envelope_field
        self.assertEqual(doc["schema"]["fields"], [
            f("a", "Int64"), f("b", {"Decimal128": [10, 2]}), f("c", {"Decimal128": [38, 0]}),
            f("d", "Binary"), f("e", "Date32"), f("f", {"Time64": "Microsecond"}),
            f("g", {"Timestamp": ["Microsecond", None]}),
            f("h", {"Timestamp": ["Microsecond", "UTC"]}), f("i", {"Interval": "MonthDayNano"}),
            f("j", "Float64"), f("k", "Boolean"), f("l", "Int8"), f("m", "Utf8"), f("n", "Int32"),
            f("o", "Float32"), f("p", {"List": {"name": "l", "data_type": "Int32", "nullable": True,
                                              "dict_id": 0, "dict_is_ordered": False,
                                              "metadata": {}}}),
            f("q", {"Struct": [f("q", "Int32")]}),
        ])
        self.assertEqual(doc["schema"]["metadata"], {})
        self.assertEqual(doc["row_count"], 1)
        self.assertEqual(doc["data"], [{
            "a": 1, "b": 1.5, "c": 1, "d": "78", "e": "2020-01-01", "f": "01:00:00",
            "g": "2020-01-01T00:00:00", "h": "2020-01-01T00:00:00Z", "i": "1 day", "j": 1.0,
            "k": True, "l": 1, "m": "x", "n": 1, "o": 1.0, "p": [1], "q": {"q": 1}}])
        # the data part is byte for byte the application/json answer
        plain = self.c.sql("SELECT 1.5::DECIMAL(10,2) b, 0.1::DOUBLE x").text
        env = self.c.sql("SELECT 1.5::DECIMAL(10,2) b, 0.1::DOUBLE x",
                         accept="application/vnd.spiceai.sql.v1+json").text
        self.assertIn('"data":' + plain + ',"row_count":1,', env)

    # ---- CSV and text/plain cells ---------------------------------------------------------

    def test_csv_cells(self):
        self.check_csv(
            "SELECT 'nan'::DOUBLE a, 'inf'::DOUBLE b, '-inf'::DOUBLE c, [1, 2] d,"
            " {'x': 'a,b'} e, NULL f, '' g, 'a\"b' h, 'x' || chr(10) || 'y' i,"
            " '\\x00\\xFF'::BLOB j, 0.1::DOUBLE k, 1e300::DOUBLE l, (-0.05)::DECIMAL(10,3) m,"
            " DATE '2024-01-02' n, TIMESTAMPTZ '2024-01-02 03:04:05+02' o, true p, 'x y' q,"
            " ' lead' r, INTERVAL 1 DAY s, 'é,日本' t, 18446744073709551615::UBIGINT u",
            'a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u\n'
            'NaN,inf,-inf,"[1,2]","{""x"":""a,b""}",,,"a""b","x\ny",00ff,0.1,1.0e300,-0.050,'
            '2024-01-02,2024-01-02T01:04:05Z,true,x y, lead,1 day,"é,日本",'
            '18446744073709551615\n')

    def test_csv_header_even_without_rows(self):
        self.check_csv("SELECT 1 AS a, 2 AS b WHERE false", "a,b\n")

    def test_csv_header_quoting(self):
        self.check_csv('SELECT 1 AS "a,b", 2 AS "c""d"', '"a,b","c""d"\n1,2\n')

    def test_text_plain_table(self):
        self.check_plain(
            "SELECT 'nan'::DOUBLE i, NULL n, 'x' || chr(10) || 'y' g, 'héllo' h, 12345 k",
            "+-----+---+---+-------+-------+\n"
            "| i   | n | g | h     | k     |\n"
            "+-----+---+---+-------+-------+\n"
            "| NaN |   | x | héllo | 12345 |\n"
            "|     |   | y |       |       |\n"
            "+-----+---+---+-------+-------+")

    def test_empty_answers_every_format(self):
        sql = "SELECT 1 AS a WHERE false"
        self.check_json(sql, "[]")
        self.check_csv(sql, "a\n")
        self.check_plain(sql, "+---+\n| a |\n+---+\n+---+")
        r = self.c.sql(sql, accept="application/vnd.spiceai.sql.v1+json")
        doc = r.json()
        self.assertEqual(doc["data"], [])
        self.assertEqual(doc["row_count"], 0)
        self.assertEqual(doc["schema"]["fields"], [envelope_field("a", "Int32")])

    def test_no_columns_statement(self):
        # DESCRIBE / SHOW answer like queries
        rows = json.loads(self.json_text("DESCRIBE zones"))
        self.assertEqual([(x["column_name"], x["column_type"]) for x in rows],
                         [("zone_id", "BIGINT"), ("zone_name", "VARCHAR"), ("borough", "VARCHAR")])
        rows = json.loads(self.json_text("SHOW TABLES"))
        self.assertEqual(rows, [{"name": "zones"}])

    def test_arrow_ipc_stream_framing(self):
        # the Arrow answer itself is checked by an independent decoder elsewhere; here only
        # the HTTP side: media type, IPC stream framing, end-of-stream marker
        r = self.c.sql("SELECT range AS i FROM range(5000)",
                       accept="application/vnd.apache.arrow.stream")
        self.assertStatus(r, 200)
        self.assertEqual(r.headers["content-type"], "application/vnd.apache.arrow.stream")
        self.assertTrue(r.body.startswith(b"\xff\xff\xff\xff"), r.body[:16])
        self.assertTrue(r.body.endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00"), r.body[-16:])
        self.assertIn(b"i", r.body[:400])

    # ---- large answers stream -------------------------------------------------------------

    def read_all_timed(self, sql, accept=None):
        t0 = time.monotonic()
        conn, r = self.c.open_stream(sql, accept=accept, timeout=120)
        try:
            first = r.read(1)
            t_first = time.monotonic() - t0
            parts = [first]
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                parts.append(b)
            total = time.monotonic() - t0
            return r, b"".join(parts), t_first, total
        finally:
            conn.close()

    def test_large_json_answer_streams_and_is_exact(self):
        n = 3000000
        r, body, t_first, total = self.read_all_timed(
            "SELECT range AS i, md5(range::VARCHAR) AS h FROM range(%d)" % n)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertIsNone(r.getheader("Content-Length"))
        # the first bytes come long before the last: the answer is not built in memory first
        self.assertLess(t_first, total / 4, "first byte %.3fs, whole answer %.3fs" % (t_first, total))
        self.assertTrue(body.startswith(b'[{"i":0,"h":"cfcd208495d565ef66e7dff9f98764da"},'))
        self.assertTrue(body.endswith(b'}]'))
        self.assertEqual(body.count(b'{"i":'), n)
        # exact content of a simpler, equally long answer
        r, body, _, _ = self.read_all_timed("SELECT range AS i FROM range(%d)" % n)
        self.assertEqual(r.status, 200)
        expected = ("[" + ",".join('{"i":%d}' % i for i in range(n)) + "]").encode()
        self.assertEqual(len(body), len(expected))
        self.assertTrue(body == expected, "3M-row JSON answer differs from the expected text")

    def test_large_csv_answer_line_count(self):
        n = 3000000
        r, body, t_first, total = self.read_all_timed(
            "SELECT range AS i, range %% 7 AS m FROM range(%d)" % n, accept="text/csv")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(body.count(b"\n"), n + 1)
        self.assertTrue(body.startswith(b"i,m\n0,0\n1,1\n"))
        self.assertTrue(body.endswith(b"\n%d,%d\n" % (n - 1, (n - 1) % 7)))

    def test_small_answer_has_content_length(self):
        r = self.c.sql("SELECT * FROM range(1000)")
        self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("content-length"), str(len(r.body)))
        self.assertNotIn("transfer-encoding", r.headers)

    def test_text_plain_row_cap(self):
        r = self.c.sql("SELECT * FROM range(1000001)", accept="text/plain")
        self.assertStatus(r, 400)
        self.assertIn("1000000", r.text)
        self.assertIn("text/csv", r.text)
        r = self.c.sql("SELECT * FROM range(1000000)", accept="text/plain")
        self.assertStatus(r, 200)
        self.assertEqual(r.text.count("\n"), 1000000 + 3)

    def test_error_after_answer_started_truncates(self):
        # the query fails after the 200 went out: the transfer must end without its final
        # chunk so the client can tell, and the answer must not look complete
        conn, r = self.c.open_stream(
            "SELECT CASE WHEN range < 2900000 THEN range ELSE error('boom') END AS v "
            "FROM range(3000000)", timeout=60)
        try:
            if r.status == 400:
                self.assertIn("boom", r.read().decode())
                return
            self.assertEqual(r.status, 200)
            with self.assertRaises(http.client.IncompleteRead):
                r.read()
        finally:
            conn.close()
        # the server goes on serving
        self.assertEqual(self.c.scalar("SELECT 42"), 42)


if __name__ == "__main__":
    unittest.main()

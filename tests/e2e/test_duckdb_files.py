"""
DuckDB files as sources (`from: duckdb:[schema.]table`, `params.duckdb_open`): federated and
accelerated, read-only (the file is byte-for-byte unchanged afterwards), the attached catalog
out of users' reach, and clear errors for a missing file, a missing table, a file that is not
a DuckDB database and a missing duckdb_open. The source file is written by a first cloved (a
duckdb file-mode acceleration), so the test needs nothing but clove itself.
"""
import hashlib
import os
import shutil
import tempfile
import unittest

from harness import Cloved

CSV = "id,name,amount\n1,alpha,1.5\n2,beta,\n3,gamma,-2.25\n4,délta,10\n"


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class DuckDBFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="clove-duckdb-src-")
        cls.db = os.path.join(cls.dir, "source.db")
        pod = ("version: v1\nkind: Spicepod\nname: writer\ndatasets:\n"
               "  - from: file:items.csv\n    name: items\n"
               "    acceleration:\n      enabled: true\n      engine: duckdb\n      mode: file\n"
               "      params:\n        duckdb_file: %s\n" % cls.db)
        c = Cloved(pod, files={"items.csv": CSV})
        try:
            assert c.scalar("SELECT count(*) FROM items") == 4
        finally:
            c.stop()
        shutil.rmtree(c.dir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def start(self, datasets, **kw):
        pod = "version: v1\nkind: Spicepod\nname: reader\ndatasets:\n" + datasets
        c = Cloved(pod, **kw)
        self.addCleanup(c.stop)
        return c

    def test_federated_and_accelerated(self):
        before = sha(self.db)
        c = self.start(
            "  - from: duckdb:items\n    name: fed\n    params:\n      duckdb_open: %s\n"
            "  - from: duckdb:main.items\n    name: acc\n    params:\n      duckdb_open: %s\n"
            "    acceleration:\n      enabled: true\n" % (self.db, self.db))
        ds = c.datasets()
        self.assertEqual(ds["fed"]["status"], "Ready")
        self.assertEqual(ds["acc"]["status"], "Ready")
        for name in ("fed", "acc"):
            self.assertEqual(c.rows("SELECT id, name, CAST(amount AS VARCHAR) AS a FROM %s "
                                    "ORDER BY id" % name),
                             [{"id": 1, "name": "alpha", "a": "1.5"},
                              {"id": 2, "name": "beta", "a": None},
                              {"id": 3, "name": "gamma", "a": "-2.25"},
                              {"id": 4, "name": "délta", "a": "10.0"}])
        self.assertEqual(c.scalar("SELECT sum(id) FROM fed WHERE amount > 0"), 5)
        # the attached file is not a catalog users may name
        for q in ("SELECT * FROM src_1.main.items", "SELECT * FROM src_1.items"):
            r = c.sql(q)
            self.assertEqual(r.status, 400, q)
        c.stop()
        self.assertEqual(sha(self.db), before)

    def test_relative_path_and_shared_file(self):
        # a path relative to the spicepod's directory; two datasets share one ATTACH
        work = tempfile.mkdtemp(prefix="clove-duckdb-rel-")
        self.addCleanup(shutil.rmtree, work, True)
        shutil.copy(self.db, os.path.join(work, "copy.db"))
        c = self.start("  - from: duckdb:items\n    name: a\n    params:\n"
                       "      duckdb_open: copy.db\n"
                       "  - from: duckdb:\"items\"\n    name: b\n    params:\n"
                       "      duckdb_open: ./copy.db\n", workdir=work)
        self.assertEqual(c.scalar("SELECT count(*) FROM a"), 4)
        self.assertEqual(c.scalar("SELECT count(*) FROM b"), 4)

    def test_errors(self):
        notdb = os.path.join(self.dir, "not_a_db.db")
        with open(notdb, "w") as f:
            f.write(CSV)
        c = self.start(
            "  - from: duckdb:items\n    name: no_file\n    params:\n"
            "      duckdb_open: %s/missing.db\n"
            "  - from: duckdb:nope\n    name: no_table\n    params:\n      duckdb_open: %s\n"
            "  - from: duckdb:items\n    name: not_db\n    params:\n      duckdb_open: %s\n"
            "  - from: duckdb:items\n    name: no_param\n"
            "  - from: duckdb:a.b.c\n    name: bad_from\n    params:\n      duckdb_open: %s\n"
            "  - from: duckdb:items\n    name: good\n    params:\n      duckdb_open: %s\n"
            % (self.dir, self.db, notdb, self.db, self.db))
        ds = c.datasets()
        self.assertEqual(ds["good"]["status"], "Ready")
        want = {
            "no_file": 'DuckDB file "%s/missing.db" of dataset no_file cannot be opened: No such '
                       'file or directory' % self.dir,
            "no_table": 'table "main.nope" does not exist in DuckDB file "%s" (dataset no_table)'
                        % self.db,
            "not_db": 'could not open DuckDB file "%s" of dataset not_db read-only' % notdb,
            "no_param": 'params.duckdb_open is required for from: "duckdb:items"',
            "bad_from": 'from: expected duckdb:[schema.]table; got "duckdb:a.b.c"',
        }
        for name, msg in want.items():
            self.assertEqual(ds[name]["status"], "Error", name)
            self.assertIn(msg, ds[name]["error_message"], name)
        self.assertEqual(c.scalar("SELECT count(*) FROM good"), 4)


if __name__ == "__main__":
    unittest.main()

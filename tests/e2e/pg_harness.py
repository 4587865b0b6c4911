"""
A private PostgreSQL 15 cluster for tests: initdb + pg_ctl from /usr/lib/postgresql/15/bin in a
temporary directory, run as the `postgres` user when the tests run as root (PostgreSQL refuses
root), listening on a free loopback port and a private socket directory, with
`log_statement=all` so tests read what crossed the wire. Local socket connections trust the
superuser (for loading fixtures with psql); TCP connections need a password
(scram-sha-256), which is what clove uses. Always stopped: `stop()` is idempotent, registered
with atexit, and PgCluster works as a context manager.

Standard library only.
"""
import atexit
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

from harness import free_port

PG_BIN = os.environ.get("CLOVE_PG_BIN", "/usr/lib/postgresql/15/bin")
PSQL = shutil.which("psql") or os.path.join(PG_BIN, "psql")

PASSWORD = "s3cret-pg-Passw0rd"
# how clove's check of a table's columns starts (src/connectors/postgres.c, COLUMNS_EXPR)
COLUMN_CHECK = "SELECT ((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, "
USER = "clove_reader"


def _as_postgres():
    """argv prefix that runs a command as the postgres user when we are root."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


class PgCluster:
    def __init__(self, db="clovedb"):
        self.dir = tempfile.mkdtemp(prefix="clove-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "postgres.log")
        os.makedirs(self.sock)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.dir, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.db = db
        self.port = None
        self.running = False
        self._stopped_for_good = False
        atexit.register(self.destroy)
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                   "--locale=C.UTF-8"], timeout=120)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\nlog_statement = 'all'\nlogging_collector = off\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\n"
                    "unix_socket_directories = '%s'\nlisten_addresses = '127.0.0.1'\n"
                    "log_line_prefix = '%%m [%%p] %%a '\nmax_connections = 200\n" % self.sock)
        self.start()
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (USER, PASSWORD), db="postgres")
        self.psql("CREATE DATABASE %s OWNER %s" % (db, USER), db="postgres")

    # ---- process control -------------------------------------------------------------------
    def _run(self, argv, timeout=60, check=True, input=None):
        p = subprocess.run(_as_postgres() + argv, capture_output=True, text=True,
                           timeout=timeout, input=input, cwd=self.dir)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s %s" % (argv[0], p.returncode, p.stdout,
                                                           p.stderr))
        return p

    def start(self, port=None):
        """Starts the server, on the same port as before unless told otherwise."""
        if self.running:
            return
        for attempt in range(5):
            self.port = port or self.port or free_port()
            p = self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log,
                           "-w", "-t", "60", "-o", "-p %d" % self.port, "start"], check=False,
                          timeout=90)
            if p.returncode == 0:
                self.running = True
                return
            if port is None and "could not bind" in self._log_text():
                self.port = None  # a parallel test took the port: try another
                continue
            raise RuntimeError("pg_ctl start failed: %s %s\n%s" % (p.stdout, p.stderr,
                                                                   self._log_text()[-2000:]))
        raise RuntimeError("could not start PostgreSQL on a free port")

    def stop(self, mode="fast"):
        if not self.running:
            return
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t",
                   "60", "stop"], check=False, timeout=90)
        self.running = False

    def restart(self):
        self.stop()
        self.start()

    def destroy(self):
        if self._stopped_for_good:
            return
        self._stopped_for_good = True
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    # ---- SQL -------------------------------------------------------------------------------
    def psql(self, sql, db=None):
        """Runs SQL as the superuser over the private socket; returns stdout (unaligned,
        tuples only, | separated)."""
        p = self._run([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                       "-p", str(self.port), "-U", "postgres", "-d", db or self.db],
                      input=sql, timeout=300)
        return p.stdout

    def params(self, **extra):
        """Spicepod params for a dataset reading this cluster (the password as a secret)."""
        p = {"pg_host": "127.0.0.1", "pg_port": str(self.port), "pg_db": self.db,
             "pg_user": USER, "pg_pass": "${secrets:PG_PASS}", "pg_sslmode": "disable"}
        p.update(extra)
        return p

    def params_yaml(self, indent=6, **extra):
        pad = " " * indent
        return "".join('%s%s: "%s"\n' % (pad, k, v) for k, v in self.params(**extra).items())

    # ---- the statement log -----------------------------------------------------------------
    def _log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_mark(self):
        """A position in the statement log; statements() returns what came after it."""
        return len(self._log_text())

    def statements(self, since=0, app="clove", params=False, checks=False):
        """Statements logged since a mark, by connections whose application_name is app: simple
        queries ("statement:") and extended-protocol executions ("execute <name>:"); with
        params, each execution's bound values are appended as " -- parameters: $1 = '42'".
        clove's column checks (the catalog query sent before each scan's COPY in the same
        simple query, or alone before a refresh) are left out unless checks is true."""
        out = []
        text = self._log_text()[since:]
        head = r"^\S+ \S+ \S+ \[\d+\] (\S*) "
        for m in re.finditer(head + r"(LOG|DETAIL):  (statement|execute [^:]*|parameters): "
                             r"(.*?)(?=" + head + r"|\Z)", text, re.S | re.M):
            if app is not None and m.group(1) != app:
                continue
            if m.group(2) == "DETAIL":
                if params and out and m.group(3) == "parameters":
                    out[-1] += " -- parameters: " + m.group(4).strip()
                continue
            verb = m.group(3)
            text = m.group(4).strip()
            if text.startswith(COLUMN_CHECK):
                end = text.find("); COPY (")
                if checks:
                    out.append(text if end < 0 else text[:end + 1])
                if end < 0:
                    continue
                text = text[end + 3:]
            out.append((verb + ": " if verb.startswith("execute") else "") + text)
        return out

    def wait_statement(self, pattern, since=0, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            for s in self.statements(since):
                if re.search(pattern, s):
                    return s
            time.sleep(0.05)
        raise AssertionError("no statement matching %r in the PostgreSQL log; got %r"
                             % (pattern, self.statements(since)))

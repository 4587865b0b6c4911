"""
End-to-end harness: starts a real cloved on free loopback ports with a spicepod written by
the test, talks to it over HTTP, and always stops it (even when the test fails).
Standard library only.

stop() also fails the test when cloved's log holds a sanitizer report (ASan, UBSan, LSan) or
when cloved did not exit 0 by itself after SIGTERM/SIGINT, so every test doubles as a check
of a clean shutdown.
"""
import errno
import http.client
import json
import os
import re
import shutil
import signal
from signal import SIGTERM
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

SOURCE_DIR = os.environ.get("CLOVE_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN_DIR = os.environ.get("CLOVE_BIN_DIR", os.path.join(SOURCE_DIR, "build", "bin"))
CLOVED = os.path.join(BIN_DIR, "cloved")
CLOVE = os.path.join(BIN_DIR, "clove")
DATAGEN = os.path.join(BIN_DIR, "clove-example-data")

# Text in cloved's log that means a sanitizer found something.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "ERROR: UndefinedBehaviorSanitizer")

# Make sanitizer reports land in the log and make leaks/UB fail loudly. Harmless without ASan.
SANITIZER_ENV = {
    "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1"),
    "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "print_stacktrace=1"),
}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port nothing listens on (bound and released; good enough for a test)."""
    return free_port()


def sanitizer_report(text):
    """Returns the first sanitizer report in text (a few lines around it), or None."""
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            start = text.rfind("\n", 0, max(0, i - 200)) + 1
            return text[start:i + 4000]
    return None


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


class Cloved:
    """A running cloved. Use as a context manager or call stop()."""

    def __init__(self, spicepod_yaml, files=None, args=None, env=None, wait_ready=True,
                 workdir=None, metrics=False, dotenv=None, ready_timeout=60, tls_ca=None):
        # tls_ca: cloved serves HTTPS (its args or spicepod enable TLS); requests verify the
        # server against this CA file
        self.tls_ca = tls_ca
        self.dir = workdir or tempfile.mkdtemp(prefix="clove-e2e-")
        self.own_dir = workdir is None
        self.stopped = False
        for name, content in (files or {}).items():
            path = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(path, mode) as f:
                f.write(content)
        if spicepod_yaml is not None:
            with open(os.path.join(self.dir, "spicepod.yaml"), "w") as f:
                f.write(spicepod_yaml)
        if dotenv is not None:
            with open(os.path.join(self.dir, ".env"), "w") as f:
                f.write(dotenv)
        full_env = dict(os.environ)
        full_env.update(SANITIZER_ENV)
        full_env.update(env or {})
        # Ports are picked free and bound by cloved a moment later; when a parallel test takes
        # one in between, cloved fails to bind: start again on other ports.
        for attempt in range(3):
            self._spawn(args, metrics, full_env)
            try:
                self.wait_health()
                break
            except Exception:
                log = self.logs()
                # MHD says "Address already in use"; gRPC's bind failure only "could not listen"
                lost_race = (self.proc.poll() is not None and attempt < 2
                             and ("Address already in use" in log or "could not listen" in log))
                self.stop(check=False, cleanup=not lost_race)
                if not lost_race:
                    raise
                self.stopped = False
        try:
            if wait_ready:
                self.wait_ready(ready_timeout)
        except Exception:
            self.stop(check=False)
            raise

    def _spawn(self, args, metrics, full_env):
        self.port = free_port()
        self.http = "127.0.0.1:%d" % self.port
        self.endpoint = ("https://" if self.tls_ca else "http://") + self.http
        self.metrics_port = free_port() if metrics else None
        self.metrics_addr = "127.0.0.1:%d" % self.metrics_port if metrics else None
        self.flight = "127.0.0.1:%d" % free_port()
        cmd = [CLOVED, "--http", self.http, "--flight", self.flight]
        if metrics:
            cmd += ["--metrics", self.metrics_addr]
        cmd += list(args or []) + [self.dir]
        self.cmd = cmd
        # one log per start, so a restart in the same directory keeps the earlier log
        n = 0
        while os.path.exists(os.path.join(self.dir, "cloved%s.log" % (n or ""))):
            n += 1
        self.log_path = os.path.join(self.dir, "cloved%s.log" % (n or ""))
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        self.pid = self.proc.pid

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        # a failing test keeps its own exception; otherwise stop() may raise
        self.stop(check=exc_type is None)

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_health(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("cloved exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                if self.get("/health", timeout=5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("cloved did not answer /health:\n" + self.logs())

    def wait_ready(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if self.get("/v1/ready").status == 200:
                return
            time.sleep(0.02)
        raise RuntimeError("cloved never became ready:\n" + self.logs())

    def wait_until(self, predicate, timeout=30, what="condition", interval=0.05):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        if callable(what):            # described at failure time, with the state then
            what = what()
        raise AssertionError("timed out after %ss waiting for %s (last: %r)\n%s"
                             % (timeout, what, last, self.logs()[-4000:]))

    # ---- HTTP ------------------------------------------------------------------------------

    def connection(self, port=None, timeout=60):
        if self.tls_ca:
            ctx = ssl.create_default_context(cafile=self.tls_ca)
            return http.client.HTTPSConnection("127.0.0.1", port or self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, port=None, timeout=60):
        conn = self.connection(port, timeout)
        try:
            if isinstance(body, str):
                body = body.encode("utf-8")
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def sql(self, sql, accept=None, params=None, headers=None, timeout=60):
        h = dict(headers or {})
        if accept:
            h["Accept"] = accept
        if params is not None:
            h["Content-Type"] = "application/json"
            return self.request("POST", "/v1/sql", json.dumps({"sql": sql, "parameters": params}),
                                h, timeout=timeout)
        return self.request("POST", "/v1/sql", sql, h, timeout=timeout)

    def rows(self, sql, params=None):
        r = self.sql(sql, params=params)
        if r.status != 200:
            raise AssertionError("query failed (%d): %s\n%s" % (r.status, r.text, sql))
        return r.json()

    def scalar(self, sql):
        rows = self.rows(sql)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise AssertionError("expected one value from %s, got %r" % (sql, rows))
        return list(rows[0].values())[0]

    def open_stream(self, sql, accept=None, timeout=60):
        """Sends a query and returns (connection, response) with the body still unread, so
        the caller can read it piece by piece (or stall). Caller closes the connection."""
        conn = self.connection(timeout=timeout)
        h = {"Accept": accept} if accept else {}
        conn.request("POST", "/v1/sql", body=sql.encode("utf-8"), headers=h)
        return conn, conn.getresponse()

    def datasets(self):
        r = self.get("/v1/datasets?status=true")
        if r.status != 200:
            raise AssertionError("GET /v1/datasets?status=true: %r" % r)
        return {d["name"]: d for d in r.json()}

    def dataset_status(self, name):
        return self.datasets()[name]["status"]

    def refresh(self, name):
        return self.post("/v1/datasets/%s/acceleration/refresh" % name, "")

    # ---- metrics ---------------------------------------------------------------------------

    def metrics_text(self, path="/metrics"):
        r = self.get(path, port=self.metrics_port)
        if r.status != 200:
            raise AssertionError("metrics endpoint answered %r" % r)
        return r.text

    def metrics(self):
        return parse_prometheus(self.metrics_text())

    # ---- CLI -------------------------------------------------------------------------------

    def clove(self, *args, input=None, endpoint=None, env=None, timeout=60):
        return run_clove(["--endpoint", endpoint or self.endpoint] + list(args), input=input,
                         env=env, timeout=timeout)

    # ---- process ---------------------------------------------------------------------------

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30):
        """Waits for cloved to exit by itself; returns its exit code (raises on timeout)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("cloved did not exit within %ss\n%s"
                                 % (timeout, self.logs()[-4000:]))

    def stop(self, sig=SIGTERM, timeout=30, check=True, cleanup=True):
        """Stops cloved (if still running) and cleans up. With check, raises AssertionError
        when cloved needed SIGKILL, exited non-zero after the signal, or logged a sanitizer
        report."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        problems = []
        signalled = False
        if self.proc.poll() is None:
            signalled = True
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append("cloved did not exit within %ss of %s and was killed"
                                % (timeout, signal.Signals(sig).name))
        self.log.close()
        text = self.logs()
        report = sanitizer_report(text)
        if report:
            problems.append("sanitizer report in cloved's log:\n" + report)
        if signalled and self.proc.returncode != 0 and not problems:
            problems.append("cloved exited with %s after %s (expected 0)"
                            % (self.proc.returncode, signal.Signals(sig).name))
        if self.own_dir and cleanup and not problems:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems and check:
            raise AssertionError("\n".join(problems) + "\n--- log tail ---\n" + text[-3000:]
                                 + "\n(directory kept: %s)" % self.dir)
        return self.proc.returncode


def run_clove(args, input=None, env=None, timeout=60):
    """Runs the clove CLI; returns CompletedProcess with text stdout/stderr. Fails the test
    when the CLI's stderr holds a sanitizer report."""
    full_env = dict(os.environ)
    full_env.update(SANITIZER_ENV)
    full_env.pop("CLOVE_ENDPOINT", None)
    full_env.pop("CLOVE_API_KEY", None)
    full_env.update(env or {})
    p = subprocess.run([CLOVE] + list(args), input=input, capture_output=True, text=True,
                       env=full_env, timeout=timeout)
    report = sanitizer_report(p.stderr)
    if report:
        raise AssertionError("sanitizer report from clove %s:\n%s" % (args, report))
    return p


def parse_prometheus(text):
    """{(name, frozenset(labels.items())): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$', line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        labels = {}
        if m.group(3):
            for lm in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3)):
                labels[lm.group(1)] = lm.group(2)
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def metric(samples, name, **labels):
    """The value of one sample (0.0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def make_data(dirpath, rows=1000):
    """Writes the quickstart data (taxi_trips.parquet, zones.csv) into dirpath."""
    subprocess.run([DATAGEN, dirpath, str(rows)], check=True, stdout=subprocess.DEVNULL)


def write_atomic(path, content):
    """Writes a file and renames it into place, so a reader sees the old or the new file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp-%d-%d" % (path, os.getpid(), threading.get_ident())
    with open(tmp, "wb" if isinstance(content, bytes) else "w") as f:
        f.write(content)
    os.replace(tmp, path)


def csv_text(header, rows):
    return ",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows)


class Fifo:
    """A named pipe used as a dataset's source file: a load that reads it blocks until the
    test feeds it, so "still loading" states can be observed without timing games."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.mkfifo(path)

    def feed(self, text, timeout=30):
        """Writes text for one reader (waits up to timeout for the reader to open the pipe)."""
        end = time.time() + timeout
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                if e.errno != errno.ENXIO or time.time() > end:
                    raise
                time.sleep(0.02)
        os.set_blocking(fd, True)
        try:
            data = text.encode("utf-8")
            while data:
                n = os.write(fd, data)
                data = data[n:]
        finally:
            os.close(fd)

    def release(self):
        """Unblocks a reader waiting on the pipe (it sees an empty file). Never blocks."""
        for _ in range(50):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                return
            time.sleep(0.02)


class CloveTest(unittest.TestCase):
    maxDiff = None

    def start(self, spicepod_yaml, **kw):
        """Starts a cloved that is stopped (and checked) when the test ends."""
        c = Cloved(spicepod_yaml, **kw)
        self.addCleanup(c.stop)
        return c

    def tempdir(self):
        d = tempfile.mkdtemp(prefix="clove-e2e-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def assertStatus(self, response, status, msg=None):
        self.assertEqual(response.status, status,
                         "%s%r" % ("%s: " % (msg,) if msg else "", response))

"""
End-to-end harness: starts a real cloved on free loopback ports with a spicepod written by
the test, talks to it over HTTP, and always stops it (even when the test fails).
Standard library only.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

SOURCE_DIR = os.environ.get("CLOVE_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN_DIR = os.environ.get("CLOVE_BIN_DIR", os.path.join(SOURCE_DIR, "build", "bin"))
CLOVED = os.path.join(BIN_DIR, "cloved")
CLOVE = os.path.join(BIN_DIR, "clove")
DATAGEN = os.path.join(BIN_DIR, "clove-example-data")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Cloved:
    """A running cloved. Use as a context manager or call stop()."""

    def __init__(self, spicepod_yaml, files=None, args=None, env=None, wait_ready=True,
                 workdir=None, metrics=False, dotenv=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="clove-e2e-")
        self.own_dir = workdir is None
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
        self.port = free_port()
        self.http = "127.0.0.1:%d" % self.port
        self.metrics_port = free_port() if metrics else None
        cmd = [CLOVED, "--http", self.http, "--flight", "127.0.0.1:%d" % free_port()]
        if metrics:
            cmd += ["--metrics", "127.0.0.1:%d" % self.metrics_port]
        cmd += list(args or []) + [self.dir]
        self.log_path = os.path.join(self.dir, "cloved.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        try:
            self.wait_health()
            if wait_ready:
                self.wait_ready()
        except Exception:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def logs(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_health(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("cloved exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                if self.get("/health").status == 200:
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

    def wait_until(self, predicate, timeout=30, what="condition"):
        end = time.time() + timeout
        while time.time() < end:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s\n%s" % (what, self.logs()))

    def request(self, method, path, body=None, headers=None, port=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
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

    def sql(self, sql, accept=None, params=None, headers=None):
        h = dict(headers or {})
        if accept:
            h["Accept"] = accept
        if params is not None:
            h["Content-Type"] = "application/json"
            return self.request("POST", "/v1/sql", json.dumps({"sql": sql, "parameters": params}), h)
        return self.request("POST", "/v1/sql", sql, h)

    def rows(self, sql, params=None):
        r = self.sql(sql, params=params)
        if r.status != 200:
            raise AssertionError("query failed (%d): %s\n%s" % (r.status, r.text, sql))
        return r.json()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


def make_data(dirpath, rows=1000):
    """Writes the quickstart data (taxi_trips.parquet, zones.csv) into dirpath."""
    subprocess.run([DATAGEN, dirpath, str(rows)], check=True, stdout=subprocess.DEVNULL)


class CloveTest(unittest.TestCase):
    maxDiff = None

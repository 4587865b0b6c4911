"""
S3 test peer: starts s3rver (npm, a real S3 HTTP API; tests/s3/package.json) on a free loopback
port with a temporary directory, and always stops it. Objects are written through the S3 API
itself, signed with SigV4 (stdlib hmac). FaultProxy sits in front of s3rver: it counts the
requests it forwards (listings, object GETs, by key) and can answer 500 or stall on demand.
Standard library only.
"""
import datetime
import hashlib
import hmac
import http.client
import http.server
import os
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.parse

from harness import SOURCE_DIR, free_port

S3RVER_DIR = os.path.join(SOURCE_DIR, "tests", "s3")
S3RVER_JS = os.path.join(S3RVER_DIR, "node_modules", "s3rver", "bin", "s3rver.js")
KEY = "S3RVER"
SECRET = "S3RVER"


def available():
    return os.path.exists(S3RVER_JS) and shutil.which("node") is not None


def _sign(method, host, path, query, headers, payload_hash, region="us-east-1"):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = now.strftime("%Y%m%d")
    headers = dict(headers)
    headers["host"] = host
    headers["x-amz-date"] = amz_date
    headers["x-amz-content-sha256"] = payload_hash
    signed = sorted(k.lower() for k in headers)
    canon_headers = "".join("%s:%s\n" % (k, str(headers[k]).strip()) for k in signed)
    canon_query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                                      urllib.parse.quote(v, safe="-_.~"))
                           for k, v in sorted(query))
    canon = "\n".join([method, path, canon_query, canon_headers, ";".join(signed), payload_hash])
    scope = "%s/%s/s3/aws4_request" % (date, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
    k = hmac.new(("AWS4" + SECRET).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                                % (KEY, scope, ";".join(signed), sig))
    del headers["host"]
    return headers


class S3rver:
    """A running s3rver. Use as a context manager or call stop()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="clove-s3rver-")
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "s3rver.log"), "wb")
        # s3rver's continuation tokens use a cipher OpenSSL 3 only has in its legacy provider
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", S3RVER_JS, "-d", os.path.join(self.dir, "data"),
             "-a", "127.0.0.1", "-p", str(self.port), "--no-vhost-buckets"],
            stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.time() > end:
                    self.stop()
                    raise RuntimeError("s3rver did not start")
                time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, query=(), body=b""):
        host = "127.0.0.1:%d" % self.port
        headers = _sign(method, host, urllib.parse.quote(path, safe="/-_.~"), list(query), {},
                        hashlib.sha256(body).hexdigest())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            url = urllib.parse.quote(path, safe="/-_.~")
            if query:
                url += "?" + urllib.parse.urlencode(list(query))
            conn.request(method, url, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status >= 300:
                raise RuntimeError("s3rver %s %s: %d %s" % (method, path, r.status, data[:300]))
            return r, data
        finally:
            conn.close()

    def create_bucket(self, bucket):
        self.request("PUT", "/" + bucket)

    def put(self, bucket, key, data):
        if isinstance(data, str):
            data = data.encode()
        r, _ = self.request("PUT", "/%s/%s" % (bucket, key), body=data)
        return r.getheader("ETag")

    def put_file(self, bucket, key, path):
        with open(path, "rb") as f:
            return self.put(bucket, key, f.read())

    def delete(self, bucket, key):
        self.request("DELETE", "/%s/%s" % (bucket, key))


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        proxy = self.server.proxy
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        kind = "list" if "list-type" in query else "get" if self.command == "GET" else "other"
        key = urllib.parse.unquote(parsed.path).split("/", 2)[2] if kind == "get" else None
        with proxy.lock:
            proxy.requests.append((kind, key, dict(self.headers)))
            proxy.paths.append(self.path)
            fail = (proxy.fail_next.get(kind, 0) > 0 or proxy.fail_always.get(kind, False) or
                    (key is not None and key in proxy.fail_keys))
            if proxy.fail_next.get(kind, 0) > 0:
                proxy.fail_next[kind] -= 1
            stall = proxy.stall_keys.get(key, proxy.stall_s) if key else proxy.stall_s
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if stall:
            time.sleep(stall)
        if fail:
            msg = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                   b'<Message>injected failure</Message></Error>')
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("connection", "transfer-encoding", "content-length",
                                     "keep-alive"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            conn.close()

    def _forward_quietly(self):
        try:
            self._forward()
        except OSError:  # the client gave up (client_timeout) while we answered
            pass

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _forward_quietly


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FaultProxy:
    """Forwards to s3rver; counts requests; injects 500s (fail_next / fail_always by kind
    "list" or "get", fail_keys: GETs of these keys) or a stall (seconds) before each answer
    (stall_s, or stall_keys[key] for a GET of that key)."""

    def __init__(self, upstream):
        self.upstream_port = upstream.port
        self.lock = threading.Lock()
        self.requests = []
        self.paths = []              # request targets (path and query), in order
        self.fail_next = {}
        self.fail_always = {}
        self.stall_s = 0
        self.stall_keys = {}
        self.fail_keys = set()
        self.server = _ThreadingServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.proxy = self
        self.port = self.server.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self, kind, key_prefix=None):
        with self.lock:
            return sum(1 for k, key, _ in self.requests
                       if k == kind and (key_prefix is None or (key or "").find(key_prefix) >= 0))

    def gets(self):
        with self.lock:
            return [key for k, key, _ in self.requests if k == "get"]

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.paths.clear()

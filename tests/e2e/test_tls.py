"""
TLS on the public endpoints (docs/tls.md): a throwaway CA and server certificate made with
the openssl command line, cloved started with --tls-enabled true --tls-certificate-file
--tls-key-file (and with runtime.tls in the spicepod). Proves HTTPS, metrics over HTTPS and
Flight over TLS succeed when the client trusts the CA, fail certificate verification when it
does not, and refuse plain-text clients; that bad certificate or key files stop cloved at
startup with a clear message; and that clove's Flight client library makes an mTLS
connection to a Flight server that requires client certificates (and is refused without one
or with a certificate from another CA).
"""
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

from harness import BIN_DIR, CLOVED, Cloved, CloveTest, csv_text, free_port, run_clove

TESTS_DIR = os.path.join(os.path.dirname(BIN_DIR), "tests")
# A host name sends gRPC's resolver through c-ares, which keeps a small allocation for the
# life of the process (LeakSanitizer reports it in the sanitizer build); gRPC's native
# resolver (getaddrinfo) has no such allocation.
NATIVE_DNS = {"GRPC_DNS_RESOLVER": "native"}
PROBE = os.path.join(TESTS_DIR, "flight_client_probe")
FLIGHT_SERVER = os.path.join(TESTS_DIR, "flight_test_server")

POD = """\
version: v1
kind: Spicepod
name: tls
datasets:
  - from: file:data/zones.csv
    name: zones
"""

ZONES = csv_text(["zone_id", "zone_name"], [(1, "Zone 1"), (2, "Zone 2")])


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-out", name + ".crt", "-days", "2", "-subj", "/CN=clove test " + name, cwd=d)


def make_cert(d, ca, name, cn, server=True):
    """A certificate for cn signed by ca; servers get localhost / 127.0.0.1 names."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
            name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        if server:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", ext, cwd=d)


class Pki:
    """ca signs server (localhost) and client; other is an unrelated CA with its own server
    and client certificates."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="clove-e2e-pki-")
        make_ca(self.dir, "ca")
        make_ca(self.dir, "other")
        make_cert(self.dir, "ca", "server", "localhost")
        make_cert(self.dir, "ca", "client", "clove client", server=False)
        make_cert(self.dir, "other", "stranger", "stranger", server=False)
        make_cert(self.dir, "other", "other_server", "localhost")

    def path(self, name):
        return os.path.join(self.dir, name)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class TlsServingTest(CloveTest):
    """One cloved with TLS from the command line flags."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        try:
            cls.c = Cloved(POD, files={"data/zones.csv": ZONES}, metrics=True,
                           tls_ca=cls.pki.path("ca.crt"),
                           args=["--tls-enabled", "true",
                                 "--tls-certificate-file", cls.pki.path("server.crt"),
                                 "--tls-key-file", cls.pki.path("server.key")])
        except Exception:
            cls.pki.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.c.stop()
        finally:
            cls.pki.cleanup()

    # ---- HTTP ------------------------------------------------------------------------------

    def test_https_with_the_ca(self):
        r = self.c.get("/health")
        self.assertStatus(r, 200)
        self.assertEqual(r.text, "ok\n")
        self.assertEqual(self.c.rows("SELECT zone_name FROM zones ORDER BY zone_id"),
                         [{"zone_name": "Zone 1"}, {"zone_name": "Zone 2"}])

    def test_https_without_the_ca_fails_verification(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.c.port, timeout=10,
                                           context=ssl.create_default_context())
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("GET", "/health")
        conn.close()

    def test_https_with_another_ca_fails_verification(self):
        ctx = ssl.create_default_context(cafile=self.pki.path("other.crt"))
        conn = http.client.HTTPSConnection("127.0.0.1", self.c.port, timeout=10, context=ctx)
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("GET", "/health")
        conn.close()

    def test_plain_http_is_refused(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.c.port, timeout=10)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/health")
            conn.getresponse().read()
        conn.close()
        # the server is still fine afterwards
        self.assertStatus(self.c.get("/health"), 200)

    def test_metrics_over_https(self):
        text = self.c.metrics_text()
        self.assertIn("# TYPE", text)
        r = self.c.get("/health", port=self.c.metrics_port)
        self.assertEqual(r.text, "OK")
        plain = http.client.HTTPConnection("127.0.0.1", self.c.metrics_port, timeout=10)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            plain.request("GET", "/metrics")
            plain.getresponse().read()
        plain.close()

    def test_cli_https(self):
        p = run_clove(["--endpoint", self.c.endpoint, "--tls-root-certificate-file",
                       self.pki.path("ca.crt"), "sql", "-e", "SELECT count(*) AS n FROM zones"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("| 2 |", p.stdout)
        p = run_clove(["--endpoint", self.c.endpoint, "sql", "-e", "SELECT 1"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("certificate", p.stderr.lower())

    # ---- Flight ------------------------------------------------------------------------------

    def flight(self, *args, endpoint=None):
        return run_clove(["--endpoint", endpoint or "grpc+tls://" + self.c.flight] + list(args),
                         env=NATIVE_DNS)

    def test_flight_tls_with_the_ca(self):
        p = self.flight("--tls-root-certificate-file", self.pki.path("ca.crt"), "sql", "-e",
                        "SELECT zone_id, zone_name FROM zones ORDER BY zone_id")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout,
                         "+---------+-----------+\n"
                         "| zone_id | zone_name |\n"
                         "+---------+-----------+\n"
                         "|       1 | Zone 1    |\n"
                         "|       2 | Zone 2    |\n"
                         "+---------+-----------+\n")

    def test_flight_tls_by_host_name(self):
        port = self.c.flight.rsplit(":", 1)[1]
        p = self.flight("--tls-root-certificate-file", self.pki.path("ca.crt"), "sql", "-e",
                        "SELECT 7 AS seven", endpoint="grpc+tls://localhost:" + port)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("| 7 |", p.stdout.replace("|     7 |", "| 7 |"))

    def test_flight_tls_without_the_ca_fails_verification(self):
        p = self.flight("sql", "-e", "SELECT 1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("could not connect to clove at grpc+tls://", p.stderr)
        self.assertIn("certificate verify failed", p.stderr)
        p = self.flight("--tls-root-certificate-file", self.pki.path("other.crt"), "sql", "-e",
                        "SELECT 1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("certificate verify failed", p.stderr)

    def test_flight_plain_text_client_is_refused(self):
        p = self.flight("sql", "-e", "SELECT 1", endpoint="grpc://" + self.c.flight)
        self.assertEqual(p.returncode, 1)
        self.assertIn("could not connect to clove at grpc://", p.stderr)
        p = subprocess.run([PROBE, "grpc://" + self.c.flight, "SELECT 1"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("could not connect to clove at grpc://", p.stderr)

    def test_flight_tls_library_probe(self):
        p = subprocess.run([PROBE, "grpc+tls://" + self.c.flight,
                            "SELECT zone_id FROM zones ORDER BY zone_id", "--ca",
                            self.pki.path("ca.crt")], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), '[{"zone_id":1},{"zone_id":2}]')


class TlsConfigTest(CloveTest):
    """runtime.tls in the spicepod, and startup failures."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    def test_runtime_tls_in_the_spicepod(self):
        d = self.tempdir()
        for f in ("server.crt", "server.key"):
            shutil.copy(self.pki.path(f), os.path.join(d, f))
        pod = POD + "runtime:\n  tls:\n    enabled: true\n    certificate_file: server.crt\n" \
                    "    key_file: server.key\n"
        c = self.start(pod, workdir=d, files={"data/zones.csv": ZONES},
                       tls_ca=self.pki.path("ca.crt"))
        self.assertEqual(c.scalar("SELECT count(*) FROM zones"), 2)
        self.assertIn("TLS enabled for HTTP, Flight and metrics: certificate CN=localhost",
                      c.logs())

    def test_inline_pem_from_a_secret(self):
        with open(self.pki.path("server.crt")) as f:
            cert = f.read()
        with open(self.pki.path("server.key")) as f:
            key = f.read()
        pod = POD + "runtime:\n  tls:\n    enabled: true\n    certificate: ${env:TLS_CERT}\n" \
                    "    key: ${secrets:TLS_KEY}\n"
        c = self.start(pod, files={"data/zones.csv": ZONES}, tls_ca=self.pki.path("ca.crt"),
                       env={"TLS_CERT": cert, "TLS_KEY": key})
        self.assertEqual(c.scalar("SELECT 40 + 2"), 42)
        spicepods = c.get("/v1/spicepods").text
        self.assertNotIn("PRIVATE KEY", spicepods)
        self.assertNotIn(key.splitlines()[1], c.logs())

    def fails_to_start(self, args, pod=POD, files=None):
        d = self.tempdir()
        with open(os.path.join(d, "spicepod.yaml"), "w") as f:
            f.write(pod)
        for name, content in (files or {}).items():
            with open(os.path.join(d, name), "w") as f:
                f.write(content)
        p = subprocess.run([CLOVED, "--http", "127.0.0.1:%d" % free_port(), "--flight",
                            "127.0.0.1:%d" % free_port()] + args + [d],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("AddressSanitizer", p.stderr)
        self.assertNotIn("runtime error", p.stderr)
        return p.stdout + p.stderr

    def tls_args(self, cert, key):
        return ["--tls-enabled", "true", "--tls-certificate-file", cert, "--tls-key-file", key]

    def test_missing_certificate_file(self):
        missing = os.path.join(self.pki.dir, "nope.crt")
        out = self.fails_to_start(self.tls_args(missing, self.pki.path("server.key")))
        self.assertIn('not starting: TLS: could not open the TLS certificate file "%s": No such '
                      'file or directory' % missing, out)

    def test_missing_key_file(self):
        missing = os.path.join(self.pki.dir, "nope.key")
        out = self.fails_to_start(self.tls_args(self.pki.path("server.crt"), missing))
        self.assertIn('could not open the TLS key file "%s"' % missing, out)

    def test_unreadable_directory_as_certificate(self):
        out = self.fails_to_start(self.tls_args(self.pki.dir, self.pki.path("server.key")))
        self.assertIn('could not read the TLS certificate file "%s": Is a directory'
                      % self.pki.dir, out)

    def test_not_pem(self):
        d = self.tempdir()
        bogus = os.path.join(d, "bogus.crt")
        with open(bogus, "w") as f:
            f.write("this is not a certificate\n")
        out = self.fails_to_start(self.tls_args(bogus, self.pki.path("server.key")))
        self.assertIn('the TLS certificate file "%s" holds no PEM data' % bogus, out)
        # a key where the certificate should be
        out = self.fails_to_start(self.tls_args(self.pki.path("server.key"),
                                                self.pki.path("server.key")))
        self.assertIn('holds no certificate (expected a PEM "BEGIN CERTIFICATE" block)', out)

    def test_key_does_not_match_the_certificate(self):
        out = self.fails_to_start(self.tls_args(self.pki.path("server.crt"),
                                                self.pki.path("client.key")))
        self.assertIn('the TLS key file "%s" does not match the TLS certificate file "%s"'
                      % (self.pki.path("client.key"), self.pki.path("server.crt")), out)

    def test_encrypted_key(self):
        d = self.tempdir()
        enc = os.path.join(d, "enc.key")
        openssl("pkey", "-in", self.pki.path("server.key"), "-aes256", "-passout", "pass:pw",
                "-out", enc, cwd=d)
        out = self.fails_to_start(self.tls_args(self.pki.path("server.crt"), enc))
        self.assertIn("is encrypted with a passphrase", out)

    def test_enabled_without_certificate(self):
        out = self.fails_to_start(["--tls-enabled", "true"])
        self.assertIn("TLS is enabled but no certificate is given", out)

    def test_bad_flag_value(self):
        out = self.fails_to_start(["--tls-enabled", "yes"])
        self.assertIn('--tls-enabled expects true or false, got "yes"', out)


class FlightMtlsTest(unittest.TestCase):
    """clove's Flight client library with a client certificate against a Flight server that
    requires one (the path the cluster's mTLS uses)."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.dir = tempfile.mkdtemp(prefix="clove-e2e-mtls-")
        with open(os.path.join(cls.dir, "spicepod.yaml"), "w") as f:
            f.write("version: v1\nkind: Spicepod\nname: mtls\n")
        cls.proc = subprocess.Popen(
            [FLIGHT_SERVER, cls.dir, "127.0.0.1:0", "--tls", cls.pki.path("server.crt"),
             cls.pki.path("server.key"), "--client-ca", cls.pki.path("ca.crt")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline()
        if not line.startswith("flight listening on "):
            cls.proc.kill()
            err = cls.proc.communicate()[1]
            cls.pki.cleanup()
            raise RuntimeError("flight_test_server did not start: %r %s" % (line, err))
        cls.endpoint = "grpc+tls://localhost:%d" % int(line.split()[-1])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.proc.stdin.close()       # the server exits when stdin closes
            try:
                cls.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
            err = cls.proc.stderr.read()
            cls.proc.stdout.close()
            cls.proc.stderr.close()
            if "AddressSanitizer" in err or "runtime error" in err:
                raise AssertionError("sanitizer report from flight_test_server:\n" + err)
        finally:
            cls.pki.cleanup()
            shutil.rmtree(cls.dir, ignore_errors=True)

    def probe(self, *opts):
        return subprocess.run([PROBE, self.endpoint, "SELECT 'mtls' AS via, 6 * 7 AS answer",
                               "--ca", self.pki.path("ca.crt")] + list(opts),
                              capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, **NATIVE_DNS))

    def test_client_certificate_accepted(self):
        p = self.probe("--cert", self.pki.path("client.crt"), "--key", self.pki.path("client.key"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), '[{"via":"mtls","answer":42}]')

    def test_without_client_certificate_refused(self):
        p = self.probe()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("could not connect to clove at grpc+tls://", p.stderr)

    def test_certificate_from_another_ca_refused(self):
        p = self.probe("--cert", self.pki.path("stranger.crt"), "--key",
                       self.pki.path("stranger.key"))
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("could not connect to clove at grpc+tls://", p.stderr)

    def test_client_key_must_match(self):
        p = self.probe("--cert", self.pki.path("client.crt"), "--key", self.pki.path("server.key"))
        self.assertEqual(p.returncode, 1)
        self.assertIn('does not match the TLS certificate file "%s"'
                      % self.pki.path("client.crt"), p.stderr)


if __name__ == "__main__":
    unittest.main()

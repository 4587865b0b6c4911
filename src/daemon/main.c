/*
 * cloved: the clove runtime daemon. Parses Spice-compatible flags, loads the spicepod,
 * starts the engine, the HTTP API and the metrics endpoint, and shuts down gracefully on
 * SIGTERM/SIGINT: new requests get 503, in-flight queries finish up to
 * runtime.shutdown_timeout, then the process exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/tls.h"
#include "config/config.h"
#include "engine/engine.h"
#include "flight/flight.h"
#include "flight/flight_client.h"
#include "server/server.h"

#define COMP "cloved"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cloved [flags] [SPICEPOD_PATH]\n"
            "\n"
            "Runs the clove runtime for the spicepod at SPICEPOD_PATH (a directory holding\n"
            "spicepod.yaml or spicepod.yml, or the file itself; default: the current directory).\n"
            "\n"
            "flags:\n"
            "  --http ADDR            HTTP API address (default 127.0.0.1:8090)\n"
            "  --flight ADDR          Arrow Flight address (default 127.0.0.1:50051)\n"
            "  --metrics ADDR         Prometheus metrics address (off by default)\n"
            "  --tls-enabled BOOL     serve HTTP, Flight and metrics over TLS only (true|false)\n"
            "  --tls-certificate-file FILE  PEM certificate chain for TLS\n"
            "  --tls-key-file FILE    PEM private key of that certificate\n"
            "  --tls-certificate PEM  the certificate chain inline (instead of the file)\n"
            "  --tls-key PEM          the private key inline (instead of the file)\n"
            "  --set-runtime K=V      override a runtime key, e.g. query.timeout=5s (repeatable)\n"
            "  --test-config          validate the spicepod, print every problem, exit 0 or 1\n"
            "  -v, --verbose          debug logging\n"
            "  --version              print the version and exit\n"
            "  -h, --help             this help\n");
}

/* Flags of the runtime we are compatible with that this build does not implement yet:
 * refusing them beats silently running without. */
static const char *NOT_YET[] = {
    "--role", "--scheduler-address",
    "--node-bind-address", "--node-advertise-address", "--node-mtls-ca-certificate-file",
    "--node-mtls-certificate-file", "--node-mtls-key-file", "--allow-insecure-connections",
};

typedef struct {
    const char *http;
    const char *flight;
    const char *metrics;
    const char *pod;
    const char **overrides;
    size_t n_overrides;
    bool test_config;
    int verbose;
    bool tls_enabled;             /* --tls-enabled true */
    const char *tls_cert_file;    /* --tls-certificate-file */
    const char *tls_cert;         /* --tls-certificate (inline PEM) */
    const char *tls_key_file;     /* --tls-key-file */
    const char *tls_key;          /* --tls-key (inline PEM) */
} opts_t;

/* Accepts "--flag value" and "--flag=value". */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "cloved: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

static void parse_args(int argc, char **argv, opts_t *o)
{
    o->http = "127.0.0.1:8090";
    o->flight = "127.0.0.1:50051";
    o->overrides = clove_xcalloc((size_t)argc, sizeof *o->overrides);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
            printf("cloved %s (DuckDB %s)\n", CLOVE_VERSION, duckdb_library_version());
            exit(0);
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose") || !strcmp(a, "-vv")) {
            o->verbose++;
        } else if (!strcmp(a, "--test-config")) {
            o->test_config = true;
        } else if ((v = flag_value(argc, argv, &i, "--http"))) {
            o->http = v;
        } else if ((v = flag_value(argc, argv, &i, "--flight"))) {
            o->flight = v;
        } else if ((v = flag_value(argc, argv, &i, "--metrics"))) {
            o->metrics = v;
        } else if ((v = flag_value(argc, argv, &i, "--tls-enabled"))) {
            if (!strcasecmp(v, "true")) o->tls_enabled = true;
            else if (!strcasecmp(v, "false")) o->tls_enabled = false;
            else {
                fprintf(stderr, "cloved: --tls-enabled expects true or false, got \"%s\"\n", v);
                exit(2);
            }
        } else if ((v = flag_value(argc, argv, &i, "--tls-certificate-file"))) {
            o->tls_cert_file = v;
        } else if ((v = flag_value(argc, argv, &i, "--tls-certificate"))) {
            o->tls_cert = v;
        } else if ((v = flag_value(argc, argv, &i, "--tls-key-file"))) {
            o->tls_key_file = v;
        } else if ((v = flag_value(argc, argv, &i, "--tls-key"))) {
            o->tls_key = v;
        } else if ((v = flag_value(argc, argv, &i, "--set-runtime"))) {
            if (!strchr(v, '=')) {
                fprintf(stderr, "cloved: --set-runtime expects KEY=VALUE, got \"%s\"\n", v);
                exit(2);
            }
            o->overrides[o->n_overrides++] = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            for (size_t k = 0; k < sizeof NOT_YET / sizeof NOT_YET[0]; k++) {
                size_t n = strlen(NOT_YET[k]);
                if (!strncmp(a, NOT_YET[k], n) && (a[n] == '\0' || a[n] == '=')) {
                    fprintf(stderr, "cloved: %s is not supported by this clove build yet\n",
                            NOT_YET[k]);
                    exit(2);
                }
            }
            fprintf(stderr, "cloved: unknown flag %s (see cloved --help)\n", a);
            exit(2);
        } else if (!o->pod) {
            o->pod = a;
        } else {
            fprintf(stderr, "cloved: more than one spicepod path given (\"%s\", \"%s\")\n",
                    o->pod, a);
            exit(2);
        }
    }
    if (!o->pod) o->pod = ".";
}

/* The TLS certificate of the public endpoints, or none. As the runtime we follow: TLS is on
 * when --tls-enabled true or runtime.tls.enabled; each of the certificate and the key comes
 * from its file flag, else its inline flag, else runtime.tls (file, else inline PEM; files
 * named in the spicepod are relative to its directory). Returns 0 with *on telling whether
 * TLS is on, or CLOVE_EINVAL with err filled. */
static int load_tls(const opts_t *o, const clove_config_t *cfg, clove_tls_cert_t *out, bool *on,
                    clove_err_t *err)
{
    const clove_runtime_cfg_t *rt = &cfg->runtime;
    *on = o->tls_enabled || rt->tls_enabled;
    if (!*on) {
        if (o->tls_cert_file || o->tls_cert || o->tls_key_file || o->tls_key)
            clove_warn(COMP, "TLS certificate flags are given but TLS is not enabled "
                       "(--tls-enabled true): serving plain text");
        return 0;
    }
    char *cert_path = NULL, *key_path = NULL;
    clove_tls_source_t src = {0};
    if (o->tls_cert_file) {
        src.cert_file = o->tls_cert_file;
    } else if (o->tls_cert) {
        src.cert_pem = o->tls_cert;
        src.cert_name = "--tls-certificate";
    } else if (rt->tls_certificate_file) {
        cert_path = rt->tls_certificate_file[0] == '/'
                        ? clove_xstrdup(rt->tls_certificate_file)
                        : clove_xasprintf("%s/%s", cfg->dir, rt->tls_certificate_file);
        src.cert_file = cert_path;
    } else if (rt->tls_certificate) {
        src.cert_pem = rt->tls_certificate;
        src.cert_name = "runtime.tls.certificate";
    }
    if (o->tls_key_file) {
        src.key_file = o->tls_key_file;
    } else if (o->tls_key) {
        src.key_pem = o->tls_key;
        src.key_name = "--tls-key";
    } else if (rt->tls_key_file) {
        key_path = rt->tls_key_file[0] == '/' ? clove_xstrdup(rt->tls_key_file)
                                              : clove_xasprintf("%s/%s", cfg->dir,
                                                                rt->tls_key_file);
        src.key_file = key_path;
    } else if (rt->tls_key) {
        src.key_pem = rt->tls_key;
        src.key_name = "runtime.tls.key";
    }
    int rc = clove_tls_cert_load(&src, out, err);
    free(cert_path);
    free(key_path);
    return rc;
}

int main(int argc, char **argv)
{
    opts_t o = {0};
    parse_args(argc, argv, &o);
    if (o.verbose) clove_log_set_level(CLOVE_LOG_DEBUG);

    /* Signals are taken by sigwait in this thread only: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* gRPC's own log lines (e.g. a client's failed TLS handshake) are about peers: debug */
    clove_flight_client_quiet_grpc_log();
    int64_t t0 = clove_mono_ns();
    clove_config_diags_t diags = {0};
    clove_config_t *cfg = clove_config_load(o.pod, o.overrides, o.n_overrides, &diags);
    for (size_t i = 0; i < diags.len; i++) {
        if (o.test_config) fprintf(stderr, "%s: %s\n", diags.items[i].warning ? "warning" : "error",
                                   diags.items[i].message);
        else if (diags.items[i].warning) clove_warn("config", "%s", diags.items[i].message);
        else clove_error("config", "%s", diags.items[i].message);
    }
    clove_config_diags_dispose(&diags);
    if (o.test_config) {
        char **msgs = NULL;
        size_t nmsgs = 0;
        if (cfg && clove_engine_validate(cfg, &msgs, &nmsgs) > 0) {
            for (size_t i = 0; i < nmsgs; i++) {
                fprintf(stderr, "error: %s\n", msgs[i]);
                free(msgs[i]);
            }
            free(msgs);
            clove_config_unref(cfg);
            free(o.overrides);
            return 1;
        }
        free(msgs);
        if (cfg) printf("spicepod %s is valid: %zu dataset(s), %zu view(s)\n", cfg->path,
                        cfg->n_datasets, cfg->n_views);
        int rc = cfg ? 0 : 1;
        clove_config_unref(cfg);
        free(o.overrides);
        return rc;
    }
    if (!cfg) {
        clove_error(COMP, "not starting: the spicepod has errors");
        free(o.overrides);
        return 1;
    }
    clove_info(COMP, "clove %s starting with spicepod %s (%s)", CLOVE_VERSION, cfg->name,
               cfg->path);

    clove_err_t err;
    clove_err_clear(&err);
    int rc = 1;
    clove_http_server_t *http = NULL;
    clove_metrics_server_t *metrics = NULL;
    clove_flight_server_t *flight = NULL;
    clove_engine_t *engine = NULL;
    clove_tls_cert_t tls = {0};
    bool tls_on = false;
    if (load_tls(&o, cfg, &tls, &tls_on, &err) != 0) {
        clove_error(COMP, "not starting: TLS: %s", err.message);
        goto out;
    }
    if (tls_on) {
        char until[32] = "unknown";
        time_t t = (time_t)(tls.not_after_ms / 1000);
        struct tm tm;
        if (tls.not_after_ms && gmtime_r(&t, &tm)) strftime(until, sizeof until, "%Y-%m-%d", &tm);
        clove_info(COMP, "TLS enabled for HTTP, Flight and metrics: certificate %s (valid until "
                   "%s)", tls.subject, until);
        if (tls.not_after_ms && tls.not_after_ms < clove_now_ms())
            clove_warn(COMP, "the TLS certificate %s expired on %s: clients will refuse it",
                       tls.subject, until);
    }
    engine = clove_engine_create(cfg, NULL, &err);
    if (!engine) {
        clove_error(COMP, "could not start the engine: %s", err.message);
        goto out;
    }
    if (o.metrics) {
        metrics = clove_metrics_start(o.metrics, tls_on ? &tls : NULL, &err);
        if (!metrics) {
            clove_error(COMP, "could not start the metrics endpoint on %s: %s", o.metrics,
                        err.message);
            goto out;
        }
        clove_info(COMP, "metrics listening on %s%s", o.metrics, tls_on ? " (TLS)" : "");
    }
    clove_http_opts_t hopts = {.addr = o.http, .engine = engine, .flight_addr = o.flight,
                               .metrics_addr = o.metrics, .tls = tls_on ? &tls : NULL};
    http = clove_http_start(&hopts, &err);
    if (!http) {
        clove_error(COMP, "could not start the HTTP API on %s: %s", o.http, err.message);
        goto out;
    }
    clove_info(COMP, "HTTP API listening on %s%s", o.http, tls_on ? " (TLS)" : "");
    clove_flight_opts_t fopts = {.addr = o.flight, .engine = engine,
                                 .tls = tls_on ? &tls : NULL};
    flight = clove_flight_start(&fopts, &err);
    if (!flight) {
        clove_error(COMP, "could not start Arrow Flight on %s: %s", o.flight, err.message);
        goto out;
    }
    clove_info(COMP, "Arrow Flight listening on %s%s", o.flight, tls_on ? " (TLS)" : "");
    clove_engine_start(engine);
    clove_info(COMP, "started in %.1f ms", (double)(clove_mono_ns() - t0) / 1e6);

    int sig = 0;
    sigwait(&sigs, &sig);
    clove_info(COMP, "received %s: shutting down (in-flight queries may take up to %lld ms)",
               sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)cfg->runtime.shutdown_timeout_ms);
    clove_http_begin_shutdown(http);
    clove_engine_begin_shutdown(engine);
    int64_t deadline = clove_mono_ns() + cfg->runtime.shutdown_timeout_ms * 1000000;
    bool forced = false;
    while (clove_http_active(http) > 0 && clove_mono_ns() < deadline) {
        /* a second signal stops waiting */
        struct timespec ts = {0, 10 * 1000000};
        siginfo_t si;
        if (sigtimedwait(&sigs, &si, &ts) > 0) {
            clove_warn(COMP, "second signal: not waiting for in-flight queries");
            forced = true;
            break;
        }
    }
    int64_t left_ms = forced ? 0 : (deadline - clove_mono_ns()) / 1000000;
    if (!clove_engine_drain(engine, left_ms > 0 ? left_ms : 0))
        clove_warn(COMP, "in-flight queries interrupted after the shutdown timeout");
    clove_flight_stop(flight);
    flight = NULL;
    left_ms = forced ? 0 : (deadline - clove_mono_ns()) / 1000000;
    if (!clove_engine_stop_threads(engine, left_ms > 1000 ? left_ms : 1000)) {
        /* a refresh is stuck in a read no interrupt reaches (a pipe, a hung mount): the data
         * it would change is untouched, so leave without waiting for it */
        clove_warn(COMP, "a dataset refresh is blocked reading its source; exiting without it");
        clove_http_stop(http);
        if (metrics) clove_metrics_stop(metrics);
        clove_info(COMP, "stopped");
        fflush(stderr);
        _exit(0);
    }
    rc = 0;

out:
    if (flight) clove_flight_stop(flight);
    if (http) clove_http_stop(http);
    if (metrics) clove_metrics_stop(metrics);
    clove_engine_destroy(engine);
    clove_tls_cert_dispose(&tls);
    clove_config_unref(cfg);
    clove_metrics_reset();
    free(o.overrides);
    if (rc == 0) clove_info(COMP, "stopped");
    return rc;
}

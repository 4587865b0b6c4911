/*
 * A standalone Flight server for the conformance test: loads a spicepod, starts the engine
 * and serves Flight on an address, without the daemon. Prints "flight listening on PORT"
 * once every dataset has finished loading, then serves until SIGINT/SIGTERM or until stdin
 * closes (so a test runner that dies takes the server with it).
 *
 *   flight_test_server SPICEPOD_PATH [ADDR] [--tls CERT KEY] [--client-ca CA]
 *
 * ADDR defaults to 127.0.0.1:0. --tls serves TLS only with that certificate and key (PEM
 * files); --client-ca also requires every client to present a certificate signed by CA (mTLS).
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string.h>

#include "common/tls.h"
#include "config/config.h"
#include "engine/engine.h"
#include "flight/flight.h"
#include "flight/flight_client.h"

/* Turns stdin EOF into a SIGTERM for the main thread. */
static void *stdin_watch(void *arg)
{
    (void)arg;
    char buf[256];
    while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
    }
    kill(getpid(), SIGTERM);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:0", *cert = NULL, *key = NULL, *ca = NULL;
    int pos = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
            cert = argv[++i];
            key = argv[++i];
        } else if (!strcmp(argv[i], "--client-ca") && i + 1 < argc) {
            ca = argv[++i];
        } else if (pos++ == 0 && argv[i][0] != '-') {
            addr = argv[i];
        } else {
            pos = -1;
            break;
        }
    }
    if (argc < 2 || pos < 0) {
        fprintf(stderr, "usage: %s SPICEPOD_PATH [ADDR] [--tls CERT KEY] [--client-ca CA]\n",
                argv[0]);
        return 2;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    clove_flight_client_quiet_grpc_log(); /* e.g. refused TLS handshakes of negative tests */
    clove_config_diags_t diags = {0};
    clove_config_t *cfg = clove_config_load(argv[1], NULL, 0, &diags);
    for (size_t i = 0; i < diags.len; i++) fprintf(stderr, "%s\n", diags.items[i].message);
    clove_config_diags_dispose(&diags);
    if (!cfg) return 1;

    int rc = 1;
    clove_err_t err;
    clove_err_clear(&err);
    clove_flight_server_t *fs = NULL;
    clove_tls_cert_t tls = {0};
    char *ca_pem = NULL;
    if (cert && clove_tls_cert_load(&(clove_tls_source_t){.cert_file = cert, .key_file = key},
                                    &tls, &err) != 0) {
        fprintf(stderr, "TLS: %s\n", err.message);
        clove_config_unref(cfg);
        return 1;
    }
    if (ca && clove_tls_ca_load(ca, "client CA file", &ca_pem, &err) != 0) {
        fprintf(stderr, "TLS: %s\n", err.message);
        clove_tls_cert_dispose(&tls);
        clove_config_unref(cfg);
        return 1;
    }
    clove_engine_t *e = clove_engine_create(cfg, NULL, &err);
    if (!e) {
        fprintf(stderr, "could not create the engine: %s\n", err.message);
        goto out;
    }
    clove_engine_start(e);
    for (int i = 0; i < 600 && !clove_engine_ready(e); i++) poll(NULL, 0, 50);

    clove_flight_opts_t fo = {.addr = addr, .engine = e, .tls = cert ? &tls : NULL,
                              .client_ca_pem = ca_pem};
    fs = clove_flight_start(&fo, &err);
    if (!fs) {
        fprintf(stderr, "could not start Flight: %s\n", err.message);
        goto out;
    }
    printf("flight listening on %d\n", clove_flight_port(fs));
    fflush(stdout);

    pthread_t watcher;
    if (pthread_create(&watcher, NULL, stdin_watch, NULL) == 0) pthread_detach(watcher);
    int sig = 0;
    sigwait(&sigs, &sig);
    rc = 0;

out:
    clove_flight_stop(fs);
    if (e) {
        clove_engine_begin_shutdown(e);
        clove_engine_drain(e, 5000);
        clove_engine_destroy(e);
    }
    clove_tls_cert_dispose(&tls);
    free(ca_pem);
    clove_config_unref(cfg);
    return rc;
}

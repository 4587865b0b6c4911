/*
 * A standalone Flight server for the conformance test: loads a spicepod, starts the engine
 * and serves Flight on an address, without the daemon. Prints "flight listening on PORT"
 * once every dataset has finished loading, then serves until SIGINT/SIGTERM or until stdin
 * closes (so a test runner that dies takes the server with it).
 *
 *   flight_test_server SPICEPOD_PATH [ADDR]      (ADDR defaults to 127.0.0.1:0)
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/engine.h"
#include "flight/flight.h"

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
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s SPICEPOD_PATH [ADDR]\n", argv[0]);
        return 2;
    }
    const char *addr = argc == 3 ? argv[2] : "127.0.0.1:0";

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    clove_config_diags_t diags = {0};
    clove_config_t *cfg = clove_config_load(argv[1], NULL, 0, &diags);
    for (size_t i = 0; i < diags.len; i++) fprintf(stderr, "%s\n", diags.items[i].message);
    clove_config_diags_dispose(&diags);
    if (!cfg) return 1;

    int rc = 1;
    clove_err_t err;
    clove_err_clear(&err);
    clove_flight_server_t *fs = NULL;
    clove_engine_t *e = clove_engine_create(cfg, NULL, &err);
    if (!e) {
        fprintf(stderr, "could not create the engine: %s\n", err.message);
        goto out;
    }
    clove_engine_start(e);
    for (int i = 0; i < 600 && !clove_engine_ready(e); i++) poll(NULL, 0, 50);

    fs = clove_flight_start(addr, e, &err);
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
    clove_config_unref(cfg);
    return rc;
}

/*
 * metrics_server.c: the Prometheus endpoint (`--metrics ADDR`). Like Spice's metrics server it
 * answers every path with the text exposition of clove's metrics registry, except /health,
 * which answers "OK". Scrapes are rare and cheap, so one MHD polling thread serves them all.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#define COMP "metrics"
#define METRICS_CT "text/plain; version=0.0.4; charset=utf-8"

struct clove_metrics_server {
    struct MHD_Daemon *daemon;
    char endpoint[80];
};

static _Thread_local bool t_named;

/* Marks the first call of a request; a request has no state beyond that. */
static int g_first_call_marker;

static enum MHD_Result metrics_access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                         const char *method, const char *version,
                                         const char *upload_data, size_t *upload_data_size,
                                         void **con_cls)
{
    if (!t_named) {
        clove_thread_name("clove-metrics");
        t_named = true;
    }
    if (!*con_cls) {
        *con_cls = &g_first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size) {             /* nobody posts to a scrape endpoint: ignore it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *resp;
    const char *ct;
    if (url && strcmp(url, "/health") == 0) {
        static const char ok[] = "OK";
        resp = MHD_create_response_from_buffer(sizeof ok - 1, (void *)ok, MHD_RESPMEM_PERSISTENT);
        ct = "text/plain; charset=utf-8";
    } else {
        clove_buf_t b;
        clove_buf_init(&b);
        clove_metrics_render(&b);
        if (b.failed) {
            clove_buf_dispose(&b);
            static const char oom[] = "out of memory while rendering metrics";
            resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom,
                                                   MHD_RESPMEM_PERSISTENT);
            if (!resp) return MHD_NO;
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    "text/plain; charset=utf-8");
            enum MHD_Result rc = MHD_queue_response(c, 500, resp);
            MHD_destroy_response(resp);
            return rc;
        }
        size_t len = b.len;
        char *data = clove_buf_steal(&b);
        resp = data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
                    : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp) free(data);
        ct = METRICS_CT;
    }
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    enum MHD_Result rc = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

clove_metrics_server_t *clove_metrics_start(const char *addr, const clove_tls_cert_t *tls,
                                            clove_err_t *err)
{
    clove_metrics_server_t *s = clove_xcalloc(1, sizeof *s);
    const struct MHD_OptionItem extra[] = {
        {MHD_OPTION_CONNECTION_LIMIT, 64, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon = clove_http_start_daemon(addr, COMP, MHD_USE_AUTO, metrics_access_cb, NULL, extra,
                                        tls, s->endpoint, sizeof s->endpoint, err);
    if (!s->daemon) {
        free(s);
        return NULL;
    }
    clove_debug(COMP, "metrics endpoint bound to %s", s->endpoint);
    return s;
}

void clove_metrics_stop(clove_metrics_server_t *s)
{
    if (!s) return;
    MHD_stop_daemon(s->daemon);
    free(s);
}

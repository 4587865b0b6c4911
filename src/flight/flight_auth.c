/*
 * flight_auth.c: API keys on Arrow Flight (runtime.auth.api-key). A Handshake carrying
 * `authorization: Basic base64(user:KEY)` (or `x-api-key`, or `Bearer KEY`) with a configured
 * key gets a fresh session token; every other call must carry `authorization: Bearer TOKEN`
 * (a token from a handshake, or a key itself) or `x-api-key: KEY`. Keys are compared in
 * constant time. Tokens live in a bounded table and expire after an hour unused.
 */
#include "flight/flight_int.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKENS 4096
#define TOKEN_IDLE_MS (60 * 60 * 1000)

typedef struct {
    char token[33];
    int key;            /* index into runtime.auth api_keys */
    int64_t last_used;  /* ms */
} token_t;

struct flight_auth {
    const clove_config_t *cfg;      /* borrowed from the engine */
    pthread_mutex_t mu;             /* guards tokens */
    token_t tokens[MAX_TOKENS];
    size_t n;
};

flight_auth_t *flight_auth_create(const clove_config_t *cfg)
{
    if (!cfg || !cfg->runtime.auth_enabled) return NULL;
    flight_auth_t *a = clove_xcalloc(1, sizeof *a);
    a->cfg = cfg;
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void flight_auth_destroy(flight_auth_t *a)
{
    if (!a) return;
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Index of the configured key equal to (k, n), or -1. Compares every key. */
static int match_key(const flight_auth_t *a, const char *k, size_t n)
{
    int found = -1;
    for (size_t i = 0; i < a->cfg->runtime.n_api_keys; i++) {
        const char *key = a->cfg->runtime.api_keys[i].key;
        if (key && *key && clove_consttime_eq(key, strlen(key), k, n) && found < 0)
            found = (int)i;
    }
    return found;
}

static int match_token(flight_auth_t *a, const char *t, size_t n)
{
    int found = -1;
    int64_t now = clove_now_ms();
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n; i++) {
        token_t *tk = &a->tokens[i];
        if (now - tk->last_used > TOKEN_IDLE_MS) continue;
        if (clove_consttime_eq(tk->token, strlen(tk->token), t, n) && found < 0) {
            found = tk->key;
            tk->last_used = now;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return found;
}

/* Looks up one metadata value (case-insensitive key); returns its slice or NULL. */
static const grpc_slice *md_get(const grpc_metadata_array *md, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == kl &&
            strncasecmp((const char *)GRPC_SLICE_START_PTR(*k), key, kl) == 0)
            return &md->metadata[i].value;
    }
    return NULL;
}

/* The key of a Basic credential "user:KEY" (any user name, as the runtime we follow). */
static int basic_key(const flight_auth_t *a, const char *b64, size_t n)
{
    if (n == 0 || n > 4096) return -1;
    unsigned char *out = clove_xmalloc(n);
    int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    int found = -1;
    if (len > 0) {
        while (len > 0 && n > 0 && b64[n - 1] == '=') { /* padding decodes to NUL bytes */
            len--;
            n--;
        }
        unsigned char *colon = memchr(out, ':', (size_t)len);
        if (colon) found = match_key(a, (const char *)colon + 1, (size_t)(out + len - colon - 1));
    }
    free(out);
    return found;
}

bool flight_auth_can_write(const flight_auth_t *a, int key)
{
    if (!a || key == FLIGHT_AUTH_OFF) return true;
    return key >= 0 && (size_t)key < a->cfg->runtime.n_api_keys &&
           a->cfg->runtime.api_keys[key].read_write;
}

int flight_auth_check(flight_auth_t *a, const grpc_metadata_array *md, bool handshake,
                      char token_out[33])
{
    if (!a) return FLIGHT_AUTH_OFF;
    int key = -1;
    const grpc_slice *v = md_get(md, "authorization");
    if (v) {
        const char *s = (const char *)GRPC_SLICE_START_PTR(*v);
        size_t n = GRPC_SLICE_LENGTH(*v);
        if (n > 6 && strncasecmp(s, "Basic ", 6) == 0) key = basic_key(a, s + 6, n - 6);
        else if (n > 7 && strncasecmp(s, "Bearer ", 7) == 0) {
            key = match_token(a, s + 7, n - 7);
            if (key < 0) key = match_key(a, s + 7, n - 7);
        }
    }
    if (key < 0 && (v = md_get(md, "x-api-key")) != NULL)
        key = match_key(a, (const char *)GRPC_SLICE_START_PTR(*v), GRPC_SLICE_LENGTH(*v));
    if (key < 0) return -1;
    if (handshake && token_out) {
        unsigned char raw[16];
        if (RAND_bytes(raw, sizeof raw) != 1) return -1;
        for (size_t i = 0; i < sizeof raw; i++) snprintf(token_out + 2 * i, 3, "%02x", raw[i]);
        int64_t now = clove_now_ms();
        pthread_mutex_lock(&a->mu);
        size_t slot = a->n < MAX_TOKENS ? a->n++ : 0;
        for (size_t i = 0; a->n == MAX_TOKENS && i < a->n; i++) /* full: reuse the oldest */
            if (a->tokens[i].last_used < a->tokens[slot].last_used) slot = i;
        memcpy(a->tokens[slot].token, token_out, 33);
        a->tokens[slot].key = key;
        a->tokens[slot].last_used = now;
        pthread_mutex_unlock(&a->mu);
    }
    return key;
}

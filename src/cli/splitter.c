/*
 * splitter.c: finds where SQL statements end in text that arrives a line at a time (the REPL,
 * stdin, -e). It is a small lexer, not a parser: it knows only what can hide a `;` from the
 * end of a statement in DuckDB's dialect: 'strings' (with '' inside), E'strings' (with
 * backslash escapes), "identifiers", $tag$dollar strings$tag$, -- line comments and nested
 * block comments. When a decision needs a character that has not arrived yet, scanning stops
 * and resumes with the next feed.
 */
#include "cli/cli_int.h"

#include <stdlib.h>
#include <string.h>

enum {
    ST_NORMAL,
    ST_SQUOTE,   /* '...' */
    ST_ESQUOTE,  /* E'...' with backslash escapes */
    ST_DQUOTE,   /* "..." */
    ST_LINE,     /* -- ... end of line */
    ST_BLOCK,    /* nested block comment */
    ST_DOLLAR,   /* $tag$ ... $tag$ */
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (unsigned char)c >= 0x80;
}

static bool is_ident(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

void clove_cli_splitter_init(clove_cli_splitter_t *s)
{
    memset(s, 0, sizeof *s);
    clove_buf_init(&s->text);
}

void clove_cli_splitter_dispose(clove_cli_splitter_t *s)
{
    clove_buf_dispose(&s->text);
    memset(s, 0, sizeof *s);
}

void clove_cli_splitter_reset(clove_cli_splitter_t *s)
{
    clove_buf_reset(&s->text);
    s->pos = 0;
    s->state = ST_NORMAL;
    s->depth = 0;
    s->content = false;
}

void clove_cli_splitter_feed(clove_cli_splitter_t *s, const char *text, size_t n)
{
    clove_buf_append(&s->text, text, n);
    CLOVE_ASSERT(!s->text.failed);
}

bool clove_cli_splitter_idle(const clove_cli_splitter_t *s)
{
    return s->state == ST_NORMAL && !s->content;
}

/* Length of a dollar-quote opener ($$ or $tag$) at p, 0 if p does not start one, or -1 if
 * the text ends before that is known. */
static long dollar_tag(const char *p, size_t avail)
{
    size_t i = 1;
    if (i < avail && p[i] == '$') return 2;
    if (i < avail && !is_ident_start(p[i])) return 0;
    while (i < avail && is_ident(p[i]) && p[i] != '$') i++;
    if (i == avail) return -1;
    return p[i] == '$' ? (long)(i + 1) : 0;
}

/* Advances s->pos to the next statement-ending `;` (returns true, pos on the `;`) or to the
 * point where more input is needed (returns false). */
static bool scan(clove_cli_splitter_t *s)
{
    const char *t = s->text.data;
    size_t len = s->text.len;
    while (s->pos < len) {
        size_t p = s->pos;
        char c = t[p];
        bool has_next = p + 1 < len;
        char next = has_next ? t[p + 1] : '\0';
        switch (s->state) {
        case ST_NORMAL:
            if (c == ';') return true;
            if (c == '-' || c == '/' || c == '$') {
                if (!has_next) return false; /* need the next character to decide */
            }
            if (c == '-' && next == '-') {
                s->state = ST_LINE;
                s->pos += 2;
                continue;
            }
            if (c == '/' && next == '*') {
                s->state = ST_BLOCK;
                s->depth = 1;
                s->pos += 2;
                continue;
            }
            if (!is_blank(c)) s->content = true;
            if (c == '\'') {
                bool e = p > 0 && (t[p - 1] == 'e' || t[p - 1] == 'E') &&
                         (p < 2 || !is_ident(t[p - 2]));
                s->state = e ? ST_ESQUOTE : ST_SQUOTE;
            } else if (c == '"') {
                s->state = ST_DQUOTE;
            } else if (c == '$' && (p == 0 || !is_ident(t[p - 1]))) {
                long n = dollar_tag(t + p, len - p);
                if (n < 0) return false;
                if (n > 0) {
                    s->state = ST_DOLLAR;
                    s->tag_start = p;
                    s->tag_len = (size_t)n;
                    s->pos += (size_t)n;
                    continue;
                }
            } else if (is_ident(c)) {
                /* skip a whole word so `$` inside it is never taken for a quote */
                while (s->pos + 1 < len && is_ident(t[s->pos + 1])) s->pos++;
            }
            s->pos++;
            break;
        case ST_SQUOTE:
            if (c == '\'') s->state = ST_NORMAL;
            s->pos++;
            break;
        case ST_ESQUOTE:
            if (c == '\\') {
                if (!has_next) return false;
                s->pos += 2;
                continue;
            }
            if (c == '\'') s->state = ST_NORMAL;
            s->pos++;
            break;
        case ST_DQUOTE:
            if (c == '"') s->state = ST_NORMAL;
            s->pos++;
            break;
        case ST_LINE:
            if (c == '\n') s->state = ST_NORMAL;
            s->pos++;
            break;
        case ST_BLOCK:
            if (c == '/' || c == '*') {
                if (!has_next) return false;
            }
            if (c == '/' && next == '*') {
                s->depth++;
                s->pos += 2;
            } else if (c == '*' && next == '/') {
                if (--s->depth == 0) s->state = ST_NORMAL;
                s->pos += 2;
            } else {
                s->pos++;
            }
            break;
        case ST_DOLLAR:
            if (c == '$') {
                if (len - p < s->tag_len) return false;
                if (memcmp(t + p, t + s->tag_start, s->tag_len) == 0) {
                    s->state = ST_NORMAL;
                    s->pos += s->tag_len;
                    continue;
                }
            }
            s->pos++;
            break;
        default:
            CLOVE_ASSERT(!"bad splitter state");
        }
    }
    return false;
}

/* Returns text[0, end) trimmed as a new string, or NULL if blank. */
static char *take(const char *t, size_t end)
{
    size_t b = 0;
    while (b < end && is_blank(t[b])) b++;
    while (end > b && is_blank(t[end - 1])) end--;
    return end > b ? clove_xstrndup(t + b, end - b) : NULL;
}

/* Drops the first n bytes of the text, which end at or after the scan position; only called
 * in ST_NORMAL, when no offset into the text (dollar tag) is live. */
static void drop(clove_cli_splitter_t *s, size_t n)
{
    memmove(s->text.data, s->text.data + n, s->text.len - n);
    s->text.len -= n;
    s->text.data[s->text.len] = '\0';
    s->pos = 0;
}

char *clove_cli_splitter_next(clove_cli_splitter_t *s)
{
    while (s->text.data && scan(s)) {
        bool content = s->content;
        char *stmt = take(s->text.data, s->pos);
        drop(s, s->pos + 1); /* the statement and its `;` */
        s->content = false;
        if (content && stmt) return stmt;
        free(stmt); /* only comments: nothing to run */
    }
    return NULL;
}

char *clove_cli_splitter_finish(clove_cli_splitter_t *s)
{
    /* a final newline settles any pending look-ahead and ends a trailing -- comment */
    clove_cli_splitter_feed(s, "\n", 1);
    bool found = scan(s);
    CLOVE_ASSERT(!found); /* next() already took every complete statement */
    bool content = s->content;
    char *stmt = take(s->text.data, s->text.len);
    clove_cli_splitter_reset(s);
    if (content && stmt) return stmt;
    free(stmt);
    return NULL;
}

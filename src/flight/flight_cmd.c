/*
 * flight_cmd.c: the Flight SQL command decoder. Everything a client sends to name what it
 * wants (a FlightDescriptor's cmd, a DoGet ticket, a DoPut descriptor, an Action body) comes
 * through here and leaves as a flight_cmd_t or an error: protobuf-c unpacking, the
 * google.protobuf.Any type URL, each command's fields and their checks. No gRPC and no
 * engine, so the fuzz target (tests/fuzz/fuzz_flight_cmd.c) drives exactly this code.
 *
 * Threads: pure functions over the caller's data.
 */
#include "flight/flight_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "Flight.pb-c.h"
#include "FlightSql.pb-c.h"

#define SQL_PREFIX FLIGHT_SQL_TYPE_PREFIX

static bool is_type(const Google__Protobuf__Any *any, const char *name)
{
    size_t n = strlen(SQL_PREFIX);
    return strncmp(any->type_url, SQL_PREFIX, n) == 0 && strcmp(any->type_url + n, name) == 0;
}

char *flight_sql_from_bytes(const uint8_t *data, size_t len, clove_err_t *err)
{
    if (len == 0 || memchr(data, 0, len)) {
        clove_err_set(err, CLOVE_EINVAL, len ? "the SQL text contains a NUL byte"
                                             : "the SQL text is empty");
        return NULL;
    }
    return clove_xstrndup((const char *)data, len);
}

void flight_pack_any(const char *type, const ProtobufCMessage *inner, ProtobufCBinaryData *out)
{
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = (char *)type;
    any.value.len = protobuf_c_message_get_packed_size(inner);
    any.value.data = clove_xmalloc(any.value.len ? any.value.len : 1);
    protobuf_c_message_pack(inner, any.value.data);
    out->len = google__protobuf__any__get_packed_size(&any);
    out->data = clove_xmalloc(out->len ? out->len : 1);
    google__protobuf__any__pack(&any, out->data);
    free(any.value.data);
}

static int unsupported(const Google__Protobuf__Any *any, clove_err_t *err)
{
    const char *name = any->type_url;
    if (strncmp(name, SQL_PREFIX, strlen(SQL_PREFIX)) == 0) name += strlen(SQL_PREFIX);
    return clove_err_set(err, CLOVE_EUNSUPPORTED, "Flight SQL command \"%.200s\" is not "
                         "supported", name);
}

static void copy_bin(ProtobufCBinaryData *out, const ProtobufCBinaryData *in)
{
    out->len = in->len;
    out->data = clove_xmalloc(in->len ? in->len : 1);
    if (in->len) memcpy(out->data, in->data, in->len);
}

/* CommandStatementIngest: only appends to an existing dataset in spice.public. */
static int decode_ingest(const Google__Protobuf__Any *any, flight_cmd_t *out, clove_err_t *err)
{
    Arrow__Flight__Protocol__Sql__CommandStatementIngest *c =
        arrow__flight__protocol__sql__command_statement_ingest__unpack(NULL, any->value.len,
                                                                      any->value.data);
    if (!c) return clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL CommandStatementIngest");
    const Arrow__Flight__Protocol__Sql__CommandStatementIngest__TableDefinitionOptions *o =
        c->table_definition_options;
    int if_exists = o ? (int)o->if_exists : 0;
    const char *catalog = c->catalog_opt_case ? c->catalog : NULL;
    const char *schema = c->schema_opt_case ? c->schema : NULL;
    int rc = 0;
    if (!c->table || !*c->table) {
        rc = clove_err_set(err, CLOVE_EINVAL, "CommandStatementIngest names no table");
    } else if (c->temporary) {
        rc = clove_err_set(err, CLOVE_EUNSUPPORTED, "temporary tables are not supported: "
                           "ingest appends to datasets declared access: read_write");
    } else if (c->transaction_id.len) {
        rc = clove_err_set(err, CLOVE_EUNSUPPORTED, "transactions are not supported");
    } else if (if_exists == 1 || if_exists == 3) { /* FAIL, REPLACE */
        rc = clove_err_set(err, CLOVE_EUNSUPPORTED, "ingest into \"%.200s\" with if_exists %s "
                           "is not supported: datasets only take appends (if_exists APPEND)",
                           c->table, if_exists == 1 ? "FAIL" : "REPLACE");
    } else if (if_exists != 0 && if_exists != 2) {
        rc = clove_err_set(err, CLOVE_EINVAL, "unknown if_exists option %d", if_exists);
    } else if (c->n_options > 0) {
        rc = clove_err_set(err, CLOVE_EUNSUPPORTED, "unknown ingest option \"%.100s\"",
                           c->options[0]->key ? c->options[0]->key : "");
    } else if (catalog && *catalog && strcasecmp(catalog, "spice") != 0) {
        rc = clove_err_set(err, CLOVE_ENOTFOUND, "catalog \"%.100s\" does not exist (datasets "
                           "live in catalog spice, schema public)", catalog);
    } else if (schema && *schema && strcasecmp(schema, "public") != 0) {
        rc = clove_err_set(err, CLOVE_ENOTFOUND, "schema \"%.100s\" does not exist (datasets "
                           "live in schema public)", schema);
    } else {
        out->kind = FLIGHT_CMD_INGEST;
        out->table = clove_xstrdup(c->table);
    }
    arrow__flight__protocol__sql__command_statement_ingest__free_unpacked(c, NULL);
    return rc;
}

int flight_cmd_decode_any(Google__Protobuf__Any *any, flight_cmd_t *out, clove_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (flight_catalog_is_command(any->type_url)) {
        out->kind = FLIGHT_CMD_CATALOG;
        out->any = any;
        return 0;
    }
    int rc = 0;
    if (is_type(any, "CommandStatementQuery")) {
        Arrow__Flight__Protocol__Sql__CommandStatementQuery *c =
            arrow__flight__protocol__sql__command_statement_query__unpack(NULL, any->value.len,
                                                                        any->value.data);
        if (!c) {
            rc = clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL CommandStatementQuery");
        } else {
            out->kind = FLIGHT_CMD_STATEMENT;
            out->sql = flight_sql_from_bytes((const uint8_t *)c->query, strlen(c->query), err);
            if (!out->sql) rc = err->code;
            arrow__flight__protocol__sql__command_statement_query__free_unpacked(c, NULL);
        }
    } else if (is_type(any, "TicketStatementQuery")) {
        Arrow__Flight__Protocol__Sql__TicketStatementQuery *t =
            arrow__flight__protocol__sql__ticket_statement_query__unpack(NULL, any->value.len,
                                                                       any->value.data);
        if (!t) {
            rc = clove_err_set(err, CLOVE_EINVAL, "malformed Flight SQL TicketStatementQuery");
        } else {
            out->kind = FLIGHT_CMD_TICKET;
            out->sql = flight_sql_from_bytes(t->statement_handle.data, t->statement_handle.len,
                                             err);
            if (!out->sql) rc = err->code;
            arrow__flight__protocol__sql__ticket_statement_query__free_unpacked(t, NULL);
        }
    } else if (is_type(any, "CommandPreparedStatementQuery")) {
        Arrow__Flight__Protocol__Sql__CommandPreparedStatementQuery *c =
            arrow__flight__protocol__sql__command_prepared_statement_query__unpack(
                NULL, any->value.len, any->value.data);
        if (!c) {
            rc = clove_err_set(err, CLOVE_EINVAL,
                               "malformed Flight SQL CommandPreparedStatementQuery");
        } else {
            out->kind = FLIGHT_CMD_PREPARED;
            copy_bin(&out->handle, &c->prepared_statement_handle);
            arrow__flight__protocol__sql__command_prepared_statement_query__free_unpacked(c, NULL);
        }
    } else if (is_type(any, "CommandStatementIngest")) {
        rc = decode_ingest(any, out, err);
    } else if (is_type(any, "CommandStatementUpdate")) {
        rc = clove_err_set(err, CLOVE_EUNSUPPORTED,
                           "SQL updates (CommandStatementUpdate) are not supported: user SQL is "
                           "read-only; append Arrow data to a dataset declared access: "
                           "read_write with CommandStatementIngest or a PATH descriptor");
    } else {
        rc = unsupported(any, err);
    }
    google__protobuf__any__free_unpacked(any, NULL);
    if (rc) flight_cmd_dispose(out);
    return rc;
}

int flight_cmd_decode(const uint8_t *data, size_t len, bool raw_sql, flight_cmd_t *out,
                      clove_err_t *err)
{
    memset(out, 0, sizeof(*out));
    Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, data);
    /* a ticket may also be raw UTF-8 SQL: bytes count as an Any only with a type URL */
    if (any && raw_sql &&
        strncmp(any->type_url, FLIGHT_TYPE_URL_PREFIX, strlen(FLIGHT_TYPE_URL_PREFIX)) != 0) {
        google__protobuf__any__free_unpacked(any, NULL);
        any = NULL;
    }
    if (any) return flight_cmd_decode_any(any, out, err);
    if (!raw_sql)
        return clove_err_set(err, CLOVE_EINVAL,
                             "the flight descriptor command is not a google.protobuf.Any");
    out->kind = FLIGHT_CMD_TICKET;
    out->sql = flight_sql_from_bytes(data, len, err);
    return out->sql ? 0 : err->code;
}

int flight_cmd_from_descriptor(const Arrow__Flight__Protocol__FlightDescriptor *desc,
                               bool path_ok, flight_cmd_t *out, clove_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (desc && desc->type == ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__DESCRIPTOR_TYPE__CMD)
        return flight_cmd_decode(desc->cmd.data, desc->cmd.len, false, out, err);
    if (desc && path_ok &&
        desc->type == ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__DESCRIPTOR_TYPE__PATH) {
        /* the Spice runtime's DoPut form: the path names the dataset ("public", "name") */
        clove_buf_t b;
        clove_buf_init(&b);
        for (size_t i = 0; i < desc->n_path; i++) {
            if (i) clove_buf_putc(&b, '.');
            clove_buf_puts(&b, desc->path[i] ? desc->path[i] : "");
        }
        if (!b.len || b.failed) {
            clove_buf_dispose(&b);
            return clove_err_set(err, CLOVE_EINVAL, "No path provided: a PATH descriptor must "
                                 "name the dataset to append to");
        }
        out->kind = FLIGHT_CMD_INGEST;
        out->table = clove_buf_steal(&b);
        return 0;
    }
    if (!desc)
        return clove_err_set(err, CLOVE_EINVAL, "no flight descriptor: expected a CMD holding "
                             "a Flight SQL command%s", path_ok ? " or a PATH naming a dataset"
                                                               : "");
    return clove_err_set(err, CLOVE_EUNSUPPORTED, "only CMD flight descriptors holding a "
                         "Flight SQL command are supported%s",
                         path_ok ? " (and PATH descriptors naming a dataset)" : "");
}

void flight_cmd_dispose(flight_cmd_t *c)
{
    if (!c) return;
    free(c->sql);
    free(c->table);
    free(c->handle.data);
    if (c->any) google__protobuf__any__free_unpacked(c->any, NULL);
    memset(c, 0, sizeof(*c));
}

int flight_action_decode(const uint8_t *data, size_t len, flight_action_t *out,
                         clove_err_t *err)
{
    memset(out, 0, sizeof(*out));
    Arrow__Flight__Protocol__Action *a = arrow__flight__protocol__action__unpack(NULL, len, data);
    if (!a) return clove_err_set(err, CLOVE_EINVAL, "malformed Action");
    int rc = 0;
    bool create = strcmp(a->type, "CreatePreparedStatement") == 0;
    bool close = strcmp(a->type, "ClosePreparedStatement") == 0;
    const char *want = create ? "ActionCreatePreparedStatementRequest"
                              : "ActionClosePreparedStatementRequest";
    Google__Protobuf__Any *any = NULL;
    if (!create && !close) {
        rc = clove_err_set(err, CLOVE_EUNSUPPORTED, "action \"%.100s\" is not supported",
                           a->type);
        goto out;
    }
    any = google__protobuf__any__unpack(NULL, a->body.len, a->body.data);
    if (!any || !is_type(any, want)) {
        rc = clove_err_set(err, CLOVE_EINVAL, "the body of action %s is not an Any(%s)",
                           a->type, want);
        goto out;
    }
    if (create) {
        Arrow__Flight__Protocol__Sql__ActionCreatePreparedStatementRequest *req =
            arrow__flight__protocol__sql__action_create_prepared_statement_request__unpack(
                NULL, any->value.len, any->value.data);
        if (!req) {
            rc = clove_err_set(err, CLOVE_EINVAL,
                               "malformed Flight SQL ActionCreatePreparedStatementRequest");
            goto out;
        }
        out->kind = FLIGHT_ACTION_CREATE_PREPARED;
        out->sql = flight_sql_from_bytes((const uint8_t *)req->query, strlen(req->query), err);
        if (!out->sql) rc = err->code;
        arrow__flight__protocol__sql__action_create_prepared_statement_request__free_unpacked(
            req, NULL);
    } else {
        Arrow__Flight__Protocol__Sql__ActionClosePreparedStatementRequest *req =
            arrow__flight__protocol__sql__action_close_prepared_statement_request__unpack(
                NULL, any->value.len, any->value.data);
        if (!req) {
            rc = clove_err_set(err, CLOVE_EINVAL,
                               "malformed Flight SQL ActionClosePreparedStatementRequest");
            goto out;
        }
        out->kind = FLIGHT_ACTION_CLOSE_PREPARED;
        copy_bin(&out->handle, &req->prepared_statement_handle);
        arrow__flight__protocol__sql__action_close_prepared_statement_request__free_unpacked(
            req, NULL);
    }
out:
    if (any) google__protobuf__any__free_unpacked(any, NULL);
    arrow__flight__protocol__action__free_unpacked(a, NULL);
    if (rc) flight_action_dispose(out);
    return rc;
}

void flight_action_dispose(flight_action_t *a)
{
    if (!a) return;
    free(a->sql);
    free(a->handle.data);
    memset(a, 0, sizeof(*a));
}

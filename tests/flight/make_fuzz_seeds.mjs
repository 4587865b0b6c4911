// Writes the seed corpora of the fuzz targets: tests/fuzz/seeds/flight_cmd (one file per
// valid request of each kind fuzz_flight_cmd.c decodes, first byte = entry point, encoded by
// @grpc/proto-loader from the repository's .proto files) and tests/fuzz/seeds/arrow_ipc
// (IPC streams of several types written by apache-arrow, for fuzz_arrow_ipc.c).
//
//   cd tests/flight && node make_fuzz_seeds.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import protoLoader from '@grpc/proto-loader';
import {
    Binary, DateDay, Dictionary, Float64, Int32, List, Field, Message, Struct, TimestampMillisecond,
    Utf8, tableFromArrays, tableToIPC, vectorFromArray,
} from 'apache-arrow';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const out = path.join(root, 'tests', 'fuzz', 'seeds', 'flight_cmd');
fs.mkdirSync(out, { recursive: true });

const opts = { keepCase: true, longs: String, enums: String, defaults: true,
               includeDirs: [path.join(root, 'proto')] };
const def = protoLoader.loadSync(['Flight.proto', 'FlightSql.proto', 'google/protobuf/any.proto'], opts);
const enc = (name, obj) => def[name].serialize(obj);
const sql = (name, obj) => enc('arrow.flight.protocol.sql.' + name, obj);
const any = (name, bytes) => enc('google.protobuf.Any', {
    type_url: 'type.googleapis.com/arrow.flight.protocol.sql.' + name, value: bytes });

const seeds = {};
const put = (name, mode, bytes) => { seeds[name] = Buffer.concat([Buffer.from([mode]), bytes]); };

const commands = {
    statement: any('CommandStatementQuery', sql('CommandStatementQuery', { query: 'SELECT 1' })),
    prepared: any('CommandPreparedStatementQuery', sql('CommandPreparedStatementQuery', {
        prepared_statement_handle: Buffer.from('0123456789abcdef0123456789abcdef') })),
    catalogs: any('CommandGetCatalogs', Buffer.alloc(0)),
    schemas: any('CommandGetDbSchemas', sql('CommandGetDbSchemas', { catalog: 'spice', db_schema_filter_pattern: 'p_b%' })),
    tables: any('CommandGetTables', sql('CommandGetTables', { catalog: 'spice', db_schema_filter_pattern: 'public',
        table_name_filter_pattern: '%', table_types: ['TABLE', 'VIEW'], include_schema: true })),
    table_types: any('CommandGetTableTypes', Buffer.alloc(0)),
    primary_keys: any('CommandGetPrimaryKeys', sql('CommandGetPrimaryKeys', { catalog: 'spice', db_schema: 'public', table: 't' })),
    sql_info: any('CommandGetSqlInfo', sql('CommandGetSqlInfo', { info: [0, 1, 3, 100, 504, 508, 517] })),
    xdbc: any('CommandGetXdbcTypeInfo', sql('CommandGetXdbcTypeInfo', { data_type: 12 })),
    ingest: any('CommandStatementIngest', sql('CommandStatementIngest', { table: 't', schema: 'public',
        table_definition_options: { if_not_exist: 'TABLE_NOT_EXIST_OPTION_FAIL', if_exists: 'TABLE_EXISTS_OPTION_APPEND' } })),
    update: any('CommandStatementUpdate', sql('CommandStatementUpdate', { query: 'INSERT INTO t VALUES (1)' })),
};
for (const [name, bytes] of Object.entries(commands)) {
    put(`cmd_${name}`, 0, bytes);
    put(`desc_${name}`, 2, enc('arrow.flight.protocol.FlightDescriptor', { type: 'CMD', cmd: bytes }));
}
put('ticket_raw_sql', 1, Buffer.from('SELECT * FROM t WHERE id > 1'));
put('ticket_statement', 1, any('TicketStatementQuery', sql('TicketStatementQuery', { statement_handle: Buffer.from('SELECT 2') })));
put('ticket_tables', 1, commands.tables);
put('desc_path', 2, enc('arrow.flight.protocol.FlightDescriptor', { type: 'PATH', path: ['public', 't'] }));
put('action_create', 4, enc('arrow.flight.protocol.Action', { type: 'CreatePreparedStatement',
    body: any('ActionCreatePreparedStatementRequest', sql('ActionCreatePreparedStatementRequest', { query: 'SELECT ?' })) }));
put('action_close', 4, enc('arrow.flight.protocol.Action', { type: 'ClosePreparedStatement',
    body: any('ActionClosePreparedStatementRequest', sql('ActionClosePreparedStatementRequest', {
        prepared_statement_handle: Buffer.from('0123456789abcdef0123456789abcdef') })) }));

// DoPut streams: parameters for a prepared statement, and an ingest, as FlightData messages
function doPut(descriptor, table) {
    const stream = Buffer.from(tableToIPC(table, 'stream'));
    const parts = [];
    let pos = 0;
    while (pos + 8 <= stream.length) {
        const len = stream.readInt32LE(pos + 4);
        if (len === 0) break;
        const header = stream.subarray(pos + 8, pos + 8 + len);
        const bodyLen = Number(Message.decode(header).bodyLength);
        const fd = { data_header: header, data_body: stream.subarray(pos + 8 + len, pos + 8 + len + bodyLen) };
        if (!parts.length) fd.flight_descriptor = descriptor;
        const bytes = enc('arrow.flight.protocol.FlightData', fd);
        const n = Buffer.alloc(4);
        n.writeUInt32LE(bytes.length);
        parts.push(n, bytes);
        pos += 8 + len + bodyLen;
    }
    return Buffer.concat(parts);
}
const params = tableFromArrays({ a: Int32Array.from([1, 2]), s: vectorFromArray(['x', null]),
                                 d: vectorFromArray([new Date(0), new Date(86400000)], new DateDay()) });
put('put_params', 3, doPut({ type: 'CMD', cmd: commands.prepared }, params));
put('put_ingest', 3, doPut({ type: 'CMD', cmd: commands.ingest }, tableFromArrays({ id: Int32Array.from([5]) })));
put('put_path', 3, doPut({ type: 'PATH', path: ['t'] }, tableFromArrays({ name: vectorFromArray(['y']) })));

for (const [name, bytes] of Object.entries(seeds)) fs.writeFileSync(path.join(out, name), bytes);
console.log(`${Object.keys(seeds).length} seeds in ${path.relative(root, out)}`);

// Arrow IPC streams for fuzz_arrow_ipc.c
const ipcOut = path.join(root, 'tests', 'fuzz', 'seeds', 'arrow_ipc');
fs.mkdirSync(ipcOut, { recursive: true });
const streams = {
    ints_strings: tableFromArrays({ a: Int32Array.from([1, -2, 3]), s: vectorFromArray(['x', null, 'zz']) }),
    floats_dates: tableFromArrays({ f: Float64Array.from([0.5, -1e9]),
        d: vectorFromArray([new Date(0), new Date(86400000)], new DateDay()),
        t: vectorFromArray([new Date(1000), null], new TimestampMillisecond()) }),
    nested: tableFromArrays({
        l: vectorFromArray([[1, 2], [], null], new List(new Field('item', new Int32(), true))),
        st: vectorFromArray([{ a: 1, b: 'q' }, null, { a: 3, b: null }],
            new Struct([new Field('a', new Int32(), true), new Field('b', new Utf8(), true)])) }),
    dict_binary: tableFromArrays({
        k: vectorFromArray(['red', 'blue', 'red'], new Dictionary(new Utf8(), new Int32())),
        b: vectorFromArray([Uint8Array.from([1, 2]), new Uint8Array(0), null], new Binary()) }),
};
for (const [name, table] of Object.entries(streams))
    fs.writeFileSync(path.join(ipcOut, name), Buffer.from(tableToIPC(table, 'stream')));
console.log(`${Object.keys(streams).length} seeds in ${path.relative(root, ipcOut)}`);

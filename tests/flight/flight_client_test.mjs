// Flight SQL conformance test with clients clove did not write: @grpc/grpc-js drives the
// calls (service definition loaded from proto/Flight.proto by @grpc/proto-loader) and
// apache-arrow decodes every schema and record batch clove sends.
//
// Starts tests/flight/flight_test_server (built by hand or by CMake; path in
// $FLIGHT_TEST_SERVER, default build-flight/flight_test_server) on a free port with a
// spicepod written here, runs the checks, stops the server. Exit status 0 = all passed.
//
//   cd tests/flight && npm ci && node flight_client_test.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { Message, tableFromArrays, tableFromIPC, tableToIPC } from 'apache-arrow';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const protoDir = path.join(root, 'proto');
const serverBin = process.env.FLIGHT_TEST_SERVER ||
    path.join(root, 'build-flight', 'flight_test_server');

const SQL_TYPE = 'type.googleapis.com/arrow.flight.protocol.sql.';

// ---- protocol ------------------------------------------------------------------------------

const loadOpts = { keepCase: true, longs: String, enums: String, defaults: true,
                   includeDirs: [protoDir] };
const flightDef = protoLoader.loadSync('Flight.proto', loadOpts);
const FlightService = grpc.loadPackageDefinition(flightDef).arrow.flight.protocol.FlightService;

// Flight SQL messages and google.protobuf.Any travel as bytes inside Flight messages; their
// codecs come from the same proto files through proto-loader's serializers.
const sqlDef = protoLoader.loadSync(['FlightSql.proto', 'google/protobuf/any.proto'], loadOpts);
const codec = (name) => ({
    encode: (obj) => sqlDef[name].serialize(obj),
    decode: (buf) => sqlDef[name].deserialize(buf),
});
const Any = codec('google.protobuf.Any');
const CommandStatementQuery = codec('arrow.flight.protocol.sql.CommandStatementQuery');
const TicketStatementQuery = codec('arrow.flight.protocol.sql.TicketStatementQuery');
const CommandGetCatalogs = { encode: () => Buffer.alloc(0) };
const sqlCodec = (name) => codec('arrow.flight.protocol.sql.' + name);
const CommandGetDbSchemas = sqlCodec('CommandGetDbSchemas');
const CommandGetTables = sqlCodec('CommandGetTables');
const CommandGetPrimaryKeys = sqlCodec('CommandGetPrimaryKeys');
const CommandGetSqlInfo = sqlCodec('CommandGetSqlInfo');
const CommandGetXdbcTypeInfo = sqlCodec('CommandGetXdbcTypeInfo');
const CommandPreparedStatementQuery = sqlCodec('CommandPreparedStatementQuery');
const ActionCreatePreparedStatementRequest = sqlCodec('ActionCreatePreparedStatementRequest');
const ActionCreatePreparedStatementResult = sqlCodec('ActionCreatePreparedStatementResult');
const ActionClosePreparedStatementRequest = sqlCodec('ActionClosePreparedStatementRequest');
const DoPutPreparedStatementResult = sqlCodec('DoPutPreparedStatementResult');

const packAny = (type, bytes) => Any.encode({ type_url: SQL_TYPE + type, value: bytes });

// One IPC stream from FlightData messages: each framed as continuation, metadata length,
// header (padded to 8 bytes) and body, then the end-of-stream marker.
function ipcStream(datas) {
    const pieces = [];
    for (const d of datas) {
        const header = d.data_header;
        const pad = (8 - (header.length % 8)) % 8;
        const prefix = Buffer.alloc(8);
        prefix.writeUInt32LE(0xffffffff, 0);
        prefix.writeInt32LE(header.length + pad, 4);
        pieces.push(prefix, header, Buffer.alloc(pad), d.data_body);
    }
    pieces.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    return Buffer.concat(pieces);
}

// ---- server ----------------------------------------------------------------------------------

function startServer(podDir) {
    return new Promise((resolve, reject) => {
        const child = spawn(serverBin, [podDir, '127.0.0.1:0'], {
            stdio: ['pipe', 'pipe', 'inherit'],
        });
        let out = '';
        child.on('error', reject);
        child.on('exit', (code) => reject(new Error(`test server exited with ${code}`)));
        child.stdout.on('data', (chunk) => {
            out += chunk;
            const m = /flight listening on (\d+)/.exec(out);
            if (m) resolve({ child, port: Number(m[1]) });
        });
    });
}

function writePod() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clove-flight-'));
    fs.mkdirSync(path.join(dir, 'data'));
    const rows = ['id,name,score'];
    for (let i = 0; i < 5000; i++) rows.push(`${i},n${i},${i / 4}`);
    fs.writeFileSync(path.join(dir, 'data', 'nums.csv'), rows.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'spicepod.yaml'), [
        'version: v1',
        'kind: Spicepod',
        'name: flight_test',
        'datasets:',
        '  - from: file:data/nums.csv',
        '    name: nums',
        '    acceleration:',
        '      enabled: true',
        '',
    ].join('\n'));
    return dir;
}

// ---- calls -------------------------------------------------------------------------------------

const unary = (client, method, req) => new Promise((resolve, reject) => {
    client[method](req, (err, res) => (err ? reject(err) : resolve(res)));
});

const collect = (stream) => new Promise((resolve, reject) => {
    const items = [];
    stream.on('data', (d) => items.push(d));
    stream.on('error', reject);
    stream.on('end', () => resolve(items));
});

function handshake(client) {
    return new Promise((resolve, reject) => {
        const call = client.Handshake();
        let headers = null;
        call.on('metadata', (md) => { headers = md; });
        const got = collect(call);
        call.write({ protocol_version: 0, payload: Buffer.from('') });
        call.end();
        got.then((items) => resolve({ items, headers }), reject);
    });
}

async function flightInfo(client, sql) {
    const cmd = packAny('CommandStatementQuery', CommandStatementQuery.encode({ query: sql }));
    return unary(client, 'GetFlightInfo', { type: 'CMD', cmd });
}

async function doGet(client, ticketBytes) {
    return collect(client.DoGet({ ticket: ticketBytes }));
}

async function expectStatus(promise, code, pattern) {
    try {
        await promise;
    } catch (err) {
        assert.equal(err.code, code, `status ${err.code} (${err.details}), expected ${code}`);
        if (pattern) assert.match(err.details, pattern);
        return err;
    }
    assert.fail(`call succeeded, expected status ${code}`);
}

// ---- checks ------------------------------------------------------------------------------------

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check('Handshake returns a bearer token in payload and metadata', async (client) => {
    const { items, headers } = await handshake(client);
    assert.equal(items.length, 1);
    const token = Buffer.from(items[0].payload).toString();
    assert.match(token, /^[0-9a-f]{32}$/);
    assert.deepEqual(headers.get('authorization'), [`Bearer ${token}`]);
    const again = await handshake(client);
    assert.notEqual(Buffer.from(again.items[0].payload).toString(), token);
});

check('GetFlightInfo + DoGet: SELECT 1 AS a, \'x\' AS b', async (client) => {
    const sql = "SELECT 1 AS a, 'x' AS b";
    const info = await flightInfo(client, sql);
    assert.equal(info.total_records, '-1');
    assert.equal(info.flight_descriptor.type, 'CMD');
    assert.equal(info.endpoint.length, 1);

    // schema: an encapsulated IPC Schema message; apache-arrow reads it as an empty stream
    const schemaTable = tableFromIPC(Buffer.concat([info.schema,
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])]));
    assert.deepEqual(schemaTable.schema.fields.map((f) => f.name), ['a', 'b']);
    assert.equal(String(schemaTable.schema.fields[0].type), 'Int32');
    assert.equal(String(schemaTable.schema.fields[1].type), 'Utf8');

    // ticket: Any(TicketStatementQuery{statement_handle})
    const ticket = info.endpoint[0].ticket.ticket;
    const any = Any.decode(ticket);
    assert.equal(any.type_url, SQL_TYPE + 'TicketStatementQuery');
    assert.equal(Buffer.from(TicketStatementQuery.decode(any.value).statement_handle).toString(),
                 sql);

    const datas = await doGet(client, ticket);
    assert.ok(datas.length >= 2, `expected schema + batch, got ${datas.length} messages`);
    const table = tableFromIPC(ipcStream(datas));
    assert.equal(table.numRows, 1);
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), [{ a: 1, b: 'x' }]);
});

check('DoGet with a raw UTF-8 SQL ticket', async (client) => {
    const datas = await doGet(client, Buffer.from('SELECT 42 AS answer, NULL::VARCHAR AS n'));
    const table = tableFromIPC(ipcStream(datas));
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), [{ answer: 42, n: null }]);
});

check('DoGet streams several batches of a dataset', async (client) => {
    const info = await flightInfo(client,
        'SELECT id, name, score FROM nums ORDER BY id');
    const datas = await doGet(client, info.endpoint[0].ticket.ticket);
    assert.ok(datas.length >= 3, `expected several batches, got ${datas.length - 1}`);
    const table = tableFromIPC(ipcStream(datas));
    assert.equal(table.numRows, 5000);
    const ids = table.getChild('id').toArray();
    const names = table.getChild('name');
    const scores = table.getChild('score');
    for (const i of [0, 1, 2047, 2048, 4999]) {
        assert.equal(Number(ids[i]), i);
        assert.equal(names.get(i), `n${i}`);
        assert.equal(scores.get(i), i / 4);
    }
});

check('SQL error -> INVALID_ARGUMENT with the message (GetFlightInfo and DoGet)', async (client) => {
    await expectStatus(flightInfo(client, 'SELEC nonsense'), grpc.status.INVALID_ARGUMENT,
                       /syntax error/i);
    await expectStatus(flightInfo(client, 'SELECT * FROM no_such_table'),
                       grpc.status.INVALID_ARGUMENT, /no_such_table/);
    await expectStatus(doGet(client, Buffer.from('SELECT * FROM no_such_table')),
                       grpc.status.INVALID_ARGUMENT, /no_such_table/);
});

check('sandbox refusals and malformed requests are errors, not crashes', async (client) => {
    await expectStatus(doGet(client, Buffer.from("SELECT * FROM read_csv('/etc/passwd')")),
                       grpc.status.PERMISSION_DENIED, /read_csv.*not allowed/);
    await expectStatus(unary(client, 'GetFlightInfo', { type: 'PATH', path: ['nums'] }),
                       grpc.status.UNIMPLEMENTED);
    await expectStatus(unary(client, 'GetFlightInfo', { type: 'CMD', cmd: Buffer.from([0xff, 0x01]) }),
                       grpc.status.INVALID_ARGUMENT);
    await expectStatus(unary(client, 'GetFlightInfo',
                             { type: 'CMD', cmd: packAny('CommandStatementUpdate', Buffer.alloc(0)) }),
                       grpc.status.UNIMPLEMENTED, /CommandStatementUpdate/);
    await expectStatus(doGet(client, Buffer.alloc(0)), grpc.status.INVALID_ARGUMENT);
});

check('other methods are UNIMPLEMENTED', async (client) => {
    await expectStatus(collect(client.ListFlights({ expression: Buffer.alloc(0) })),
                       grpc.status.UNIMPLEMENTED);
    await expectStatus(collect(client.DoAction({ type: 'BeginTransaction', body: Buffer.alloc(0) })),
                       grpc.status.UNIMPLEMENTED, /BeginTransaction/);
    await expectStatus(collect(client.DoAction({ type: 'CreatePreparedStatement', body: Buffer.alloc(0) })),
                       grpc.status.INVALID_ARGUMENT);
    await expectStatus(unary(client, 'GetSchema', { type: 'CMD', cmd: Buffer.alloc(0) }),
                       grpc.status.UNIMPLEMENTED);
});

// ---- GetSchema, catalog commands, prepared statements ------------------------------------------

const schemaOf = (bytes) => tableFromIPC(Buffer.concat([bytes,
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])])).schema;
const fieldsOf = (schema) => schema.fields.map((f) => `${f.name}:${f.type}:${f.nullable ? 'null' : 'not null'}`);

// GetFlightInfo(command) then DoGet(ticket); returns the decoded table and the info schema.
async function runCommand(client, type, bytes) {
    const info = await unary(client, 'GetFlightInfo', { type: 'CMD', cmd: packAny(type, bytes) });
    const datas = await doGet(client, info.endpoint[0].ticket.ticket);
    return { table: tableFromIPC(ipcStream(datas)), schema: schemaOf(info.schema) };
}

// An IPC stream from apache-arrow, cut into FlightData messages (header, body).
function flightDatas(stream, descriptor) {
    const out = [];
    let pos = 0;
    while (pos + 8 <= stream.length) {
        const len = stream.readInt32LE(pos + 4);
        if (len === 0) break;
        const header = stream.subarray(pos + 8, pos + 8 + len);
        const bodyLen = Number(Message.decode(header).bodyLength);
        const body = stream.subarray(pos + 8 + len, pos + 8 + len + bodyLen);
        out.push({ data_header: header, data_body: body, app_metadata: Buffer.alloc(0) });
        pos += 8 + len + bodyLen;
    }
    if (out.length) out[0].flight_descriptor = descriptor;
    return out;
}

function doPut(client, datas) {
    const call = client.DoPut();
    const got = collect(call);
    for (const d of datas) call.write(d);
    call.end();
    return got;
}

async function createPrepared(client, query) {
    const body = packAny('ActionCreatePreparedStatementRequest',
                         ActionCreatePreparedStatementRequest.encode({ query }));
    const results = await collect(client.DoAction({ type: 'CreatePreparedStatement', body }));
    assert.equal(results.length, 1);
    const any = Any.decode(results[0].body);
    assert.equal(any.type_url, SQL_TYPE + 'ActionCreatePreparedStatementResult');
    return ActionCreatePreparedStatementResult.decode(any.value);
}

check('GetSchema returns the IPC schema of a statement without running it', async (client) => {
    const cmd = packAny('CommandStatementQuery',
                        CommandStatementQuery.encode({ query: "SELECT 1 AS a, 'x' AS b, 2.5::DOUBLE AS c" }));
    const res = await unary(client, 'GetSchema', { type: 'CMD', cmd });
    const schema = schemaOf(res.schema);
    assert.deepEqual(schema.fields.map((f) => [f.name, String(f.type)]),
                     [['a', 'Int32'], ['b', 'Utf8'], ['c', 'Float64']]);
    await expectStatus(unary(client, 'GetSchema', { type: 'CMD', cmd: packAny('CommandStatementQuery',
        CommandStatementQuery.encode({ query: 'SELECT * FROM nope' })) }),
        grpc.status.INVALID_ARGUMENT, /nope/);
});

check('GetFlightInfo and GetSchema prepare without executing', async (client) => {
    // fails only when it runs: the schema comes back, DoGet reports the error
    const sql = "SELECT error('ran at describe time')::INTEGER AS x, 'y' AS y";
    const info = await flightInfo(client, sql);
    assert.deepEqual(schemaOf(info.schema).fields.map((f) => [f.name, String(f.type)]),
                     [['x', 'Int32'], ['y', 'Utf8']]);
    const cmd = packAny('CommandStatementQuery', CommandStatementQuery.encode({ query: sql }));
    const res = await unary(client, 'GetSchema', { type: 'CMD', cmd });
    assert.deepEqual(schemaOf(res.schema).fields.map((f) => f.name), ['x', 'y']);
    await expectStatus(doGet(client, info.endpoint[0].ticket.ticket), grpc.status.INVALID_ARGUMENT,
                       /ran at describe time/);
    // parameters cannot be left unbound in a plain statement
    await expectStatus(flightInfo(client, 'SELECT ? + 1'), grpc.status.INVALID_ARGUMENT,
                       /1 parameter\(s\) but none were given/);
});

check('CommandGetCatalogs: one catalog "spice"', async (client) => {
    const { table, schema } = await runCommand(client, 'CommandGetCatalogs', Buffer.alloc(0));
    assert.deepEqual(fieldsOf(schema), ['catalog_name:Utf8:not null']);
    assert.deepEqual(fieldsOf(table.schema), fieldsOf(schema));
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), [{ catalog_name: 'spice' }]);
});

check('CommandGetDbSchemas with catalog and LIKE pattern filters', async (client) => {
    let r = await runCommand(client, 'CommandGetDbSchemas', CommandGetDbSchemas.encode({}));
    assert.deepEqual(fieldsOf(r.schema), ['catalog_name:Utf8:null', 'db_schema_name:Utf8:not null']);
    assert.deepEqual(r.table.toArray().map((x) => x.toJSON()),
                     [{ catalog_name: 'spice', db_schema_name: 'public' }]);
    r = await runCommand(client, 'CommandGetDbSchemas',
                         CommandGetDbSchemas.encode({ db_schema_filter_pattern: 'pub%' }));
    assert.equal(r.table.numRows, 1);
    r = await runCommand(client, 'CommandGetDbSchemas',
                         CommandGetDbSchemas.encode({ db_schema_filter_pattern: 'p_blic' }));
    assert.equal(r.table.numRows, 1);
    r = await runCommand(client, 'CommandGetDbSchemas',
                         CommandGetDbSchemas.encode({ db_schema_filter_pattern: 'main' }));
    assert.equal(r.table.numRows, 0);
    r = await runCommand(client, 'CommandGetDbSchemas', CommandGetDbSchemas.encode({ catalog: 'other' }));
    assert.equal(r.table.numRows, 0);
});

check('CommandGetTables: filters, table types and include_schema', async (client) => {
    let r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({}));
    assert.deepEqual(fieldsOf(r.schema), ['catalog_name:Utf8:null', 'db_schema_name:Utf8:null',
                                          'table_name:Utf8:not null', 'table_type:Utf8:not null']);
    assert.deepEqual(r.table.toArray().map((x) => x.toJSON()),
                     [{ catalog_name: 'spice', db_schema_name: 'public', table_name: 'nums', table_type: 'TABLE' }]);
    r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({ table_name_filter_pattern: 'n_m%' }));
    assert.equal(r.table.numRows, 1);
    r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({ table_name_filter_pattern: 'x%' }));
    assert.equal(r.table.numRows, 0);
    r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({ table_types: ['VIEW'] }));
    assert.equal(r.table.numRows, 0);
    r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({ catalog: 'spice',
        db_schema_filter_pattern: 'public', table_types: ['TABLE'], include_schema: true }));
    assert.deepEqual(fieldsOf(r.schema).slice(4), ['table_schema:Binary:not null']);
    assert.equal(r.table.numRows, 1);
    const ts = schemaOf(Buffer.from(r.table.getChild('table_schema').get(0)));
    assert.deepEqual(ts.fields.map((f) => [f.name, String(f.type)]),
                     [['id', 'Int64'], ['name', 'Utf8'], ['score', 'Float64']]);
});

check('CommandGetTableTypes and CommandGetPrimaryKeys', async (client) => {
    let r = await runCommand(client, 'CommandGetTableTypes', Buffer.alloc(0));
    assert.deepEqual(fieldsOf(r.schema), ['table_type:Utf8:not null']);
    assert.deepEqual(r.table.toArray().map((x) => x.table_type), ['TABLE', 'VIEW']);
    r = await runCommand(client, 'CommandGetPrimaryKeys', CommandGetPrimaryKeys.encode({ table: 'nums' }));
    assert.deepEqual(fieldsOf(r.schema), ['catalog_name:Utf8:null', 'db_schema_name:Utf8:null',
        'table_name:Utf8:not null', 'column_name:Utf8:not null', 'key_name:Utf8:null',
        'key_sequence:Int32:not null']);
    assert.equal(r.table.numRows, 0);
});

check('CommandGetSqlInfo: dense union values', async (client) => {
    const r = await runCommand(client, 'CommandGetSqlInfo',
                               CommandGetSqlInfo.encode({ info: [0, 1, 3, 100, 504, 507, 508, 517, 500, 99999] }));
    assert.equal(r.schema.fields[0].name, 'info_name');
    assert.equal(String(r.schema.fields[0].type), 'Uint32');
    assert.equal(r.schema.fields[0].nullable, false);
    const u = r.schema.fields[1];
    assert.equal(u.name, 'value');
    assert.equal(u.nullable, false);
    assert.equal(u.type.mode, 1 /* Dense */);
    assert.deepEqual(u.type.children.map((f) => f.name), ['string_value', 'bool_value', 'bigint_value',
        'int32_bitmask', 'string_list', 'int32_to_int32_list_map']);
    const vals = {};
    for (let i = 0; i < r.table.numRows; i++)
        vals[r.table.getChild('info_name').get(i)] = r.table.getChild('value').get(i);
    assert.deepEqual(Object.keys(vals).map(Number).sort((a, b) => a - b), [0, 1, 3, 100, 500, 504, 507, 508, 517]);
    assert.equal(vals[0], 'clove');
    assert.match(vals[1], /^\d+\.\d+\.\d+/);
    assert.equal(vals[3], true);
    assert.equal(vals[500], false);
    assert.equal(vals[100], 600000);
    assert.equal(vals[504], '"');
    assert.equal(Number(vals[507]), 3);
    assert.ok(vals[508].toArray().includes('select'), 'SQL_KEYWORDS holds select');
    const convert = vals[517].toJSON();
    assert.ok(Array.from(convert[7]).includes(19), 'INTEGER converts to VARCHAR');
    assert.deepEqual(Array.from(convert[19]).slice(0, 3), [0, 2, 4]);
    const all = await runCommand(client, 'CommandGetSqlInfo', CommandGetSqlInfo.encode({}));
    assert.ok(all.table.numRows > 60);
});

check('CommandGetXdbcTypeInfo', async (client) => {
    let r = await runCommand(client, 'CommandGetXdbcTypeInfo', CommandGetXdbcTypeInfo.encode({}));
    assert.deepEqual(fieldsOf(r.schema).slice(0, 6), ['type_name:Utf8:not null', 'data_type:Int32:not null',
        'column_size:Int32:null', 'literal_prefix:Utf8:null', 'literal_suffix:Utf8:null',
        'create_params:List<Utf8>:null']);
    assert.equal(r.schema.fields.length, 19);
    const types = r.table.getChild('data_type').toArray();
    assert.deepEqual([...types], [...types].sort((a, b) => a - b));
    r = await runCommand(client, 'CommandGetXdbcTypeInfo', CommandGetXdbcTypeInfo.encode({ data_type: 12 }));
    assert.deepEqual(r.table.toArray().map((x) => x.type_name), ['VARCHAR']);
    r = await runCommand(client, 'CommandGetXdbcTypeInfo', CommandGetXdbcTypeInfo.encode({ data_type: 3 }));
    assert.deepEqual(r.table.getChild('create_params').get(0).toArray(), ['precision', 'scale']);
});

check('ListActions', async (client) => {
    const actions = await collect(client.ListActions({}));
    assert.deepEqual(actions.map((a) => a.type), ['CreatePreparedStatement', 'ClosePreparedStatement']);
});

check('prepared statement: SELECT ? + ? bound by DoPut, reused, closed', async (client) => {
    const ps = await createPrepared(client, 'SELECT ? + ? AS s');
    const handle = ps.prepared_statement_handle;
    assert.ok(handle.length > 0);
    const cmd = packAny('CommandPreparedStatementQuery', CommandPreparedStatementQuery.encode({
        prepared_statement_handle: handle }));
    const descriptor = { type: 'CMD', cmd };
    const run = async (a, b) => {
        const params = tableToIPC(tableFromArrays({ a: BigInt64Array.from([a]), b: BigInt64Array.from([b]) }), 'stream');
        const puts = await doPut(client, flightDatas(Buffer.from(params), descriptor));
        assert.equal(puts.length, 1);
        const dr = DoPutPreparedStatementResult.decode(puts[0].app_metadata);
        assert.deepEqual(Buffer.from(dr.prepared_statement_handle), Buffer.from(handle));
        const info = await unary(client, 'GetFlightInfo', descriptor);
        const datas = await doGet(client, info.endpoint[0].ticket.ticket);
        return tableFromIPC(ipcStream(datas)).toArray().map((x) => x.toJSON());
    };
    assert.deepEqual((await run(1n, 2n)).map((x) => Number(x.s)), [3]);
    assert.deepEqual((await run(40n, 2n)).map((x) => Number(x.s)), [42]);

    // a statement with a result schema known at prepare time
    const ps2 = await createPrepared(client, "SELECT id, name FROM nums WHERE id < ? ORDER BY id");
    assert.deepEqual(schemaOf(ps2.dataset_schema).fields.map((f) => f.name), ['id', 'name']);
    const cmd2 = packAny('CommandPreparedStatementQuery', CommandPreparedStatementQuery.encode({
        prepared_statement_handle: ps2.prepared_statement_handle }));
    const params = tableToIPC(tableFromArrays({ p: Int32Array.from([3]) }), 'stream');
    await doPut(client, flightDatas(Buffer.from(params), { type: 'CMD', cmd: cmd2 }));
    const gs = await unary(client, 'GetSchema', { type: 'CMD', cmd: cmd2 });
    assert.deepEqual(schemaOf(gs.schema).fields.map((f) => f.name), ['id', 'name']);
    const rows = tableFromIPC(ipcStream(await doGet(client, cmd2))).toArray().map((x) => x.name);
    assert.deepEqual(rows, ['n0', 'n1', 'n2']);

    for (const h of [handle, ps2.prepared_statement_handle]) {
        const body = packAny('ActionClosePreparedStatementRequest',
                             ActionClosePreparedStatementRequest.encode({ prepared_statement_handle: h }));
        assert.deepEqual(await collect(client.DoAction({ type: 'ClosePreparedStatement', body })), []);
    }
    await expectStatus(doGet(client, cmd), grpc.status.NOT_FOUND, /unknown or expired/);
    await expectStatus(createPrepared(client, "SELECT * FROM read_csv('/etc/passwd')"),
                       grpc.status.PERMISSION_DENIED, /not allowed/);
    await expectStatus(createPrepared(client, 'SELEC 1'), grpc.status.INVALID_ARGUMENT, /syntax/i);
});

check('concurrent DoGets', async (client) => {
    const runs = [];
    for (let i = 0; i < 8; i++)
        runs.push(doGet(client, Buffer.from(`SELECT ${i} AS i, count(*) AS c FROM nums`)));
    const results = await Promise.all(runs);
    results.forEach((datas, i) => {
        const row = tableFromIPC(ipcStream(datas)).toArray()[0].toJSON();
        assert.equal(row.i, i);
        assert.equal(Number(row.c), 5000);
    });
});

check('a client that cancels mid-stream frees its call; later calls still work', async (client) => {
    const call = client.DoGet({ ticket: Buffer.from('SELECT range AS v FROM range(50000000)') });
    await new Promise((resolve, reject) => {
        call.once('data', () => { call.cancel(); resolve(); });
        call.on('error', (e) => { if (e.code !== grpc.status.CANCELLED) reject(e); });
    });
    const datas = await doGet(client, Buffer.from('SELECT 7 AS seven'));
    assert.deepEqual(tableFromIPC(ipcStream(datas)).toArray().map((r) => r.toJSON()), [{ seven: 7 }]);
});

// ---- main --------------------------------------------------------------------------------------

const podDir = writePod();
const { child, port } = await startServer(podDir);
const client = new FlightService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
let failed = 0;
for (const { name, fn } of checks) {
    try {
        await fn(client);
        console.log(`ok     ${name}`);
    } catch (err) {
        failed++;
        console.log(`FAILED ${name}\n       ${err.stack || err}`);
    }
}
// Stopping with a stalled reader on a big result: the server must cancel it and exit.
const stalled = client.DoGet({ ticket: Buffer.from('SELECT range AS v FROM range(50000000)') });
stalled.on('error', () => {});
await new Promise((resolve) => stalled.once('data', () => { stalled.pause(); resolve(); }));
child.removeAllListeners('exit');
const exited = new Promise((resolve) => child.on('exit', resolve));
const t0 = Date.now();
child.kill('SIGTERM');
const code = await exited;
const stopMs = Date.now() - t0;
client.close();
if (stopMs > 5000) {
    failed++;
    console.log(`FAILED stopping with a stalled DoGet took ${stopMs} ms`);
} else {
    console.log(`ok     stop with a stalled DoGet in flight (${stopMs} ms)`);
}
fs.rmSync(podDir, { recursive: true, force: true });
if (code !== 0 && code !== null) {
    failed++;
    console.log(`FAILED test server exited with status ${code}`);
}
console.log(failed ? `${failed} check(s) failed` : `all ${checks.length + 1} checks passed`);
process.exit(failed ? 1 : 0);

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
import { execFileSync } from 'node:child_process';
import {
    Binary, Bool, DateDay, Decimal, Float32, Float64, Int16, Int32, Int64, Int8, Null,
    Table, TimeMicrosecond, Timestamp, TimeUnit, Uint16, Uint32, Uint64, Uint8, Utf8, makeData,
    makeVector, tableFromArrays, tableFromIPC, tableToIPC, vectorFromArray,
} from 'apache-arrow';

import { flightDatas } from './flight_data.mjs';

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

// Row i of a 64-bit column as stored (timestamps: get() rounds to milliseconds).
const raw64 = (vec, i) => {
    for (const d of vec.data) {
        if (i < d.length) return d.values[d.offset + i];
        i -= d.length;
    }
    return undefined;
};

// ---- server ----------------------------------------------------------------------------------

function startServer(podDir, extraArgs = []) {
    return new Promise((resolve, reject) => {
        const child = spawn(serverBin, [podDir, '127.0.0.1:0', ...extraArgs], {
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
    fs.writeFileSync(path.join(dir, 'data', 'events.csv'),
                     'id,name,amount,seen_at\n1,first,1.50,2024-01-02 03:04:05\n');
    fs.writeFileSync(path.join(dir, 'data', 'keyed.csv'), 'id,name\n1,one\n2,two\n');
    fs.writeFileSync(path.join(dir, 'spicepod.yaml'), [
        'version: v1',
        'kind: Spicepod',
        'name: flight_test',
        'datasets:',
        '  - from: file:data/nums.csv',
        '    name: nums',
        '    acceleration:',
        '      enabled: true',
        // appends (DoPut): plain, keyed with upsert, SQLite keyed with drop, not accelerated
        '  - from: file:data/events.csv',
        '    name: events',
        '    access: read_write',
        '    acceleration:',
        '      enabled: true',
        '  - from: file:data/keyed.csv',
        '    name: keyed',
        '    access: read_write',
        '    acceleration:',
        '      enabled: true',
        '      primary_key: id',
        '      on_conflict:',
        '        id: upsert',
        '  - from: file:data/keyed.csv',
        '    name: keyed_lite',
        '    access: read_write',
        '    acceleration:',
        '      enabled: true',
        '      engine: sqlite',
        '      primary_key: id',
        '      on_conflict:',
        '        id: drop',
        '  - from: file:data/keyed.csv',
        '    name: fed',
        '    access: read_write',
        '',
    ].join('\n'));
    return dir;
}

// A second server: API keys (ro, rw, plain) and TLS with a throwaway CA made by openssl.
function writeSecurePod() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clove-flight-secure-'));
    fs.mkdirSync(path.join(dir, 'data'));
    fs.writeFileSync(path.join(dir, 'data', 'log.csv'), 'id,msg\n1,hello\n');
    fs.writeFileSync(path.join(dir, 'spicepod.yaml'), [
        'version: v1',
        'kind: Spicepod',
        'name: flight_secure',
        'runtime:',
        '  auth:',
        '    api-key:',
        '      enabled: true',
        '      keys: ["reader-key:ro", "writer-key:rw", "plain-key"]',
        'datasets:',
        '  - from: file:data/log.csv',
        '    name: log',
        '    access: read_write',
        '    acceleration:',
        '      enabled: true',
        '',
    ].join('\n'));
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
        '-days', '2', '-subj', '/CN=clove conformance CA');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr',
        '-subj', '/CN=localhost');
    fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
        '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
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

const EVERY_TYPE_SQL = `SELECT -1::TINYINT AS i8, -2::SMALLINT AS i16, -3::INTEGER AS i32,
    -4::BIGINT AS i64, 1::UTINYINT AS u8, 2::USMALLINT AS u16, 3::UINTEGER AS u32,
    18446744073709551615::UBIGINT AS u64, -170141183460469231731687303715884105727::HUGEINT AS hi,
    1.5::FLOAT AS f32, 2.25::DOUBLE AS f64, 123.45::DECIMAL(5,2) AS d5,
    -1234567890.123456789::DECIMAL(38,9) AS d38, true AS b, 'héllo' AS s, '\\xAA\\x00\\xBB'::BLOB AS bin,
    DATE '2024-02-29' AS d, TIME '12:34:56.789012' AS t, TIMESTAMP '2024-01-02 03:04:05.678901' AS ts,
    TIMESTAMPTZ '2024-01-02 03:04:05.5+00' AS tz, INTERVAL '14 months 2 days 3 microseconds' AS iv,
    [1, 2, NULL]::INTEGER[] AS l, {'a': 1, 'b': 'x'} AS st, MAP {'k': 10, 'm': 20} AS m, NULL AS n,
    '0b7c1a74-2f6e-4c1b-9d3e-8a5f6b7c8d9e'::UUID AS u, [[1], []]::INTEGER[][] AS ll`;

check('apache-arrow decodes every type clove produces, value by value', async (client) => {
    const info = await flightInfo(client, EVERY_TYPE_SQL);
    const datas = await doGet(client, info.endpoint[0].ticket.ticket);
    const t = tableFromIPC(ipcStream(datas));
    const types = t.schema.fields.map((f) => `${f.name}:${f.type}`);
    // the FlightInfo schema (from preparing) and the stream's agree
    assert.deepEqual(schemaOf(info.schema).fields.map((f) => `${f.name}:${f.type}`), types);
    assert.deepEqual(types, ['i8:Int8', 'i16:Int16', 'i32:Int32', 'i64:Int64', 'u8:Uint8',
        'u16:Uint16', 'u32:Uint32', 'u64:Uint64', 'hi:Decimal[38e0]', 'f32:Float32', 'f64:Float64',
        'd5:Decimal[5e+2]', 'd38:Decimal[38e+9]', 'b:Bool', 's:Utf8', 'bin:Binary', 'd:Date32<DAY>',
        't:Time64<MICROSECOND>', 'ts:Timestamp<MICROSECOND>', types[19], 'iv:Interval<MONTH_DAY_NANO>',
        'l:List<Int32>', 'st:Struct<{a:Int32, b:Utf8}>', 'm:Map<{key:Utf8, value:Int32}>',
        'n:Int32', 'u:Utf8', 'll:List<List<Int32>>']);
    assert.match(types[19], /^tz:Timestamp<MICROSECOND, (Etc\/)?UTC>$/);
    assert.equal(t.numRows, 1);
    const v = (name) => t.getChild(name).get(0);
    assert.deepEqual([v('i8'), v('i16'), v('i32'), v('i64')], [-1, -2, -3, -4n]);
    assert.deepEqual([v('u8'), v('u16'), v('u32'), v('u64')], [1, 2, 3, 18446744073709551615n]);
    assert.equal(String(v('hi')), '-170141183460469231731687303715884105727');
    assert.deepEqual([v('f32'), v('f64')], [1.5, 2.25]);
    assert.deepEqual([String(v('d5')), String(v('d38'))], ['12345', '-1234567890123456789']);
    assert.deepEqual([v('b'), v('s')], [true, 'héllo']);
    assert.deepEqual([...v('bin')], [0xaa, 0x00, 0xbb]);
    assert.equal(v('d'), Date.UTC(2024, 1, 29));
    assert.equal(v('t'), 45296789012n);
    assert.equal(raw64(t.getChild('ts'), 0), 1704164645678901n);
    assert.equal(raw64(t.getChild('tz'), 0), 1704164645500000n);
    assert.deepEqual([...v('iv')], [14, 2, 3000, 0]); // months, days, nanoseconds (low, high)
    assert.deepEqual([...v('l')], [1, 2, null]);
    assert.deepEqual(v('st').toJSON(), { a: 1, b: 'x' });
    assert.deepEqual(v('m').toJSON(), { k: 10, m: 20 });
    assert.equal(v('n'), null);
    assert.equal(v('u'), '0b7c1a74-2f6e-4c1b-9d3e-8a5f6b7c8d9e');
    assert.deepEqual([...v('ll')].map((x) => [...x]), [[1], []]);
    // the same answer over a raw SQL ticket (values under nulls are unspecified in Arrow:
    // compare decoded rows, not bytes)
    const again = tableFromIPC(ipcStream(await doGet(client, Buffer.from(EVERY_TYPE_SQL))));
    const json = (tb) => JSON.stringify(tb.toArray()[0].toJSON(), (k, x) => (typeof x === 'bigint' ? String(x) : x));
    assert.equal(json(again), json(t));
});

check('DoGet with a raw UTF-8 SQL ticket', async (client) => {
    const datas = await doGet(client, Buffer.from('SELECT 42 AS answer, NULL::VARCHAR AS n'));
    const table = tableFromIPC(ipcStream(datas));
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), [{ answer: 42, n: null }]);
});

check('DoGet streams a large answer in several record batches of at most 1 MiB', async (client) => {
    // ~1.9 MB of Arrow data, ~0.8 MB per DuckDB chunk: the answer comes in several batches
    const info = await flightInfo(client,
        "SELECT id, name, score, repeat(name || ' ', 60) AS pad FROM nums ORDER BY id");
    const datas = await doGet(client, info.endpoint[0].ticket.ticket);
    assert.ok(datas.length >= 4, `expected several batches, got ${datas.length - 1}`);
    for (const d of datas)
        assert.ok(d.data_body.length <= 1 << 20, `a body of ${d.data_body.length} bytes`);
    const table = tableFromIPC(ipcStream(datas));
    assert.equal(table.numRows, 5000);
    const ids = table.getChild('id').toArray();
    const names = table.getChild('name');
    const scores = table.getChild('score');
    const pads = table.getChild('pad');
    for (const i of [0, 1, 2047, 2048, 4095, 4096, 4999]) {
        assert.equal(Number(ids[i]), i);
        assert.equal(names.get(i), `n${i}`);
        assert.equal(scores.get(i), i / 4);
        assert.equal(pads.get(i), `n${i} `.repeat(60));
    }
    // the same rows without the padding fit in one record batch
    const small = await doGet(client, Buffer.from('SELECT id, name, score FROM nums ORDER BY id'));
    assert.equal(small.length, 2);
    assert.equal(tableFromIPC(ipcStream(small)).numRows, 5000);
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
    assert.deepEqual(r.table.toArray().map((x) => x.toJSON()).filter((x) => x.table_name === 'nums'),
                     [{ catalog_name: 'spice', db_schema_name: 'public', table_name: 'nums', table_type: 'TABLE' }]);
    assert.deepEqual([...r.table.getChild('table_name')].sort(),
                     ['events', 'fed', 'keyed', 'keyed_lite', 'nums']);
    r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({ table_name_filter_pattern: 'n_m%' }));
    assert.equal(r.table.numRows, 1);
    r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({ table_name_filter_pattern: 'x%' }));
    assert.equal(r.table.numRows, 0);
    r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({ table_types: ['VIEW'] }));
    assert.deepEqual([...r.table.getChild('table_name')].sort(), ['fed', 'keyed_lite']);
    r = await runCommand(client, 'CommandGetTables', CommandGetTables.encode({ catalog: 'spice',
        db_schema_filter_pattern: 'public', table_name_filter_pattern: 'nums', table_types: ['TABLE'],
        include_schema: true }));
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

// ---- typed parameters, several parameter rows -------------------------------------------------

const preparedCmd = (handle) => packAny('CommandPreparedStatementQuery',
    CommandPreparedStatementQuery.encode({ prepared_statement_handle: handle }));

// Binds the columns of `table` (one row per run) to a new prepared statement and returns
// the rows DoGet answers, with the answer's schema.
async function runPrepared(client, sql, table) {
    const ps = await createPrepared(client, sql);
    const cmd = preparedCmd(ps.prepared_statement_handle);
    const puts = await doPut(client, flightDatas(Buffer.from(tableToIPC(table, 'stream')),
                                                 { type: 'CMD', cmd }));
    assert.equal(puts.length, 1);
    const info = await unary(client, 'GetFlightInfo', { type: 'CMD', cmd });
    const answer = tableFromIPC(ipcStream(await doGet(client, info.endpoint[0].ticket.ticket)));
    const body = packAny('ActionClosePreparedStatementRequest',
                         ActionClosePreparedStatementRequest.encode({ prepared_statement_handle: ps.prepared_statement_handle }));
    await collect(client.DoAction({ type: 'ClosePreparedStatement', body }));
    return answer;
}

const col = (type, data, nulls, length = data.length ?? data) => {
    const props = { type, length, nullCount: 0 };
    if (typeof data !== 'number') props.data = data;
    if (nulls) {
        props.nullBitmap = Uint8Array.from([nulls.reduce((m, v, i) => m | (v ? 1 << i : 0), 0)]); // 1 = valid
        props.nullCount = nulls.filter((v) => !v).length;
    }
    return makeVector(makeData(props));
};

check('prepared statement parameters of every common type keep their type', async (client) => {
    const day = (iso) => Math.round(Date.parse(iso) / 86400000);
    const us = (iso) => BigInt(Date.parse(iso)) * 1000n;
    const params = new Table({
        i8: col(new Int8(), Int8Array.from([-128, 7])),
        i16: col(new Int16(), Int16Array.from([-32768, 300])),
        i32: col(new Int32(), Int32Array.from([2147483647, -5])),
        i64: col(new Int64(), BigInt64Array.from([-9223372036854775808n, 42n])),
        u8: col(new Uint8(), Uint8Array.from([255, 0])),
        u16: col(new Uint16(), Uint16Array.from([65535, 1])),
        u32: col(new Uint32(), Uint32Array.from([4294967295, 2])),
        u64: col(new Uint64(), BigUint64Array.from([18446744073709551615n, 3n])),
        f32: col(new Float32(), Float32Array.from([1.5, -0.25])),
        f64: col(new Float64(), Float64Array.from([Math.PI, -1e300])),
        b: vectorFromArray([true, false], new Bool()),
        s: vectorFromArray(['héllo', ''], new Utf8()),
        bin: vectorFromArray([Uint8Array.from([0, 1, 255]), new Uint8Array(0)], new Binary()),
        d: col(new DateDay(), Int32Array.from([day('2024-02-29'), day('1969-12-31')])),
        t: col(new TimeMicrosecond(), BigInt64Array.from([45296789012n, 0n])),
        ts: col(new Timestamp(TimeUnit.MICROSECOND), BigInt64Array.from([us('2024-01-02T03:04:05.678Z') + 9n, -1n])),
        tz: col(new Timestamp(TimeUnit.MICROSECOND, 'UTC'), BigInt64Array.from([us('2000-01-01T00:00:00Z'), 1n])),
        dec: col(new Decimal(2, 10, 128), Uint32Array.from([12345, 0, 0, 0, 0xfffffff6, 0xffffffff, 0xffffffff, 0xffffffff]), null, 2),
        n: col(new Null(), 2),
        ni: col(new Int32(), Int32Array.from([1, 0]), [false, true]),
    });
    const names = params.schema.fields.map((f) => f.name);
    const sql = 'SELECT ' + names.map((n) => `? AS ${n}`).join(', ');
    const answer = await runPrepared(client, sql, params);
    assert.equal(answer.numRows, 2, 'one answer row per parameter row');
    assert.deepEqual(answer.schema.fields.map((f) => `${f.name}:${f.type}`), [
        'i8:Int8', 'i16:Int16', 'i32:Int32', 'i64:Int64', 'u8:Uint8', 'u16:Uint16', 'u32:Uint32',
        'u64:Uint64', 'f32:Float32', 'f64:Float64', 'b:Bool', 's:Utf8', 'bin:Binary',
        'd:Date32<DAY>', 't:Time64<MICROSECOND>', 'ts:Timestamp<MICROSECOND>',
        `tz:${answer.schema.fields[16].type}`, 'dec:Decimal[10e+2]',
        // an all-null column binds untyped NULLs: DuckDB answers them as INTEGER
        'n:Int32', 'ni:Int32']);
    assert.match(String(answer.schema.fields[16].type), /^Timestamp<MICROSECOND, (Etc\/)?UTC>$/);
    const get = (name, row) => answer.getChild(name).get(row);
    assert.deepEqual([get('i8', 0), get('i8', 1), get('i16', 0), get('i32', 0), get('i32', 1)],
                     [-128, 7, -32768, 2147483647, -5]);
    assert.deepEqual([get('i64', 0), get('i64', 1)], [-9223372036854775808n, 42n]);
    assert.deepEqual([get('u8', 0), get('u16', 0), get('u32', 0), get('u64', 0), get('u64', 1)],
                     [255, 65535, 4294967295, 18446744073709551615n, 3n]);
    assert.deepEqual([get('f32', 0), get('f32', 1), get('f64', 0), get('f64', 1)], [1.5, -0.25, Math.PI, -1e300]);
    assert.deepEqual([get('b', 0), get('b', 1), get('s', 0), get('s', 1)], [true, false, 'héllo', '']);
    assert.deepEqual([...get('bin', 0)], [0, 1, 255]);
    assert.equal(get('bin', 1).length, 0);
    assert.deepEqual([get('d', 0), get('d', 1)], [Date.parse('2024-02-29'), Date.parse('1969-12-31')]);
    assert.deepEqual([get('t', 0), get('t', 1)], [45296789012n, 0n]);
    assert.deepEqual([raw64(answer.getChild('ts'), 0), raw64(answer.getChild('ts'), 1)],
                     [us('2024-01-02T03:04:05.678Z') + 9n, -1n]);
    assert.deepEqual([raw64(answer.getChild('tz'), 0), raw64(answer.getChild('tz'), 1)],
                     [us('2000-01-01T00:00:00Z'), 1n]);
    assert.deepEqual([String(get('dec', 0)), String(get('dec', 1))], ['12345', '-10']);
    assert.deepEqual([get('n', 0), get('n', 1), get('ni', 0), get('ni', 1)], [null, null, null, 0]);
});

check('several parameter rows: the statement runs once per row, results concatenated', async (client) => {
    const params = tableFromArrays({ lo: Int32Array.from([0, 10, 4998]), hi: Int32Array.from([2, 12, 5005]) });
    const answer = await runPrepared(client,
        'SELECT id, name FROM nums WHERE id >= ? AND id < ? ORDER BY id', params);
    assert.deepEqual([...answer.getChild('id')].map(Number), [0, 1, 10, 11, 4998, 4999]);
    assert.deepEqual([...answer.getChild('name')], ['n0', 'n1', 'n10', 'n11', 'n4998', 'n4999']);
    // a date parameter against a dataset's computed column, two rows
    const days = tableFromArrays({ d: vectorFromArray([new Date('2024-03-01'), new Date('2023-12-31')], new DateDay()) });
    const r = await runPrepared(client, "SELECT ?::DATE + INTERVAL 1 DAY AS next", days);
    assert.deepEqual([...r.getChild('next')].map((v) => new Date(v).toISOString().slice(0, 10)),
                     ['2024-03-02', '2024-01-01']);
    // a row whose values do not fit the statement fails the DoGet with the engine's message
    const bad = tableFromArrays({ v: vectorFromArray(['1', 'x'], new Utf8()) });
    await expectStatus(runPrepared(client, 'SELECT ?::INTEGER AS v', bad), grpc.status.INVALID_ARGUMENT,
                       /Could not convert string 'x' to INT32/);
});

// ---- DoPut appends -------------------------------------------------------------------------------

const CommandStatementIngest = sqlCodec('CommandStatementIngest');
const DoPutUpdateResult = sqlCodec('DoPutUpdateResult');

const ingestCmd = (table, extra = {}) => ({
    type: 'CMD',
    cmd: packAny('CommandStatementIngest', CommandStatementIngest.encode({
        table, table_definition_options: { if_not_exist: 'TABLE_NOT_EXIST_OPTION_FAIL',
                                           if_exists: 'TABLE_EXISTS_OPTION_APPEND' }, ...extra })),
});

async function ingest(client, descriptor, table, metadata) {
    const call = metadata ? client.DoPut(metadata) : client.DoPut();
    const got = collect(call);
    for (const d of flightDatas(Buffer.from(tableToIPC(table, 'stream')), descriptor)) call.write(d);
    call.end();
    const puts = await got;
    assert.equal(puts.length, 1);
    return Number(DoPutUpdateResult.decode(puts[0].app_metadata).record_count);
}

async function rowsOf(client, sql) {
    return tableFromIPC(ipcStream(await doGet(client, Buffer.from(sql)))).toArray().map((r) => r.toJSON());
}

check('DoPut CommandStatementIngest appends to a read_write dataset; the next query sees it', async (client) => {
    // columns in another order than the dataset's, one missing (NULL), types cast
    const t = new Table({
        name: vectorFromArray(['second', 'third'], new Utf8()),
        id: col(new Int32(), Int32Array.from([2, 3])),
        amount: col(new Float32(), Float32Array.from([2.25, -1])),
    });
    assert.equal(await ingest(client, ingestCmd('events'), t), 2);
    assert.deepEqual((await rowsOf(client, 'SELECT id, name, amount, seen_at FROM events ORDER BY id')).map((r) => ({ ...r, id: Number(r.id) })), [
        { id: 1, name: 'first', amount: 1.5, seen_at: Date.parse('2024-01-02T03:04:05Z') },
        { id: 2, name: 'second', amount: 2.25, seen_at: null },
        { id: 3, name: 'third', amount: -1, seen_at: null },
    ]);
    // spice.public.<name> and a multi-batch stream (3 batches of 2000 rows)
    const many = tableFromArrays({ id: Int32Array.from({ length: 6000 }, (_, i) => 100 + i) });
    const batches = [];
    for (let off = 0; off < 6000; off += 2000) batches.push(...many.slice(off, off + 2000).batches);
    const stream = tableToIPC(new Table(batches), 'stream');
    const call = client.DoPut();
    const got = collect(call);
    for (const d of flightDatas(Buffer.from(stream), ingestCmd('events', { catalog: 'spice', schema: 'public' }))) call.write(d);
    call.end();
    assert.equal(Number(DoPutUpdateResult.decode((await got)[0].app_metadata).record_count), 6000);
    const [{ n, s }] = await rowsOf(client, 'SELECT count(*) AS n, sum(id) AS s FROM events');
    assert.equal(Number(n), 6003);
    assert.equal(Number(s), 6 + 6000 * 100 + (5999 * 6000) / 2);
});

check('DoPut with a PATH descriptor (the Spice runtime form) appends too', async (client) => {
    const t = tableFromArrays({ id: Int32Array.from([-1]), name: vectorFromArray(['via path'], new Utf8()) });
    assert.equal(await ingest(client, { type: 'PATH', path: ['public', 'events'] }, t), 1);
    assert.deepEqual(await rowsOf(client, 'SELECT name FROM events WHERE id = -1'), [{ name: 'via path' }]);
});

check('appends follow primary_key and on_conflict (DuckDB upsert, SQLite drop)', async (client) => {
    const t = tableFromArrays({ id: Int32Array.from([2, 3]), name: vectorFromArray(['TWO', 'three'], new Utf8()) });
    assert.equal(await ingest(client, ingestCmd('keyed'), t), 2);
    assert.deepEqual((await rowsOf(client, 'SELECT id, name FROM keyed ORDER BY id')).map((r) => [Number(r.id), r.name]),
                     [[1, 'one'], [2, 'TWO'], [3, 'three']]);
    // drop: the stored row wins over the incoming one
    await ingest(client, ingestCmd('keyed_lite'), t);
    assert.deepEqual((await rowsOf(client, 'SELECT id, name FROM keyed_lite ORDER BY id')).map((r) => [Number(r.id), r.name]),
                     [[1, 'one'], [2, 'two'], [3, 'three']]);
    // upsert (not upsert_dedup): two rows with one key in a batch is an error, nothing written
    const dup = tableFromArrays({ id: Int32Array.from([7, 7]), name: vectorFromArray(['a', 'b'], new Utf8()) });
    await expectStatus(ingest(client, ingestCmd('keyed'), dup), grpc.status.INVALID_ARGUMENT,
                       /several rows with primary key 7/);
    assert.deepEqual(await rowsOf(client, 'SELECT count(*) AS n FROM keyed WHERE id = 7'), [{ n: 0n }]);
});

check('appends refused: read-only, not accelerated, unknown dataset or column, bad values', async (client) => {
    const t = tableFromArrays({ id: Int32Array.from([1]) });
    await expectStatus(ingest(client, ingestCmd('nums'), t), grpc.status.PERMISSION_DENIED,
                       /dataset nums is not writable: declare it with access: read_write/);
    await expectStatus(ingest(client, ingestCmd('fed'), t), grpc.status.INVALID_ARGUMENT,
                       /dataset fed is not accelerated/);
    await expectStatus(ingest(client, ingestCmd('nope'), t), grpc.status.NOT_FOUND,
                       /dataset "nope" does not exist/);
    await expectStatus(ingest(client, ingestCmd('events', { schema: 'other' }), t), grpc.status.NOT_FOUND,
                       /schema "other" does not exist/);
    await expectStatus(ingest(client, ingestCmd('events'), tableFromArrays({ wat: Int32Array.from([1]) })),
                       grpc.status.INVALID_ARGUMENT, /column "wat" of the incoming data does not exist in dataset events/);
    await expectStatus(ingest(client, ingestCmd('events'), tableFromArrays({ seen_at: vectorFromArray(['not a time'], new Utf8()) })),
                       grpc.status.INVALID_ARGUMENT, /events/);
    const replace = { type: 'CMD', cmd: packAny('CommandStatementIngest', CommandStatementIngest.encode({
        table: 'events', table_definition_options: { if_exists: 'TABLE_EXISTS_OPTION_REPLACE' } })) };
    await expectStatus(ingest(client, replace, t), grpc.status.UNIMPLEMENTED, /if_exists REPLACE/);
    const update = { type: 'CMD', cmd: packAny('CommandStatementUpdate', Buffer.from([0x0a, 0x01, 0x78])) };
    await expectStatus(ingest(client, update, t), grpc.status.UNIMPLEMENTED, /CommandStatementUpdate/);
    await expectStatus(ingest(client, { type: 'PATH', path: [] }, t), grpc.status.INVALID_ARGUMENT, /No path provided/);
    // nothing of the refused appends arrived
    assert.deepEqual(await rowsOf(client, 'SELECT count(*) AS n FROM events WHERE id = 1'), [{ n: 1n }]);
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

check('calls are accepted and answered while other calls hold their threads', async (client) => {
    // three streams stall after their first message (the reader stops), so three call
    // threads sit blocked in a send; the thread that accepts calls must not be one of them
    const stalled = [];
    for (let i = 0; i < 3; i++) {
        const call = client.DoGet({
            ticket: Buffer.from('SELECT range AS v FROM range(50000000)'),
        });
        call.on('error', () => {});
        await new Promise((resolve) => call.once('data', () => { call.pause(); resolve(); }));
        stalled.push(call);
    }
    for (let i = 0; i < 5; i++)
        assert.deepEqual(await rowsOf(client, `SELECT ${i} AS i`), [{ i }]);
    const many = await Promise.all([1, 2, 3, 4].map(
        (i) => rowsOf(client, `SELECT ${i} * 10 AS x`)));
    assert.deepEqual(many, [[{ x: 10 }], [{ x: 20 }], [{ x: 30 }], [{ x: 40 }]]);
    for (const call of stalled) call.cancel();
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

// ---- API keys and TLS (a second server) ---------------------------------------------------------

const secureChecks = [];
const secureCheck = (name, fn) => secureChecks.push({ name, fn });

const md = (pairs) => {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(pairs)) m.add(k, v);
    return m;
};
const basic = (user, key) => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;

function handshakeWith(client, metadata) {
    return new Promise((resolve, reject) => {
        const call = client.Handshake(metadata);
        let headers = null;
        call.on('metadata', (m) => { headers = m; });
        const got = collect(call);
        call.write({ protocol_version: 0, payload: Buffer.alloc(0) });
        call.end();
        got.then((items) => resolve({ items, headers }), reject);
    });
}

const getWith = (client, sql, metadata) => collect(client.DoGet({ ticket: Buffer.from(sql) }, metadata));

secureCheck('TLS: plain-text and unverified clients are refused', async ({ port, ca }) => {
    const plain = new FlightService(`localhost:${port}`, grpc.credentials.createInsecure());
    await expectStatus(getWith(plain, 'SELECT 1', md({ 'x-api-key': 'plain-key' })), grpc.status.UNAVAILABLE);
    plain.close();
    const unverified = new FlightService(`localhost:${port}`, grpc.credentials.createSsl());
    await expectStatus(getWith(unverified, 'SELECT 1', md({ 'x-api-key': 'plain-key' })), grpc.status.UNAVAILABLE);
    unverified.close();
    const other = execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        '/dev/null', '-days', '1', '-subj', '/CN=other CA'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const wrongCa = new FlightService(`localhost:${port}`, grpc.credentials.createSsl(other));
    await expectStatus(getWith(wrongCa, 'SELECT 1', md({ 'x-api-key': 'plain-key' })), grpc.status.UNAVAILABLE);
    wrongCa.close();
    assert.ok(ca.length > 0);
});

secureCheck('API keys: Basic handshake -> bearer token; x-api-key metadata; failures', async ({ client }) => {
    const { items, headers } = await handshakeWith(client, md({ authorization: basic('anyone', 'reader-key') }));
    const token = Buffer.from(items[0].payload).toString();
    assert.match(token, /^[0-9a-f]{32}$/);
    assert.deepEqual(headers.get('authorization'), [`Bearer ${token}`]);
    const one = (datas) => tableFromIPC(ipcStream(datas)).toArray().map((r) => r.toJSON());
    assert.deepEqual(one(await getWith(client, 'SELECT 1 AS one', md({ authorization: `Bearer ${token}` }))), [{ one: 1 }]);
    assert.deepEqual(one(await getWith(client, 'SELECT 2 AS two', md({ 'x-api-key': 'plain-key' }))), [{ two: 2 }]);
    assert.deepEqual(one(await getWith(client, 'SELECT 3 AS three', md({ authorization: 'Bearer writer-key' }))), [{ three: 3 }]);
    // failures
    await expectStatus(handshakeWith(client, md({ authorization: basic('anyone', 'wrong') })),
                       grpc.status.UNAUTHENTICATED, /invalid or missing API key/);
    await expectStatus(handshakeWith(client, new grpc.Metadata()), grpc.status.UNAUTHENTICATED);
    await expectStatus(getWith(client, 'SELECT 1', new grpc.Metadata()), grpc.status.UNAUTHENTICATED,
                       /invalid or missing API key/);
    await expectStatus(getWith(client, 'SELECT 1', md({ 'x-api-key': 'reader-key-not' })), grpc.status.UNAUTHENTICATED);
    await expectStatus(getWith(client, 'SELECT 1', md({ authorization: 'Bearer 0123456789abcdef0123456789abcdef' })),
                       grpc.status.UNAUTHENTICATED);
    await expectStatus(unary(client, 'GetFlightInfo', { type: 'CMD', cmd: packAny('CommandStatementQuery',
        CommandStatementQuery.encode({ query: 'SELECT 1' })) }), grpc.status.UNAUTHENTICATED);
    // the metadata catalog needs a key too
    const info = await new Promise((resolve, reject) => client.GetFlightInfo(
        { type: 'CMD', cmd: packAny('CommandGetTables', CommandGetTables.encode({})) },
        md({ 'x-api-key': 'reader-key' }), (err, res) => (err ? reject(err) : resolve(res))));
    const tables = tableFromIPC(ipcStream(await collect(client.DoGet(info.endpoint[0].ticket, md({ 'x-api-key': 'reader-key' })))));
    assert.deepEqual([...tables.getChild('table_name')], ['log']);
});

secureCheck('appends need a key marked :rw', async ({ client }) => {
    const t = tableFromArrays({ id: Int32Array.from([2]), msg: vectorFromArray(['from writer'], new Utf8()) });
    await expectStatus(ingest(client, ingestCmd('log'), t, md({ 'x-api-key': 'reader-key' })),
                       grpc.status.PERMISSION_DENIED, /read-only: appending to dataset "log" needs a key marked :rw/);
    await expectStatus(ingest(client, ingestCmd('log'), t, md({ 'x-api-key': 'plain-key' })),
                       grpc.status.PERMISSION_DENIED, /needs a key marked :rw/);
    await expectStatus(ingest(client, ingestCmd('log'), t, new grpc.Metadata()), grpc.status.UNAUTHENTICATED);
    assert.equal(await ingest(client, ingestCmd('log'), t, md({ 'x-api-key': 'writer-key' })), 1);
    // a session token of the writer key can write too
    const { items } = await handshakeWith(client, md({ authorization: basic('w', 'writer-key') }));
    const token = Buffer.from(items[0].payload).toString();
    const t3 = tableFromArrays({ id: Int32Array.from([3]), msg: vectorFromArray(['by token'], new Utf8()) });
    assert.equal(await ingest(client, { type: 'PATH', path: ['log'] }, t3, md({ authorization: `Bearer ${token}` })), 1);
    const rows = tableFromIPC(ipcStream(await getWith(client, 'SELECT id, msg FROM log ORDER BY id',
                                                      md({ 'x-api-key': 'reader-key' })))).toArray();
    assert.deepEqual(rows.map((r) => [Number(r.id), r.msg]), [[1, 'hello'], [2, 'from writer'], [3, 'by token']]);
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
// The secure server: API keys and TLS, checked over TLS with the CA.
const secureDir = writeSecurePod();
const secure = await startServer(secureDir, ['--tls', path.join(secureDir, 'server.crt'),
                                             path.join(secureDir, 'server.key')]);
const ca = fs.readFileSync(path.join(secureDir, 'ca.crt'));
const secureClient = new FlightService(`localhost:${secure.port}`, grpc.credentials.createSsl(ca));
for (const { name, fn } of secureChecks) {
    try {
        await fn({ client: secureClient, port: secure.port, ca });
        console.log(`ok     ${name}`);
    } catch (err) {
        failed++;
        console.log(`FAILED ${name}\n       ${err.stack || err}`);
    }
}
secureClient.close();
secure.child.removeAllListeners('exit');
const secureExit = new Promise((resolve) => secure.child.on('exit', resolve));
secure.child.kill('SIGTERM');
if ((await secureExit) !== 0) {
    failed++;
    console.log('FAILED the secure test server did not exit cleanly');
}
fs.rmSync(secureDir, { recursive: true, force: true });

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
console.log(failed ? `${failed} check(s) failed`
                   : `all ${checks.length + secureChecks.length + 1} checks passed`);
process.exit(failed ? 1 : 0);

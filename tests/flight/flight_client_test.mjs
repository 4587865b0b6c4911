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
import { tableFromIPC } from 'apache-arrow';

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
                             { type: 'CMD', cmd: packAny('CommandGetCatalogs', CommandGetCatalogs.encode()) }),
                       grpc.status.UNIMPLEMENTED, /CommandGetCatalogs/);
    await expectStatus(doGet(client, Buffer.alloc(0)), grpc.status.INVALID_ARGUMENT);
});

check('other methods are UNIMPLEMENTED', async (client) => {
    await expectStatus(collect(client.ListFlights({ expression: Buffer.alloc(0) })),
                       grpc.status.UNIMPLEMENTED);
    await expectStatus(collect(client.DoAction({ type: 'CreatePreparedStatement', body: Buffer.alloc(0) })),
                       grpc.status.UNIMPLEMENTED);
    await expectStatus(unary(client, 'GetSchema', { type: 'CMD', cmd: Buffer.alloc(0) }),
                       grpc.status.UNIMPLEMENTED);
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

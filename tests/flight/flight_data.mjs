// Shared by the conformance test and the fuzz seed writer: an Arrow IPC stream (as written by
// apache-arrow's tableToIPC) cut into Flight FlightData messages, one per IPC message
// (data_header = the Message flatbuffer, data_body = its body); the first one carries the
// flight descriptor, as DoPut's first message must.
import { Message } from 'apache-arrow';

export function flightDatas(stream, descriptor) {
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
    if (out.length && descriptor) out[0].flight_descriptor = descriptor;
    return out;
}

// Reference 1, the transport ceiling: one TLS 1.3 connection between two Node processes with
// the nodes' own certificates, no chunking and no encryption of ours. The client streams the
// file into the socket; the server counts and discards the bytes and answers with their count
// (8 bytes, big-endian) once it has them all. MB/s from the client's first read to that answer.
//
//   node dist/scripts/bench-mtls.js server --home BETA --size BYTES   → prints {"port"}
//   node dist/scripts/bench-mtls.js client --home ALPHA --port P --file F → prints {"bytes","seconds"}
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { TLS13_CIPHERS } from '../src/net/tls.js';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MiB } from '../src/core/limits.js';
import { runNodeJson } from './bench-child.js';
import { mbps, secondsSince } from './bench-stats.js';
import { stopChild, type Teardown } from './bench-teardown.js';

const SELF = fileURLToPath(import.meta.url);
const READ_BYTES = 4 * MiB;
const ACK_BYTES = 8;

export interface MtlsStreamOptions { serverHome: string; clientHome: string; file: string; runs: number; teardown: Teardown }

/** MB/s of each run; the server process lives for all runs, each run is a new client process. */
export async function mtlsStreamRuns(opts: MtlsStreamOptions): Promise<number[]> {
  const { size } = await stat(opts.file);
  const server = spawn(process.execPath, [SELF, 'server', '--home', opts.serverHome, '--size', String(size)], { stdio: ['ignore', 'pipe', 'inherit'] });
  opts.teardown.track(server);
  const [line] = (await Promise.race([
    once(createInterface({ input: server.stdout }), 'line'),
    once(server, 'exit').then(() => { throw new Error('the mTLS stream server exited before listening'); }),
  ])) as [string];
  const { port } = JSON.parse(line) as { port: number };
  const results: number[] = [];
  for (let run = 0; run < opts.runs; run++) {
    const r = await runNodeJson<{ bytes: number; seconds: number }>(SELF, ['client', '--home', opts.clientHome, '--port', String(port), '--file', opts.file], opts.teardown);
    if (r.bytes !== size) throw new Error(`mTLS stream: the server counted ${r.bytes} bytes of ${size}`);
    results.push(mbps(size, r.seconds));
  }
  await stopChild(server); // not left idling beside the p2pfx runs
  return results;
}

interface Certs { key: string; cert: string; ca: string }

async function readCerts(home: string): Promise<Certs> {
  const dir = join(home, 'certs');
  const [key, cert, ca] = await Promise.all(['node-key.pem', 'node-cert.pem', 'ca-cert.pem'].map((f) => readFile(join(dir, f), 'utf8')));
  return { key: key!, cert: cert!, ca: ca! };
}

async function serverMain(home: string, size: number): Promise<void> {
  const server = createServer({ ...(await readCerts(home)), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ciphers: TLS13_CIPHERS }, (socket) => {
    let count = 0;
    socket.on('data', (piece: Buffer) => {
      count += piece.length;
      if (count < size) return;
      const ack = Buffer.alloc(ACK_BYTES);
      ack.writeBigUInt64BE(BigInt(count));
      socket.end(ack);
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

async function clientMain(home: string, port: number, file: string): Promise<void> {
  const socket = connect({ ...(await readCerts(home)), host: '127.0.0.1', port, minVersion: 'TLSv1.3', ciphers: TLS13_CIPHERS });
  await once(socket, 'secureConnect');
  if (socket.getProtocol() !== 'TLSv1.3') throw new Error(`negotiated ${socket.getProtocol()}, not TLS 1.3`);
  const started = process.hrtime.bigint();
  const answer = readAck(socket);
  createReadStream(file, { highWaterMark: READ_BYTES }).pipe(socket, { end: false });
  const bytes = await answer;
  const seconds = secondsSince(started);
  socket.end();
  process.stdout.write(`${JSON.stringify({ bytes, seconds })}\n`);
}

/** The server's 8-byte count; rejects if the connection ends first. */
async function readAck(socket: TLSSocket): Promise<number> {
  const pieces: Buffer[] = [];
  let got = 0;
  for await (const piece of socket) {
    pieces.push(piece as Buffer);
    got += (piece as Buffer).length;
    if (got >= ACK_BYTES) return Number(Buffer.concat(pieces).readBigUInt64BE(0));
  }
  throw new Error('the server closed the connection without its count');
}

async function childMain(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { home: { type: 'string' }, size: { type: 'string' }, port: { type: 'string' }, file: { type: 'string' } },
  });
  if (!values.home) throw new Error('--home is required');
  if (positionals[0] === 'server' && values.size) return serverMain(values.home, Number(values.size));
  if (positionals[0] === 'client' && values.port && values.file) return clientMain(values.home, Number(values.port), values.file);
  throw new Error('usage: bench-mtls.js server --home DIR --size BYTES | client --home DIR --port P --file F');
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  childMain(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench-mtls: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

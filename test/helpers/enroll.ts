// What the enrollment tests share (test/enroll.test.ts, test/enroll-sources.test.ts,
// test/fuzz-enroll.test.ts): a CA node's home with its listener, joiner homes, a join request
// made by hand on its own TLS connection (from any loopback source address).
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { P2pfxError } from '../../src/core/errors.js';
import { createInvite, startEnrollmentServer, type EnrollmentServer, type EnrollmentServerOptions, type JoinedEvent } from '../../src/net/enroll.js';
import { joinKey, joinMac, sessionExporter } from '../../src/net/protocol/enrollment.js';
import { joinNetwork, type JoinOptions } from '../../src/net/join.js';
import { createCa, type CertAndKey } from '../../src/pki/ca.js';
import { createCrl } from '../../src/pki/crl.js';
import { generateInviteCode, inviteCodeKey } from '../../src/pki/invite-code.js';
import { nodeIdFromCertPem } from '../../src/pki/node-id.js';
import { Home } from '../../src/store/home.js';
import { listFiles } from './cli.js';
import { makeHome, tempDir } from './network.js';

export const LOCAL = '127.0.0.1';

/** A TLS 1.3 connection to the listener on 127.0.0.1:port from the loopback address `from`, the listener's certificate not checked. */
export function tlsFrom(port: number, from: string): TLSSocket {
  const raw = netConnect({ host: LOCAL, port, localAddress: from });
  raw.on('error', () => undefined); // seen by the TLS socket on top
  return tlsConnect({ socket: raw, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
}

export interface CaSide {
  dir: string;
  ca: CertAndKey;
  home: Home;
  server: EnrollmentServer;
  joins: JoinedEvent[];
  caNodeId: string;
  invite(opts?: { ttlMs?: number; now?: Date }): Promise<{ id: string; code: string }>;
}

/** A CA node's home (CA key included) and its enrollment listener on 127.0.0.1, port 0. */
export async function caSide(t: TestContext, opts: Pick<EnrollmentServerOptions, 'perSource' | 'logger'> = {}): Promise<CaSide> {
  const dir = await tempDir(t);
  const ca = await createCa();
  const home = await makeHome(join(dir, 'ca'), ca, { name: 'ca-node', withCaKey: true });
  await writeFile(home.crlPath, await createCrl(ca, { number: 1, revoked: [] })); // as `p2pfx certs` starts a CA
  const joins: JoinedEvent[] = [];
  const server = await startEnrollmentServer({ home, host: LOCAL, port: 0, onJoin: (e) => joins.push(e), ...opts });
  t.after(() => server.close());
  return {
    dir, ca, home, server, joins,
    caNodeId: nodeIdFromCertPem(await readText(home.nodeCertPath)),
    invite: (opts = {}) => createInvite({ home, ...opts }),
  };
}

/** The listener reports a join once its answer is out, which the joiner may see first. */
export async function joinsSeen(side: CaSide, count: number): Promise<JoinedEvent[]> {
  await until(`${count} join event(s)`, () => (side.joins.length >= count ? true : undefined));
  return side.joins;
}

export function joinerHome(side: { dir: string }, name = 'joiner'): Home {
  return new Home(join(side.dir, name));
}

export function joinVia(side: CaSide, home: Home, code: string, extra: Partial<JoinOptions> = {}) {
  return joinNetwork({ home, host: LOCAL, port: side.server.port, code, name: 'newbie', ips: [LOCAL], ...extra });
}

export function readText(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

/** Rejects with a P2pfxError of `code` whose message matches `message`. */
export async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<P2pfxError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof P2pfxError, `expected a P2pfxError, got ${String(caught)}`);
  assert.equal(caught.code, code, `code of: ${caught.message}`);
  assert.match(caught.message, message);
  return caught;
}

export async function assertNothingWritten(home: Home): Promise<void> {
  assert.deepEqual(await listFiles(home.root), [], `nothing should be written in ${home.root}`);
}

export function wrongCode(real: string): string {
  for (;;) {
    const code = generateInviteCode();
    if (code !== real) return code;
  }
}

export async function readBody(req: NodeJS.ReadableStream): Promise<Record<string, unknown>> {
  const pieces: Buffer[] = [];
  for await (const piece of req) pieces.push(piece as Buffer);
  return JSON.parse(Buffer.concat(pieces).toString('utf8')) as Record<string, unknown>;
}

/** A join request made ready on its own TLS connection (from localAddress if given), sent when told: for requests that arrive together. */
export async function preparedJoin(port: number, code: string, name: string, opts: { publicKeyOf?: KeyObject; localAddress?: string } = {}): Promise<() => Promise<{ status: number; body: { error?: { code: string; message: string } } }>> {
  const codeKey = await inviteCodeKey(code);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const socket = tlsFrom(port, opts.localAddress ?? LOCAL);
  await once(socket, 'secureConnect');
  // With publicKeyOf: a certificate asked for someone else's key, signed with our own.
  const claimed = opts.publicKeyOf ?? publicKey;
  const fields = { version: 1, name, publicKey: claimed.export({ type: 'spki', format: 'der' }).toString('base64'), ips: [LOCAL] };
  const exporter = sessionExporter(socket);
  const pop = sign('sha256', Buffer.concat([Buffer.from('p2pfx-join-pop\n'), exporter]), privateKey).toString('base64');
  const payload = JSON.stringify({ ...fields, pop, mac: joinMac(joinKey(codeKey, exporter), 'join-request', fields) });
  return () => new Promise((resolve, reject) => {
    const req = httpsRequest({
      method: 'POST', host: LOCAL, port, path: '/v1/join', createConnection: () => socket,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), connection: 'close' },
    }, (res) => {
      void readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Polls probe until it gives a value; the bound only catches a hang. */
export async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

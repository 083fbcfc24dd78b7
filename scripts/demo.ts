// npm run demo: two nodes on 127.0.0.1 — the second joins the first's network with a one-time
// code — a file of random data sent from one to the other (which reassembles it on its own),
// listed, downloaded back into a fresh folder (get --out), and its SHA-256 checked. Prints OK.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiB } from '../src/core/limits.js';
import { writeRandomFile } from './bench-files.js';
import { p2pfx, p2pfxJson, serve, start, type ServingNode } from './cli-process.js';

const SIZE_MIB = Number(process.env.DEMO_MIB ?? 64);

function step(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return hash.digest('hex');
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'p2pfx-demo-'));
  const alpha = join(root, 'alpha');
  const beta = join(root, 'beta');
  const nodes: ServingNode[] = [];
  try {
    step(`Homes in ${root}`);
    step('alpha: create the network CA and its own certificate (p2pfx certs)');
    const certs = await p2pfxJson<{ nodeId: string }>(['certs', '--home', alpha, '--name', 'alpha', '--ip', '127.0.0.1']);
    console.log(`alpha is ${certs.nodeId}`);
    step('alpha: p2pfx invite — a one-time code; beta: p2pfx join 127.0.0.1:PORT CODE (no CA key, no bundle copied)');
    const invite = await start<{ code: string; port: number }>(['invite', '--home', alpha, '--host', '127.0.0.1', '--port', '0']);
    console.log(`invite code ${invite.first.code} on 127.0.0.1:${invite.first.port}`);
    const joined = await p2pfxJson<{ nodeId: string; caNodeId: string }>(['join', `127.0.0.1:${invite.first.port}`, invite.first.code, '--home', beta, '--name', 'beta']);
    if ((await invite.exit) !== 0) throw new Error('p2pfx invite did not end cleanly after the join');
    console.log(`beta joined as ${joined.nodeId}; it made its own key, the CA key stayed on alpha`);

    step('start both nodes on 127.0.0.1 (p2pfx serve)');
    const a = await serve(alpha);
    nodes.push(a);
    const b = await serve(beta);
    nodes.push(b);
    console.log(`alpha listens on 127.0.0.1:${a.port}, beta on 127.0.0.1:${b.port}`);
    const peerB = `127.0.0.1:${b.port}`;

    const source = join(root, 'sample.bin');
    step(`make ${SIZE_MIB} MiB of random data: ${source}`);
    const expected = await writeRandomFile(source, SIZE_MIB * MiB);
    console.log(`sha256 ${expected}`);

    step('alpha → beta: p2pfx send sample.bin --peer beta (the key is wrapped for beta: no password)');
    const sent = await p2pfxJson<{ fileId: string; chunks: number; seconds: number; size: number; recipient: string }>(['send', source, '--home', alpha, '--peer', peerB]);
    console.log(`sent ${sent.chunks} chunks, file id ${sent.fileId}, ${(sent.size / 1e6 / sent.seconds).toFixed(0)} MB/s, addressed to ${sent.recipient}`);
    const arrived = await b.event<{ path: string; size: number }>((e) => e.event === 'received' && e.fileId === sent.fileId);
    console.log(`beta reassembled it on its own: ${arrived.path}`);
    // Format v2 carries no whole-file hash (the signed chunk list and the AEAD stand for it): hash the file itself.
    if (arrived.size !== SIZE_MIB * MiB || (await sha256(arrived.path)) !== expected) throw new Error('the file beta reassembled differs from the original');

    step('alpha: p2pfx files --peer beta (the catalog) and p2pfx chunks --peer beta');
    const files = await p2pfx(['files', '--home', alpha, '--peer', peerB]);
    process.stdout.write(files.stdout);
    const chunks = await p2pfxJson<{ chunks: unknown[] }>(['chunks', '--home', alpha, '--peer', peerB, '--limit', '10000']);
    console.log(`beta holds ${chunks.chunks.length} encrypted chunks`);

    const downloads = join(root, 'downloaded');
    step(`alpha: p2pfx get sample.bin --peer beta --out ${downloads} (without --out: the current folder)`);
    const got = await p2pfxJson<{ path: string; size: number; seconds: number; fetchedChunks: number }>(['get', 'sample.bin', '--home', alpha, '--peer', peerB, '--out', downloads]);
    console.log(`received ${got.path}: ${got.fetchedChunks} chunks fetched, ${(got.size / 1e6 / got.seconds).toFixed(0)} MB/s`);

    step('check the SHA-256 of the received file against the original');
    const actual = await sha256(got.path);
    console.log(`original ${expected}\nreceived ${actual}`);
    if (actual !== expected) throw new Error('the received file differs from the original');
    console.log('\nOK');
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`\nFAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});

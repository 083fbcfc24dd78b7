// Bad input from a user (issue 8): a seeded fuzzer for the built CLI's flags and arguments, and
// names from a peer that carry terminal escapes. Each CLI case must exit 1 (`error CODE:` and a
// hint), or 2 for usage (a usage code, or commander's `error: …`), with no stack, no raw control character or bidirectional override on stdout
// or stderr, and nothing written. Seeds replay as helpers/fuzz-http.ts says.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { wrapForNode, wrapWithPassword } from '../src/core/envelope.js';
import { ERROR_CODES, isErrorCode } from '../src/core/errors.js';
import { BLOB_OVERHEAD_BYTES } from '../src/core/limits.js';
import { sealMetadata, signManifest, type UnsignedManifest } from '../src/core/manifest.js';
import { PeerClient } from '../src/net/client.js';
import { loadCredentials } from '../src/store/credentials.js';
import { Home } from '../src/store/home.js';
import { cliNetwork, listFiles, repoRoot, runCli, startServe, type CliResult } from './helpers/cli.js';
import { Rng } from './helpers/fuzz-rng.js';
import { BEL, ESC, fuzzRun, markerEntries, tree, treeChanges } from './helpers/fuzz-http.js';

const { seed: SEED, replay: REPLAY, marker: MARKER } = fuzzRun('fuzz-cli.test.js');

/** Raw bytes that must never reach a terminal from p2pfx: C0 (but \t, \n), DEL, C1, bidi and line separators. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const STACK_LINE = /^\s+at /m;

// ---------------------------------------------------------------- the CLI

interface CliCase {
  name: string;
  args: string[];
  /** Codes its `error CODE:` line may carry (any code of core/errors.ts but INTERNAL when absent). */
  codes?: readonly string[];
  /** Paths (relative to the network's folder) this case may create or change. */
  allow?: RegExp;
}

function judgeCli(c: CliCase, r: CliResult): string[] {
  const problems: string[] = [];
  if (r.signal !== null) problems.push(`killed by ${r.signal}`);
  if (r.code !== 1 && r.code !== 2) problems.push(`exit code ${r.code}`);
  for (const [name, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
    const raw = RAW_CONTROL.exec(text);
    if (raw) problems.push(`raw U+${raw[0].charCodeAt(0).toString(16).padStart(4, '0')} on ${name}`);
    if (STACK_LINE.test(text)) problems.push(`a stack trace on ${name}`);
  }
  if (r.code === 1 || r.code === 2) {
    // Ours: `error CODE: message` and a hint, exit 2 for a usage code, 1 for any other; or, exit
    // 2 only, commander's own `error: …` for a command line it cannot parse.
    const m = /^error ([A-Z_]+): \S/m.exec(r.stderr);
    if (m) {
      if (!isErrorCode(m[1]) || m[1] === 'INTERNAL') problems.push(`code ${m[1]}`);
      else {
        if (c.codes && !c.codes.includes(m[1])) problems.push(`code ${m[1]}, expected ${c.codes.join(' or ')}`);
        const exit = ERROR_CODES[m[1]].kind === 'usage' ? 2 : 1;
        if (r.code !== exit) problems.push(`exit ${r.code} for ${m[1]}, whose exit is ${exit}`);
      }
      if (!/^\s*hint: \S/m.test(r.stderr)) problems.push('no hint');
      if (r.stdout !== '') problems.push('output on stdout while failing');
    } else if (r.code === 1) problems.push('no "error CODE: message" line');
    else if (!/^error: \S/m.test(r.stderr)) problems.push('a usage error without "error: …"');
  }
  return problems;
}

function shortArgs(args: string[]): string {
  return JSON.stringify(args.map((a) => (a.length > 60 ? `${a.slice(0, 60)}…(${a.length} chars)` : a)));
}

test(`the CLI refuses hostile flags and arguments with a code, no stack, nothing raw (fuzz, ${REPLAY})`, { timeout: 180_000 }, async (t) => {
  const rng = new Rng((SEED ^ 0x5bd1e995) >>> 0);
  const net = await cliNetwork(t);
  const served = await startServe(t, net.b);
  const scratch = join(net.dir, 'scratch');
  await mkdir(scratch);
  const file = join(scratch, 'plain.txt');
  await writeFile(file, 'hello');
  const a = net.a;
  const peer = served.peer;

  const hostile = [
    `${ESC}[2J`, `evil${ESC}]0;title${BEL}:8443`, `127.0.0.1:8443${ESC}[31m`, 'host\r\nX-Injected: 1', '\u202e1.0.0.721', '\u009b2J',
    `${ESC}[6n`, `${ESC}P+q${ESC}\\`, '\u0008\u0008\u0008ok',
  ];
  const cases: CliCase[] = [];
  const add = (name: string, args: string[], extra: Omit<CliCase, 'name' | 'args'> = {}) => cases.push({ name, args, ...extra });

  for (const v of ['-1', '0', '4095', '17M', '1e9', '99999999999999999999', '4K5', 'NaN', '-4K', '', '9'.repeat(400), ...hostile.slice(0, 2)]) {
    add(`send --chunk-size ${JSON.stringify(v)}`, ['send', file, '--home', a, '--peer', peer, '--chunk-size', v], { codes: ['INVALID_ARGUMENT'] });
  }
  for (const v of ['1e9', '0', '-1', '1.5', '257', '99999999999999999999', '', hostile[0]!]) {
    const cmd = rng.pick([['send', file], ['get', rng.hex(32)]]);
    add(`${cmd[0]} --concurrency ${JSON.stringify(v)}`, [...cmd, '--home', a, '--peer', peer, '--concurrency', v], { codes: ['INVALID_ARGUMENT'] });
  }
  const peerValues = [...hostile, '127.0.0.1:99999', '127.0.0.1:-1', '[::1', 'x'.repeat(100_000), `127.0.0.1:${'9'.repeat(1000)}`, '', ' ', ':8443'];
  const peerCommands = [['send', file], ['files'], ['chunks'], ['get', rng.hex(32)], ['peers', 'add']];
  for (const v of peerValues) {
    const cmd = rng.pick(peerCommands);
    const args = cmd[0] === 'peers' ? [...cmd, v, '--home', a] : [...cmd, '--home', a, '--peer', v];
    add(`${cmd.join(' ')} with peer ${JSON.stringify(v.slice(0, 30))}`, args, { codes: ['INVALID_PEER', 'INVALID_ARGUMENT', 'MANIFEST_NOT_FOUND', 'PEER_UNREACHABLE'] });
  }
  // --home pointing at a file, or at a name with terminal escapes.
  for (const cmd of [['id'], ['files', '--peer', peer], ['chunks'], ['certs'], ['send', file, '--peer', peer], ['serve', '--host', '127.0.0.1', '--port', '0', '--no-discovery'], ['peers', '--no-check']]) {
    add(`${cmd.join(' ')} --home FILE`, [...cmd, '--home', file], { codes: ['INVALID_ARGUMENT'] });
  }
  add('--home through a file', ['id', '--home', join(file, 'sub')], { codes: ['INVALID_ARGUMENT'] });
  const escHome = join(scratch, `home${ESC}[2J${ESC}]0;t${BEL}`);
  for (const cmd of [['id'], ['files', '--peer', peer], ['chunks']]) {
    add(`${cmd.join(' ')} --home with escapes`, [...cmd, '--home', escHome], { allow: /^scratch\/home/ });
  }
  // Unknown flags and commands, missing arguments, very long arguments.
  const long = 'x'.repeat(100_000);
  add('an unknown option with escapes', [`--${ESC}[2J`]);
  add('an unknown option with a title escape', ['send', `--${ESC}]0;pwned${BEL}`, file]);
  add('a dash then an escape', ['files', `-${ESC}`]);
  add('an unknown option of 100k chars', ['id', `--${long}`, '--home', a]);
  add('an unknown option=value with escapes', ['id', '--home', a, `--bogus=${ESC}[2J`]);
  add('an unknown command with escapes', [`${ESC}[2Jpwn`]);
  add('an unknown command with a right-to-left override', ['\u202esdnammoc']);
  add('an unknown subcommand with escapes', ['certs', `${ESC}[2J`, '--home', a]);
  add('a missing option value', ['send', file, '--home', a, '--peer']);
  add('a missing argument', ['certs', 'issue', '--home', a]);
  add('too many arguments', ['get', 'a', 'b', `${ESC}[2J`, '--home', a]);
  add('a file name with escapes that does not exist', ['send', join(scratch, `${ESC}[2J`), '--home', a, '--peer', peer], { codes: ['FILE_NOT_FOUND'] });
  add('a folder for a file', ['send', join(scratch, 'nope', '..', '..', '..', MARKER), '--home', a, '--peer', peer], { codes: ['FILE_NOT_FOUND'] });
  add('get a 100k-char name', ['get', long, '--home', a, '--peer', peer], { codes: ['MANIFEST_NOT_FOUND', 'INVALID_ARGUMENT'] });
  add('get a name with escapes', ['get', `${ESC}[2J${ESC}]0;t${BEL}`, '--home', a, '--peer', peer], { codes: ['MANIFEST_NOT_FOUND', 'INVALID_ARGUMENT'] });
  add('get a traversal', ['get', `../../${MARKER}`, '--home', a, '--peer', peer], { codes: ['MANIFEST_NOT_FOUND', 'INVALID_ARGUMENT'] });
  add('certs issue a 100k-char name', ['certs', 'issue', long, '--home', a], { codes: ['INVALID_ARGUMENT'] });
  add('certs issue a name with escapes', ['certs', 'issue', `${ESC}[2J`, '--home', a], { codes: ['INVALID_ARGUMENT'] });
  add('certs issue a traversal name', ['certs', 'issue', `../../../${MARKER}`, '--home', a], { codes: ['INVALID_ARGUMENT'] });
  add('certs issue ..', ['certs', 'issue', '..', '--home', a], { codes: ['CERTS_EXIST', 'INVALID_ARGUMENT'] });
  add('certs revoke a name with escapes', ['certs', 'revoke', `${ESC}[2J`, '--home', a], { codes: ['CERT_NOT_FOUND', 'INVALID_ARGUMENT'] });
  add('certs create --name with escapes', ['certs', '--home', join(scratch, 'fresh'), '--name', `${ESC}[2J`], { codes: ['INVALID_ARGUMENT'], allow: /^scratch\/fresh/ });
  add('peers remove a name with escapes', ['peers', 'remove', `${ESC}[2J`, '--home', a]);
  add('chunks --limit -1', ['chunks', '--home', a, '--limit', '-1'], { codes: ['INVALID_ARGUMENT'] });
  add('chunks --limit 1e9', ['chunks', '--home', a, '--limit', '1e9'], { codes: ['INVALID_ARGUMENT'] });
  add('chunks --limit with escapes', ['chunks', '--home', a, '--limit', `${ESC}[2J`], { codes: ['INVALID_ARGUMENT'] });
  for (const port of ['-1', '1e9', '65536', `${ESC}[2J`]) {
    add(`serve --port ${JSON.stringify(port)}`, ['serve', '--home', a, '--host', '127.0.0.1', '--port', port, '--no-discovery'], { codes: ['INVALID_ARGUMENT'] });
  }
  for (const expires of [`${ESC}[2J`, '-1s', '99999999999h', '0s']) {
    add(`invite --expires ${JSON.stringify(expires)}`, ['invite', '--home', a, '--host', '127.0.0.1', '--port', '0', '--expires', expires], { codes: ['INVALID_ARGUMENT'] });
  }
  add('join a host with escapes', ['join', `${ESC}[2J`, 'AAAA-AAAA-AAAA-AA', '--home', join(scratch, 'joiner')], { codes: ['INVALID_PEER', 'INVALID_ARGUMENT'], allow: /^scratch\/joiner/ });
  add('join with a code with escapes', ['join', '127.0.0.1:1', `${ESC}[2J`, '--home', join(scratch, 'joiner')], { codes: ['INVITE_CODE_INVALID', 'INVALID_ARGUMENT'], allow: /^scratch\/joiner/ });
  add('--password of 100k chars', ['files', '--home', a, '--peer', `127.0.0.1:1`, '--password', long], { codes: ['PEER_UNREACHABLE'] });

  // Run 4 at a time; the tree is compared around each batch.
  // A command opening a home lays it out (chunks/, received/, the index, the key-agreement key).
  const allowedAlways = /^(a|beta)\/(p2pfx\.db(-wal|-shm|-journal)?|certs\/node-x25519-key\.pem|chunks|chunks\/\.tmp|received)$/;
  const failures: string[] = [];
  const started = Date.now();
  let before = await tree(net.dir);
  const BATCH = 4;
  for (let i = 0; i < cases.length; i += BATCH) {
    const batch = cases.slice(i, i + BATCH);
    const results = await Promise.all(batch.map((c) => runCli(t, c.args, { cwd: scratch, timeoutMs: 20_000 })));
    batch.forEach((c, j) => {
      const r = results[j]!;
      const problems = judgeCli(c, r);
      if (problems.length > 0) {
        failures.push(`#${i + j} ${c.name}: ${shortArgs(c.args)}\n    exit ${r.code}\n    stdout: ${JSON.stringify(r.stdout.slice(0, 300))}\n    stderr: ${JSON.stringify(r.stderr.slice(0, 400))}\n    ${problems.join('\n    ')}`);
      }
    });
    const after = await tree(net.dir);
    const allow = new RegExp(`${allowedAlways.source}|${batch.map((c) => c.allow?.source).filter(Boolean).join('|') || '$^'}`);
    const changes = treeChanges(before, after, allow);
    if (changes.length > 0) failures.push(`disk changed by one of ${batch.map((c) => c.name).join(' / ')}:\n    ${changes.join('\n    ')}`);
    before = after;
  }
  const escaped = await markerEntries([tmpdir(), net.dir, join(net.dir, '..'), repoRoot, scratch], MARKER);
  if (escaped.length > 0) failures.push(`files written outside the home: ${escaped.join(', ')}`);
  t.diagnostic(`${cases.length} CLI cases in ${Date.now() - started} ms (${REPLAY})`);
  assert.equal(failures.length, 0, `${failures.length} of ${cases.length} CLI cases failed (${REPLAY}):\n${failures.join('\n')}`);
});

test('a file name with terminal escapes, sent by a peer, is never printed raw by files or get', { timeout: 120_000 }, async (t) => {
  const net = await cliNetwork(t);
  const served = await startServe(t, net.b);
  const creds = await loadCredentials(new Home(net.a));
  const rng = new Rng((SEED ^ 0x27d4eb2f) >>> 0);
  // `send` refuses such a name (cli.test.ts), so the manifest is made by hand, as a hostile peer would.
  const name = `evil${ESC}[2J${ESC}]0;title${BEL}\u202egpj.exe\u009b31m`;
  const fileIdBytes = Buffer.from(rng.hex(32), 'hex');
  const dataKey = randomBytes(32);
  const content = Buffer.from('not red');
  const unsigned: UnsignedManifest = {
    version: 1, fileId: fileIdBytes.toString('hex'), chunkSize: 4096, chunkCount: 1, totalBytes: content.length + BLOB_OVERHEAD_BYTES,
    chunks: [{ index: 0, id: createHash('sha256').update(rng.bytes(8)).digest('hex'), size: content.length + BLOB_OVERHEAD_BYTES }],
    envelopes: [wrapForNode(dataKey, fileIdBytes, creds.nodeId, creds.x25519.publicKey), await wrapWithPassword(dataKey, fileIdBytes, 'pw', { N: 1024, r: 8, p: 1 })],
    metadata: sealMetadata({ name, size: content.length, mtimeMs: 0, sha256: createHash('sha256').update(content).digest('hex') }, dataKey, fileIdBytes),
    createdAt: new Date().toISOString(), sender: { nodeId: creds.nodeId, certPem: creds.certPem },
  };
  const manifest = signManifest(unsigned, creds.keyPem);
  const client = new PeerClient({ host: served.host, port: served.port }, creds);
  t.after(() => client.close());
  await client.putManifest(manifest);
  const c = await net.issue('gamma');
  const runs: Array<[string, string[]]> = [
    ['files', ['files', '--home', net.a, '--peer', served.peer]],
    ['files --json', ['files', '--home', net.a, '--peer', served.peer, '--json']],
    ['files --all', ['files', '--home', net.a, '--peer', served.peer, '--all']],
    ['files --password (another node)', ['files', '--home', c, '--peer', served.peer, '--password', 'pw']],
    ['get by id', ['get', manifest.fileId, '--home', net.a, '--peer', served.peer]],
    ['get by id --json', ['get', manifest.fileId, '--home', net.a, '--peer', served.peer, '--json']],
    ['get by id --password (another node)', ['get', manifest.fileId, '--home', c, '--peer', served.peer, '--password', 'pw']],
    ['get by the name', ['get', name, '--home', net.a, '--peer', served.peer]],
    ['chunks --peer', ['chunks', '--home', net.a, '--peer', served.peer]],
  ];
  const failures: string[] = [];
  const results = await Promise.all(runs.map(([, args]) => runCli(t, args, { cwd: net.dir })));
  runs.forEach(([label, args], i) => {
    const r = results[i]!;
    const problems: string[] = [];
    if (r.signal !== null || r.code === null || r.code > 2) problems.push(`exit ${r.code ?? r.signal}`);
    for (const [where, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
      const raw = RAW_CONTROL.exec(text);
      if (raw) problems.push(`raw U+${raw[0].charCodeAt(0).toString(16).padStart(4, '0')} on ${where}`);
      if (STACK_LINE.test(text)) problems.push(`a stack trace on ${where}`);
    }
    if (/^error INTERNAL/m.test(r.stderr)) problems.push('INTERNAL');
    if (label.startsWith('files') && r.code === 0 && !r.stdout.includes(manifest.fileId)) problems.push('the file is not listed');
    // Where the name is echoed at all, it is shown escaped.
    if (`${r.stdout}${r.stderr}`.includes('evil') && !/evil\\+(x1b|u001b)/.test(`${r.stdout}${r.stderr}`)) problems.push('the name is echoed without its escapes shown');
    if (label.startsWith('get by') && !/evil\\+(x1b|u001b)/.test(r.stderr)) problems.push('get does not name the refused file, escaped');
    if (problems.length > 0) failures.push(`${label}: ${shortArgs(args)}\n    exit ${r.code}\n    stdout: ${JSON.stringify(r.stdout.slice(0, 500))}\n    stderr: ${JSON.stringify(r.stderr.slice(0, 500))}\n    ${problems.join('\n    ')}`);
  });
  for (const home of [net.a, c]) {
    for (const f of await listFiles(join(home, 'received'))) failures.push(`written: ${JSON.stringify(f)}`);
  }
  assert.equal(failures.length, 0, failures.join('\n'));
});

test('the CLI says FILE_NOT_FOUND, not INTERNAL, for a path the system calls too long', { timeout: 60_000 }, async (t) => {
  const net = await cliNetwork(t);
  const scratch = join(net.dir, 'scratch');
  await mkdir(scratch);
  const failures: string[] = [];
  for (const path of [join(scratch, 'x'.repeat(100_000)), join(scratch, 'n'.repeat(300))]) {
    const c: CliCase = { name: 'a path too long', args: ['send', path, '--home', net.a, '--peer', '127.0.0.1:1'], codes: ['FILE_NOT_FOUND', 'INVALID_ARGUMENT'] };
    const r = await runCli(t, c.args, { cwd: scratch });
    const problems = judgeCli(c, r);
    if (problems.length > 0) failures.push(`${shortArgs(c.args)}: ${problems.join('; ')}\n    stderr: ${JSON.stringify(r.stderr.slice(0, 200))}`);
  }
  assert.equal(failures.length, 0, failures.join('\n'));
});

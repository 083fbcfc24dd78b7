// The whole story of issue 5 through the built command, as users would type it: a CA machine
// invites, a new machine joins (no CA key copied, no password), and the three nodes — on
// 127.0.0.1, .2 and .3 — send each other files that each receiver reassembles on its own.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { randomFile } from './helpers/network.js';
import { assertCliError, assertNoStack, cliNetwork, closedPort, listFiles, runCli, sha256File, startCli, startServe, type ServingNode } from './helpers/cli.js';

/** Waits (bounded) until the serving node reports a file reassembled; returns its event. */
async function received(node: ServingNode, name: string): Promise<{ path: string; sha256: string | null; senderName: string }> {
  const [line] = await node.cli.waitFor(new RegExp(`^\\{"event":"received".*"name":"${name.replace('.', '\\.')}".*\\n`, 'm'));
  return JSON.parse(line) as { path: string; sha256: string | null; senderName: string };
}

test('a third machine joins by invite and exchanges files with both others, no password and no CA key copied', async (t) => {
  const { dir, a, b } = await cliNetwork(t);
  const c = join(dir, 'gamma');

  // On the CA machine: an invite, its enrollment listener on 127.0.0.1.
  const invite = startCli(t, ['invite', '--home', a, '--host', '127.0.0.1', '--port', '0', '--json']);
  const [first] = await invite.waitFor(/^.*\n/);
  const offer = JSON.parse(first) as { code: string; port: number; join: string };
  assert.match(offer.code, /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{2}$/);
  assert.match(offer.join, new RegExp(`^p2pfx join 127\\.0\\.0\\.1:${offer.port} ${offer.code}$`));

  // On the new machine.
  const joined = await runCli(t, ['join', `127.0.0.1:${offer.port}`, offer.code, '--home', c, '--name', 'gamma', '--json']);
  assert.equal(joined.code, 0, joined.stderr);
  assertNoStack(joined);
  const j = JSON.parse(joined.stdout) as { nodeId: string; caNodeId: string };
  const inviteDone = await invite.exit();
  assert.equal(inviteDone.code, 0, inviteDone.stderr);
  assert.match(inviteDone.stdout, new RegExp(`"nodeId":"${j.nodeId}"`), 'the CA side names who joined');
  await assert.rejects(readFile(join(c, 'certs', 'ca-key.pem')), /ENOENT/, 'the CA key never leaves its machine');
  // The code worked once.
  const again = await runCli(t, ['join', `127.0.0.1:${offer.port}`, offer.code, '--home', join(dir, 'other'), '--name', 'other']);
  assertCliError(again, 'PEER_UNREACHABLE');

  const alpha = await startServe(t, a, '127.0.0.1');
  const beta = await startServe(t, b, '127.0.0.2');
  const gamma = await startServe(t, c, '127.0.0.3');
  assert.equal(gamma.nodeId, j.nodeId);
  assert.equal(alpha.nodeId, j.caNodeId);

  const fromGamma = await randomFile(dir, 'from-gamma.bin', 3 * 1024 * 1024 + 11);
  const fromAlpha = await randomFile(dir, 'from-alpha.bin', 2 * 1024 * 1024 + 5);
  const fromBeta = await randomFile(dir, 'from-beta.bin', 1024 * 1024 - 3);
  // gamma → alpha and gamma → beta; alpha → gamma; beta → gamma. No --password anywhere.
  for (const [home, file, to] of [[c, fromGamma, alpha], [c, fromGamma, beta], [a, fromAlpha, gamma], [b, fromBeta, gamma]] as const) {
    const r = await runCli(t, ['send', file, '--home', home, '--peer', to.peer, '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { recipient: string; peerNodeId: string; passwordEnvelope: boolean };
    assert.equal(out.recipient, to.nodeId);
    assert.equal(out.peerNodeId, to.nodeId, 'send shows the id of the node it talked to');
    assert.equal(out.passwordEnvelope, false);
  }
  for (const [node, name, source] of [[alpha, 'from-gamma.bin', fromGamma], [beta, 'from-gamma.bin', fromGamma], [gamma, 'from-alpha.bin', fromAlpha], [gamma, 'from-beta.bin', fromBeta]] as const) {
    const e = await received(node, name);
    assert.equal(e.sha256, null, 'format v2: no whole-file SHA-256 recorded');
    assert.equal(await sha256File(e.path), await sha256File(source), `${name} on ${node.home}`);
    assert.equal(e.path, join(node.home, 'received', name));
  }

  // The catalog by name, and a download by name, across the joined node.
  const files = await runCli(t, ['files', '--home', b, '--peer', gamma.peer]);
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stdout, /from alpha \([A-Z2-7]{7}\)\s+\(name hidden: no key here\)/, 'beta cannot read what alpha sent gamma');
  assert.match(files.stdout, /from beta \([A-Z2-7]{7}\)\s+from-beta\.bin/);
  const got = await runCli(t, ['get', 'from-beta.bin', '--home', b, '--peer', gamma.peer, '--out', join(dir, 'fetched'), '--json']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(await sha256File(join(dir, 'fetched', 'from-beta.bin')), await sha256File(fromBeta));
  const listing = JSON.parse((await runCli(t, ['files', '--home', b, '--peer', gamma.peer, '--json'])).stdout) as { files: Array<{ fileId: string; name: string | null }> };
  const hidden = listing.files.find((f) => f.name === null);
  assert.ok(hidden, 'the file alpha sent gamma is listed to beta without its name');
  const denied = await runCli(t, ['get', hidden.fileId, '--home', b, '--peer', gamma.peer, '--out', join(dir, 'denied')]);
  assertCliError(denied, 'NO_KEY');
});

test('certs revoke on the CA machine: by name or id, clear errors, and a running node follows the new CRL', async (t) => {
  const { dir, a, b, issue } = await cliNetwork(t);
  const alpha = await startServe(t, a);
  assert.equal((await runCli(t, ['files', '--home', b, '--peer', alpha.peer])).code, 0, 'beta talks to alpha before');

  assertCliError(await runCli(t, ['certs', 'revoke', 'nobody', '--home', a]), 'CERT_NOT_FOUND');
  assertCliError(await runCli(t, ['certs', 'revoke', 'beta', '--home', b]), 'CA_KEY_MISSING');
  const own = assertCliError(await runCli(t, ['certs', 'revoke', 'alpha', '--home', a]), 'INVALID_ARGUMENT');
  assert.match(own, /own certificate/);
  assertCliError(await runCli(t, ['certs', 'revoke', 'beta', '--home', a, '--reason', 'because']), 'INVALID_ARGUMENT');
  // Two certificates named alike: the name is ambiguous, the id is not.
  const twin = await issue('twin');
  const twin2 = join(dir, 'twin-2');
  assert.equal((await runCli(t, ['certs', 'issue', 'twin', '--home', a, '--out', twin2])).code, 0);
  const ambiguous = assertCliError(await runCli(t, ['certs', 'revoke', 'twin', '--home', a]), 'AMBIGUOUS_NAME');
  const twinId = (await runCli(t, ['id', '--home', twin2])).stdout.trim();
  assert.ok(ambiguous.includes(twinId) && ambiguous.includes((await runCli(t, ['id', '--home', twin])).stdout.trim()), ambiguous);
  const byId = await runCli(t, ['certs', 'revoke', twinId, '--home', a, '--json']);
  assert.equal(byId.code, 0, byId.stderr);
  assert.equal((JSON.parse(byId.stdout) as { crlNumber: string }).crlNumber, '2');

  const revoked = await runCli(t, ['certs', 'revoke', 'beta', '--home', a, '--reason', 'keyCompromise', '--json']);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal((JSON.parse(revoked.stdout) as { crlNumber: string }).crlNumber, '3');
  // A lost crl.pem on the CA does not restart the numbering (nodes holding 3 would ignore a 1).
  await rm(join(a, 'certs', 'crl.pem'));
  const after = await runCli(t, ['certs', 'revoke', (await runCli(t, ['id', '--home', twin])).stdout.trim(), '--home', a, '--json']);
  assert.equal(after.code, 0, after.stderr);
  assert.equal((JSON.parse(after.stdout) as { crlNumber: string }).crlNumber, '4');
  const list = await runCli(t, ['certs', 'list', '--home', a]);
  assert.match(list.stdout, /^beta\s+[A-Z2-7-]{63}\s+issued \S+\s+REVOKED /m);
  assert.match(list.stdout, /^alpha\s+[A-Z2-7-]{63}\s+issued \S+\n/m);

  // alpha's running node takes the new CRL from its certs/ within a few seconds (bounded wait).
  let last = await runCli(t, ['files', '--home', b, '--peer', alpha.peer]);
  for (let i = 0; i < 20 && last.code === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    last = await runCli(t, ['files', '--home', b, '--peer', alpha.peer]);
  }
  const refused = assertCliError(last, 'CERT_REJECTED');
  assert.match(refused, /revoked/);
  assertNoStack(last);
});

test('a folder through the command line: send DIR, the receiver rebuilds it, files lists it once, get restores it', async (t) => {
  const { dir, a, b } = await cliNetwork(t);
  const beta = await startServe(t, b);
  const tree = join(dir, 'Photos 2026');
  await mkdir(join(tree, 'summer', 'beach'), { recursive: true });
  await mkdir(join(tree, 'empty'), { recursive: true });
  await writeFile(join(tree, 'summer', 'beach', 'sea.jpg'), randomBytes(300_000));
  await writeFile(join(tree, 'notes.txt'), 'hello\n');
  await writeFile(join(tree, 'summer', 'zero.bin'), '');
  const sent = await runCli(t, ['send', tree, '--home', a, '--peer', beta.peer, '--json']);
  assert.equal(sent.code, 0, sent.stderr);
  const s = JSON.parse(sent.stdout) as { folder: boolean; files: number; dirs: number; fileId: string };
  assert.deepEqual([s.folder, s.files, s.dirs], [true, 3, 3]);
  const [line] = await beta.cli.waitFor(/^\{"event":"received","type":"received","kind":"folder".*\n/m);
  const event = JSON.parse(line) as { path: string; files: number };
  assert.equal(event.path, join(b, 'received', 'Photos 2026'));
  assert.deepEqual(await listFiles(event.path), await listFiles(tree));
  for (const f of ['summer/beach/sea.jpg', 'notes.txt', 'summer/zero.bin']) assert.equal(await sha256File(join(event.path, f)), await sha256File(join(tree, f)));
  assert.deepEqual((await readdir(join(event.path, 'empty'))), [], 'the empty folder came too');

  const files = await runCli(t, ['files', '--home', a, '--peer', beta.peer]);
  assert.match(files.stdout, /^1 file on /m, 'the folder is one entry');
  assert.match(files.stdout, /Photos 2026\/$/m);
  const all = await runCli(t, ['files', '--home', a, '--peer', beta.peer, '--all']);
  assert.match(all.stdout, /^1 file on /m, 'a packed folder has no member files of its own in the catalog, even with --all');

  const got = await runCli(t, ['get', 'Photos 2026', '--home', a, '--peer', beta.peer, '--out', join(dir, 'back'), '--json']);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual(await listFiles(join(dir, 'back', 'Photos 2026')), await listFiles(tree));
  assert.equal(await sha256File(join(dir, 'back', 'Photos 2026', 'summer/beach/sea.jpg')), await sha256File(join(tree, 'summer/beach/sea.jpg')));
});

test('send to several peers at once: one manifest for all, each reassembles it; an unreachable one is reported, the others still get it', async (t) => {
  const { dir, a, b, issue } = await cliNetwork(t);
  const c = await issue('gamma');
  const beta = await startServe(t, b, '127.0.0.2');
  const gamma = await startServe(t, c, '127.0.0.3');
  const file = join(dir, 'both.bin');
  await writeFile(file, randomBytes(700_000));
  const r = await runCli(t, ['send', file, '--home', a, '--peer', beta.peer, '--peer', gamma.peer, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { fileId: string; peers: Array<{ peerNodeId: string; sentChunks: number }> };
  assert.deepEqual(out.peers.map((p) => p.peerNodeId), [beta.nodeId, gamma.nodeId]);
  for (const node of [beta, gamma]) {
    const [line] = await node.cli.waitFor(/^\{"event":"received".*"name":"both\.bin".*\n/m);
    assert.equal(await sha256File((JSON.parse(line) as { path: string }).path), await sha256File(file));
  }
  // The catalog of either lists one manifest naming both recipients (and the sender).
  const listing = JSON.parse((await runCli(t, ['files', '--home', b, '--peer', gamma.peer, '--json'])).stdout) as { files: Array<{ fileId: string; name: string | null }> };
  assert.equal(listing.files.find((f) => f.fileId === out.fileId)?.name, 'both.bin', 'beta can open what gamma holds: it is a recipient too');

  // With one peer down: the other still gets the file, the run says which failed, exit 1.
  await writeFile(join(dir, 'second.bin'), randomBytes(100_000));
  const down = `127.0.0.1:${await closedPort()}`;
  const partial = await runCli(t, ['send', join(dir, 'second.bin'), '--home', a, '--peer', down, '--peer', beta.peer]);
  assert.equal(partial.code, 1);
  assert.match(partial.stdout, new RegExp(`Not sent to ${down.replace(/\./g, '\\.')}: PEER_UNREACHABLE`));
  assert.match(partial.stdout, /Sent second\.bin .* to 127\.0\.0\.2/);
  assertNoStack(partial);
  const both = await runCli(t, ['send', file, '--home', a, '--all', '--peer', beta.peer]);
  assertCliError(both, 'INVALID_ARGUMENT');
});

// The web UI as a person meets it: two real nodes (`p2pfx serve --ui`), their pages in headless
// Chromium (Debian's, through playwright-core), every action done through the page — add a peer,
// send a file and a folder, watch the transfers, find the file in the catalog, download it — and
// the bytes checked on disk. Skips, saying why, where /usr/bin/chromium is missing.
//
// P2PFX_UI_SCREENSHOT=1 also writes docs/ui.png (the desktop page with finished transfers).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { cliNetwork, closedPort, repoRoot, runCli, sha256File, stopChild } from './helpers/cli.js';
import { assertUiBuilt, hasChromium, launchChromium, NO_CHROMIUM, startServeUi, watchPage, type UiNode } from './helpers/browser.js';

const SCREENSHOT = process.env.P2PFX_UI_SCREENSHOT === '1';
const STEP_MS = 20_000;

async function writeRandom(path: string, size: number): Promise<string> {
  await writeFile(path, randomBytes(size));
  return path;
}

async function browserFor(t: TestContext, hostRules?: string): Promise<Browser> {
  const browser = await launchChromium(hostRules ? { hostRules } : {});
  t.after(() => browser.close());
  return browser;
}

async function openUi(browser: Browser, node: UiNode, opts: { width?: number; height?: number } = {}): Promise<{ context: BrowserContext; page: Page; problems: string[]; httpErrors: string[] }> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 820 }, colorScheme: 'light', locale: 'en-GB' });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  const { problems, httpErrors } = watchPage(page, node.uiOrigin);
  const res = await page.goto(node.ui);
  assert.equal(res?.status(), 200, `GET ${node.ui}`);
  await page.getByTestId('live-status').and(page.locator('[data-state=open]')).waitFor();
  return { context, page, problems, httpErrors };
}

async function text(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

async function tab(page: Page, id: string): Promise<void> {
  await page.getByTestId(`tab-${id}`).click();
  await page.getByTestId(`panel-${id}`).waitFor();
}

/** Polls (bounded) until `path` exists on disk. */
async function fileAppears(path: string, timeoutMs = STEP_MS): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await stat(path).then((s) => s.isFile(), () => false))) {
    if (Date.now() > until) assert.fail(`${path} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function addPeer(page: Page, peer: UiNode): Promise<void> {
  await tab(page, 'peers');
  await page.getByLabel('Address (HOST or HOST:PORT)').fill(peer.peer);
  await page.getByTestId('peer-add-submit').click();
  await page.locator(`[data-testid=peer-add-result][data-node-id="${peer.nodeId}"]`).waitFor();
  const row = page.locator(`[data-testid=peer-row][data-node-id="${peer.nodeId}"]`);
  await row.and(page.locator('[data-reachable=true]')).waitFor();
  assert.equal(await text(row.getByTestId('peer-address')), peer.peer);
  assert.equal(await text(row.getByTestId('peer-reachable')), 'reachable');
}

/** Every button, input and select of the page has a name a screen reader can say. */
async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const out = [];
    for (const el of document.querySelectorAll('button, input, select, textarea, [role=tab]')) {
      const name = (el.getAttribute('aria-label') || '').trim()
        || (el.getAttribute('aria-labelledby') ? 'labelledby' : '')
        || (el.labels && el.labels.length > 0 ? [...el.labels].map((l) => l.textContent).join(' ').trim() : '')
        || (el.tagName === 'BUTTON' ? (el.textContent || '').trim() : '')
        || (el.getAttribute('title') || '').trim();
      if (!name) out.push(el.outerHTML.slice(0, 160));
    }
    return out;
  })()`);
}

test('the web UI in headless Chromium: add peers, send a file and a folder with live progress, find them in the catalog, download one; checked on disk', { timeout: 120_000 }, async (t) => {
  if (!(await hasChromium())) return t.skip(NO_CHROMIUM);
  await assertUiBuilt();
  const net = await cliNetwork(t);
  const [alpha, beta] = await Promise.all([startServeUi(t, net.a), startServeUi(t, net.b)]);
  const browser = await browserFor(t);
  const a = await openUi(browser, alpha);
  const b = await openUi(browser, beta);

  // This node: the name, the id as text and as a QR code.
  assert.equal(await text(a.page.getByTestId('node-name')), 'alpha');
  assert.equal(await text(a.page.getByTestId('node-id')), alpha.nodeId);
  const qr = a.page.getByTestId('node-qr');
  assert.equal(await qr.getAttribute('aria-label'), `QR code of the node id ${alpha.nodeId}`);
  assert.match((await qr.locator('path').getAttribute('d')) ?? '', /^M\d+ \d+h\d+v1h-\d+z/);
  assert.equal(await a.page.getByTestId('node-status').getAttribute('data-serving'), 'yes');
  assert.equal(await text(a.page.getByTestId('node-serving')), alpha.peer);
  assert.equal(await a.page.getByTestId('tab-invite').count(), 1, 'alpha holds the CA key: it may invite');
  assert.equal(await b.page.getByTestId('tab-invite').count(), 0, 'beta does not hold the CA key');

  // The tabs answer the keyboard (arrows, Home, End), as a tab list should.
  await a.page.getByTestId('tab-node').focus();
  await a.page.keyboard.press('ArrowRight');
  assert.equal(await a.page.getByTestId('tab-peers').getAttribute('aria-selected'), 'true');
  assert.equal(await a.page.evaluate('document.activeElement && document.activeElement.id'), 'tab-peers');
  await a.page.keyboard.press('End');
  assert.equal(await a.page.getByTestId('tab-invite').getAttribute('aria-selected'), 'true');
  await a.page.keyboard.press('Home');
  assert.equal(await a.page.getByTestId('tab-node').getAttribute('aria-selected'), 'true');

  // An invite (alpha is the CA): a code and the command to type on the new machine.
  await tab(a.page, 'invite');
  await a.page.getByTestId('invite-create').click();
  const code = await text(a.page.getByTestId('invite-code'));
  assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{2,4})+$/);
  assert.match(await text(a.page.getByTestId('invite-join')), new RegExp(`^p2pfx join \\S+:\\d+ ${code}$`));

  // Peers: a peer that does not answer shows the CLI's error and hint; then each adds the other.
  await tab(a.page, 'peers');
  await a.page.getByTestId('peer-add-address').fill(`127.0.0.1:${await closedPort()}`);
  await a.page.getByTestId('peer-add-submit').click();
  const refused = a.page.getByTestId('peer-add-error');
  await refused.waitFor();
  assert.equal(await refused.getAttribute('data-code'), 'PEER_UNREACHABLE');
  assert.match(await text(refused.getByTestId('error-text')), /^error PEER_UNREACHABLE: \S/);
  assert.match(await text(refused.getByTestId('error-hint')), /^hint: Check that `p2pfx serve` runs on the peer/);
  await addPeer(a.page, beta);
  await addPeer(b.page, alpha);

  // Send, alpha → beta, through the file picker. First a drop onto the drop zone (then cleared).
  await tab(a.page, 'send');
  const dropped = await a.page.evaluateHandle(`(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped'], 'dropped.txt', { type: 'text/plain' }));
    return dt;
  })()`);
  await a.page.getByTestId('send-drop').dispatchEvent('dragenter', { dataTransfer: dropped });
  await a.page.getByTestId('send-drop').dispatchEvent('drop', { dataTransfer: dropped });
  await a.page.locator('[data-testid=send-item][data-name="dropped.txt"]').waitFor();
  await a.page.getByTestId('send-clear').click();
  assert.equal(await a.page.getByTestId('send-item').count(), 0);

  // A file through the file picker and a folder through the folder picker, sent in one click:
  // one transfer each.
  const report = await writeRandom(join(net.dir, 'report.bin'), 6 * 1024 * 1024 + 5);
  const reportSha = await sha256File(report);
  const album = join(net.dir, 'Album');
  const albumFiles = ['one.txt', 'photos/two.bin', 'photos/deep/three.bin'];
  await mkdir(join(album, 'photos', 'deep'), { recursive: true });
  await writeFile(join(album, 'one.txt'), 'the first file\n');
  await writeRandom(join(album, 'photos', 'two.bin'), 1024 * 1024 + 1);
  await writeRandom(join(album, 'photos', 'deep', 'three.bin'), 300_000);
  await a.page.getByTestId('send-files').setInputFiles(report);
  await a.page.getByTestId('send-folder').setInputFiles(album);
  await a.page.locator('[data-testid=send-item][data-name="report.bin"]').waitFor();
  const albumItem = a.page.locator('[data-testid=send-item][data-name="Album"]');
  assert.match(await text(albumItem), /3 files/);
  const betaBox = a.page.locator(`[data-testid=send-peer][data-node-id="${beta.nodeId}"]`);
  assert.equal(await betaBox.isChecked(), true, 'reachable peers are ticked by default');
  await a.page.getByTestId('send-submit').click();
  await a.page.locator('[data-testid=send-started-item]').nth(1).waitFor();
  await tab(a.page, 'transfers');
  const sent = a.page.locator('[data-testid=transfer][data-direction=send][data-name="report.bin"]');
  await sent.and(a.page.locator('[data-state=done]')).waitFor();
  assert.equal(await text(sent.getByTestId('transfer-percent')), '100 %');
  assert.equal(await sent.getByTestId('transfer-progress').getAttribute('value'), '100');
  assert.equal(await text(sent.getByTestId('transfer-state')), 'done');
  assert.equal(await text(sent.getByTestId('transfer-bytes')), '6.0 MiB / 6.0 MiB');
  assert.equal(await text(sent.getByTestId('transfer-peers')), `to beta (${beta.peer})`, 'the peer by its book name and address');
  const folderSent = a.page.locator('[data-testid=transfer][data-direction=send][data-name="Album"]');
  await folderSent.and(a.page.locator('[data-state=done]')).waitFor();
  assert.equal(await text(folderSent.getByTestId('transfer-percent')), '100 %');
  assert.equal(await text(folderSent.getByTestId('transfer-files')), '3 / 3 files');

  // Beta reassembled both into its received/, and its page heard of them (the live stream).
  await fileAppears(join(net.b, 'received', 'report.bin'));
  assert.equal(await sha256File(join(net.b, 'received', 'report.bin')), reportSha);
  for (const rel of albumFiles) {
    const got = join(net.b, 'received', 'Album', rel);
    await fileAppears(got);
    assert.equal(await sha256File(got), await sha256File(join(album, rel)), rel);
  }
  await b.page.getByTestId('notice').filter({ hasText: 'Received report.bin from alpha' }).waitFor();
  await b.page.getByTestId('notice').filter({ hasText: 'Received folder Album from alpha' }).waitFor();

  // And one beta may store but not open (sent by the CLI, --storage-only): its name stays hidden.
  const sealed = await runCli(t, ['send', await writeRandom(join(net.dir, 'sealed.bin'), 1000), '--home', net.a, '--peer', beta.peer, '--storage-only', '--json']);
  assert.equal(sealed.code, 0, sealed.stderr);
  const sealedId = (JSON.parse(sealed.stdout) as { fileId: string }).fileId;

  // Beta's catalog (its book: alpha) lists them, the folder marked; search by name.
  await tab(b.page, 'catalog');
  const hidden = b.page.locator(`[data-testid=catalog-row][data-file-id="${sealedId}"]`);
  await hidden.waitFor();
  assert.equal(await text(hidden.getByTestId('catalog-name')), 'hidden');
  assert.equal(await hidden.getByTestId('catalog-download').isDisabled(), true, 'no key: nothing to download');
  assert.equal(await b.page.getByTestId('catalog-row').count(), 3);
  const row = b.page.locator('[data-testid=catalog-row][data-name="report.bin"]');
  await row.waitFor();
  assert.equal(await text(row.getByTestId('catalog-size')), '6.0 MiB');
  assert.equal(await text(row.getByTestId('catalog-sender')), 'alpha');
  // Peers named as the Transfers tab names them: the book's name, then the address.
  assert.equal(await text(row.getByTestId('catalog-peers')), `alpha (${alpha.peer})`);
  const folderRow = b.page.locator('[data-testid=catalog-row][data-name="Album"]');
  assert.equal(await folderRow.getAttribute('data-kind'), 'folder');
  assert.equal(await folderRow.getByTestId('catalog-folder').count(), 1, 'folders are marked');
  assert.equal(await text(folderRow.getByTestId('catalog-files')), `· ${albumFiles.length} files`, 'a folder says how many files it holds');
  await b.page.getByLabel('Search by name').fill('no such name');
  await b.page.getByTestId('catalog-empty').waitFor();
  await b.page.getByLabel('Search by name').fill('REPORT');
  await row.waitFor();
  assert.equal(await b.page.getByTestId('catalog-row').count(), 1);

  // Download through alpha's page: report.bin, from beta (alpha keeps no copy of what it sends).
  await tab(a.page, 'catalog');
  const wanted = a.page.locator('[data-testid=catalog-row][data-name="report.bin"]');
  await wanted.getByTestId('catalog-download').click();
  await wanted.locator('[data-testid=catalog-download-state][data-state=done]').waitFor();
  await tab(a.page, 'transfers');
  const got = a.page.locator('[data-testid=transfer][data-direction=get][data-name="report.bin"]');
  await got.and(a.page.locator('[data-state=done]')).waitFor();
  assert.equal(await text(got.getByTestId('transfer-percent')), '100 %');
  const downloaded = join(net.a, 'received', 'report.bin');
  assert.equal(await text(got.getByTestId('transfer-result')), `Saved as ${downloaded}`);
  assert.equal(await sha256File(downloaded), reportSha, 'the file downloaded through the page is the one sent');
  await a.page.getByTestId('notice').filter({ hasText: `Downloaded report.bin → ${downloaded}` }).waitFor();

  if (SCREENSHOT) {
    // Without the notices (they leave by themselves after a few seconds).
    const notices = a.page.getByTestId('notice');
    while ((await notices.count()) > 0) await notices.first().getByRole('button', { name: 'Dismiss' }).click({ timeout: 1000 }).catch(() => undefined);
    await a.page.mouse.move(0, 0);
    await a.page.setViewportSize({ width: 1280, height: 600 });
    await a.page.screenshot({ path: join(repoRoot, 'docs', 'ui.png'), fullPage: true });
  }

  // Every control has a name; at 360 px wide nothing overflows sideways; dark follows the system.
  await a.page.setViewportSize({ width: 360, height: 740 });
  for (const id of ['node', 'peers', 'catalog', 'send', 'transfers', 'chunks', 'invite']) {
    await tab(a.page, id);
    if (id === 'chunks') await a.page.getByTestId('chunks-count').waitFor();
    if (id === 'catalog') await a.page.getByTestId('catalog-table').waitFor();
    assert.deepEqual(await unlabelledControls(a.page), [], `controls without a label on ${id}`);
    const width = await a.page.evaluate('document.documentElement.scrollWidth');
    assert.ok(Number(width) <= 360, `${id} is ${width} px wide at a 360 px viewport`);
  }
  const light = await a.page.evaluate('getComputedStyle(document.documentElement).backgroundColor');
  await a.page.emulateMedia({ colorScheme: 'dark' });
  const dark = await a.page.evaluate('getComputedStyle(document.documentElement).backgroundColor');
  assert.notEqual(dark, light, 'prefers-color-scheme: dark changes the colours');

  // Beta's chunks: report.bin, sent to beta, stands for its chunks (kept once, as the file); the
  // folder's chunks stay sealed in the store, each listed.
  await tab(b.page, 'chunks');
  const asFiles = /^(\d+) chunks of (\d+) files? sent here/.exec(await text(b.page.getByTestId('chunks-as-files')));
  assert.ok(asFiles && Number(asFiles[1]) >= 6 && Number(asFiles[2]) >= 1, `beta keeps report.bin's chunks as the file: ${asFiles?.[0]}`);
  assert.equal(await b.page.getByTestId('chunk-row').count(), Math.min(200, Number(await text(b.page.getByTestId('chunks-count')))));

  // A send that fails shows the CLI's error and hint; Retry, once the peer is back, completes it.
  await b.context.close();
  await stopChild(beta.cli.child);
  await a.page.setViewportSize({ width: 1280, height: 820 });
  await a.page.emulateMedia({ colorScheme: 'light' });
  await tab(a.page, 'send');
  const late = await writeRandom(join(net.dir, 'late.bin'), 200_000);
  await a.page.getByTestId('send-files').setInputFiles(late);
  await a.page.locator(`[data-testid=send-peer][data-node-id="${beta.nodeId}"]`).check();
  await a.page.getByTestId('send-submit').click();
  await tab(a.page, 'transfers');
  const lateRow = a.page.locator('[data-testid=transfer][data-direction=send][data-name="late.bin"]');
  await lateRow.and(a.page.locator('[data-state=failed]')).waitFor();
  const failure = lateRow.getByTestId('transfer-error');
  assert.equal(await failure.getAttribute('data-code'), 'PEER_UNREACHABLE');
  assert.match(await text(failure.getByTestId('error-text')), /^error PEER_UNREACHABLE: .*127\.0\.0\.1:\d+/);
  assert.match(await text(failure.getByTestId('error-hint')), /^hint: \S/);
  assert.equal(await lateRow.getByTestId('transfer-cancel').count(), 0, 'nothing to cancel once failed');
  await startServeUi(t, net.b, { port: beta.port });
  await lateRow.getByTestId('transfer-retry').click();
  await lateRow.and(a.page.locator('[data-state=done]')).waitFor();
  assert.equal(await text(lateRow.getByTestId('transfer-percent')), '100 %');
  assert.equal(await lateRow.getByTestId('transfer-error').count(), 0);
  await fileAppears(join(net.b, 'received', 'late.bin'));
  assert.equal(await sha256File(join(net.b, 'received', 'late.bin')), await sha256File(late));

  assert.deepEqual(a.problems, [], 'alpha\'s page');
  assert.deepEqual(b.problems, [], 'beta\'s page');
  assert.deepEqual(a.httpErrors, ['POST /api/peers 502'], 'alpha\'s page: only the peer that does not answer');
  assert.deepEqual(b.httpErrors, [], 'beta\'s page');
});

test('the web UI refuses a request without its token (401) and one for a foreign Host (403), in the browser too', { timeout: 60_000 }, async (t) => {
  if (!(await hasChromium())) return t.skip(NO_CHROMIUM);
  await assertUiBuilt();
  const net = await cliNetwork(t);
  const alpha = await startServeUi(t, net.a);
  // rebind.test resolves to 127.0.0.1 inside this browser: a DNS-rebinding page, as an attacker would make.
  const browser = await browserFor(t, 'MAP rebind.test 127.0.0.1');
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();

  assert.equal((await page.goto(`${alpha.uiOrigin}/`))?.status(), 401, 'the page without its token');
  assert.equal((await page.goto(`${alpha.uiOrigin}/?token=not-the-token`))?.status(), 401, 'a wrong token');
  const rebound = await page.goto(`http://rebind.test:${alpha.uiPort}/?token=${alpha.token}`);
  assert.equal(rebound?.status(), 403, 'a Host that is not 127.0.0.1 or localhost, even with the token');
  assert.match(await rebound!.text(), /UI_HOST_REFUSED/);

  // With the token: the page works, on 127.0.0.1 and on localhost.
  for (const origin of [alpha.uiOrigin, `http://localhost:${alpha.uiPort}`]) {
    const res = await page.goto(`${origin}/?token=${alpha.token}`);
    assert.equal(res?.status(), 200, origin);
    assert.equal(await text(page.getByTestId('node-id')), alpha.nodeId);
  }
  // The page's cookie alone does not open the API: the token header is needed (CSRF).
  assert.equal(await page.evaluate(`fetch('/api/node').then((r) => r.status)`), 401);
  assert.equal(await page.evaluate(`fetch('/api/node', { headers: { 'x-p2pfx-token': ${JSON.stringify(alpha.token)} } }).then((r) => r.status)`), 200);
  assert.equal(await page.evaluate(`new Promise((resolve) => {
    const es = new EventSource('/api/events');
    es.onerror = () => { resolve(es.readyState === EventSource.CLOSED ? 'refused' : 'retrying'); es.close(); };
    es.onopen = () => { resolve('open'); es.close(); };
  })`), 'refused', 'the event stream without its token');
});

test('the web UI in the browser: without its token a page says how to open it; with it, the token leaves the address bar and the page keeps working; a reload lands on the help page', { timeout: 60_000 }, async (t) => {
  if (!(await hasChromium())) return t.skip(NO_CHROMIUM);
  await assertUiBuilt();
  const net = await cliNetwork(t);
  const alpha = await startServeUi(t, net.a);
  const browser = await browserFor(t);
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();

  // Without the token (a marker in the query and the hash, which must not come back): the help page.
  const marker = 'zq-reflected-7f3a';
  const help = await page.goto(`${alpha.uiOrigin}/?${marker}=<i>${marker}</i>&token=${marker}#${marker}`);
  assert.equal(help?.status(), 401);
  assert.equal(help?.headers()['content-type'], 'text/html; charset=utf-8');
  const helpText = await text(page.locator('body'));
  assert.match(helpText, /p2pfx web UI of this machine/);
  assert.match(helpText, /p2pfx ui/);
  assert.doesNotMatch(helpText, /UI_TOKEN_REQUIRED|"error"/, 'no raw JSON');
  assert.ok(!(await page.content()).includes(marker), 'nothing of the request is reflected');
  assert.equal(await page.title(), 'p2pfx: open the web UI from its link');
  // The API without the token still answers scripts with its JSON error.
  const apiRes = await page.request.get(`${alpha.uiOrigin}/api/node`);
  assert.equal(apiRes.status(), 401);
  assert.equal(((await apiRes.json()) as { error: { code: string } }).error.code, 'UI_TOKEN_REQUIRED');

  // The real link, with another parameter and a hash (a tab): the token goes, the rest stays.
  const { problems, httpErrors } = watchPage(page, alpha.uiOrigin);
  const url = new URL(alpha.ui);
  url.searchParams.set('keep', 'yes');
  url.hash = 'peers';
  assert.equal((await page.goto(url.href))?.status(), 200);
  await page.getByTestId('live-status').and(page.locator('[data-state=open]')).waitFor();
  await page.waitForURL((u) => !u.searchParams.has('token'));
  assert.equal(page.url(), `${alpha.uiOrigin}/?keep=yes#peers`);
  assert.equal(await page.getByTestId('tab-peers').getAttribute('aria-selected'), 'true', 'the hash still chooses the tab');
  // Its API calls still carry the token (from the page, not the address).
  await tab(page, 'node');
  assert.equal(await text(page.getByTestId('node-id')), alpha.nodeId);
  await tab(page, 'invite');
  await page.getByTestId('invite-create').click();
  assert.match(await text(page.getByTestId('invite-code')), /^[0-9A-Z]{4}-/);
  // Its event stream too (opened after the token left the address): a file another node sends
  // is announced live.
  const sent = await runCli(t, ['send', await writeRandom(join(net.dir, 'live.bin'), 1000), '--home', net.b, '--peer', alpha.peer, '--json']);
  assert.equal(sent.code, 0, sent.stderr);
  await page.getByTestId('notice').filter({ hasText: /^Received live\.bin from / }).waitFor();
  assert.deepEqual(problems, []);
  assert.deepEqual(httpErrors, []);

  // A reload: the address has no token any more, so the help page (the decision in DESIGN "Web interface").
  const reloaded = await page.reload();
  assert.equal(reloaded?.status(), 401);
  assert.match(await text(page.locator('body')), /p2pfx ui/);
  assert.equal(page.url(), `${alpha.uiOrigin}/?keep=yes#invite`, 'the tab last chosen, no token');
});

// Fixtures for testing the web UI as a person meets it: Debian's Chromium, headless, driven by
// playwright-core (never a browser downloaded by Playwright), and `p2pfx serve --ui` in a child.
import assert from 'node:assert/strict';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot, startCli, type ServingNode } from './cli.js';

/** Debian's `chromium` package (CI installs it: see .ci/run). */
export const CHROMIUM = '/usr/bin/chromium';
export const NO_CHROMIUM = `${CHROMIUM} is not installed (apt-get install chromium): no browser to test the web UI in`;
export const UI_INDEX = join(repoRoot, 'dist/ui/index.html');

export async function hasChromium(): Promise<boolean> {
  return access(CHROMIUM, constants.X_OK).then(() => true, () => false);
}

/** Fails, saying what to run, when the page was not built (Vite: `npm run build`). */
export async function assertUiBuilt(): Promise<void> {
  const built = await access(UI_INDEX).then(() => true, () => false);
  assert.ok(built, `${UI_INDEX} is missing: the web UI is built by \`npm run build\` (tsc, then vite)`);
}

/**
 * Headless Chromium. `hostRules` maps names to addresses inside the browser only (e.g.
 * "MAP rebind.test 127.0.0.1"): DNS rebinding without touching the machine's resolver.
 */
export async function launchChromium(opts: { hostRules?: string } = {}): Promise<Browser> {
  const args = ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--no-first-run', '--disable-gpu'];
  if (opts.hostRules) args.push(`--host-resolver-rules=${opts.hostRules}`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 30_000 });
}

export interface UiNode extends ServingNode {
  /** http://127.0.0.1:PORT/?token=T, as `serve --ui --json` prints it. */
  ui: string;
  uiOrigin: string;
  uiPort: number;
  token: string;
}

/**
 * Runs `p2pfx serve --ui --host 127.0.0.1 --port 0 --json --no-discovery` (another port with
 * `port`, e.g. to restart a node where its peers know it); reads both ports from its first line.
 */
export async function startServeUi(t: TestContext, home: string, opts: { port?: number } = {}): Promise<UiNode> {
  const cli = startCli(t, ['serve', '--ui', '--home', home, '--host', '127.0.0.1', '--port', String(opts.port ?? 0), '--json', '--no-discovery']);
  const [line] = await cli.waitFor(/^.*\n/);
  const info = JSON.parse(line) as { host: string; port: number; nodeId: string; downloads: string; downloadsSource: string; ui: string | null };
  assert.ok(info.ui, `serve --ui --json should print the UI's URL; it printed ${line}`);
  const url = new URL(info.ui);
  assert.equal(url.hostname, '127.0.0.1', 'the UI listens on 127.0.0.1 only');
  const token = url.searchParams.get('token');
  assert.ok(token, `the UI's URL carries a token: ${info.ui}`);
  return {
    home, host: info.host, port: info.port, peer: `${info.host}:${info.port}`, nodeId: info.nodeId, cli,
    downloads: { dir: info.downloads, source: info.downloadsSource }, ui: info.ui, uiOrigin: url.origin, uiPort: Number(url.port), token,
  };
}

/**
 * Everything a page says that a person would not see: uncaught exceptions, console errors,
 * requests that failed or left the UI's origin (the page must bundle everything). Answers with an
 * HTTP error are listed apart (`METHOD /path STATUS`), for the test to compare with what it caused.
 */
export function watchPage(page: Page, origin: string): { problems: string[]; httpErrors: string[] } {
  const problems: string[] = [];
  const httpErrors: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium logs every HTTP error answer as "Failed to load resource": those are in httpErrors.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console error: ${msg.text()}`);
  });
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('data:') && !url.startsWith('blob:')) problems.push(`request outside the UI's origin: ${url}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) httpErrors.push(`${res.request().method()} ${new URL(res.url()).pathname} ${res.status()}`);
  });
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? '';
    // The event stream is cut when the page or the node goes away: not a fault of the page.
    if (new URL(req.url()).pathname === '/api/events' && /ERR_ABORTED|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING/.test(failure)) return;
    problems.push(`request failed: ${req.method()} ${req.url()} ${failure}`);
  });
  return { problems, httpErrors };
}

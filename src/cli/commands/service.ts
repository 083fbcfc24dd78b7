// `p2pfx service install|uninstall`: run `p2pfx serve` for this home as a systemd user service —
// restarted when it fails, started at login (and at boot with `loginctl enable-linger`).
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { P2pfxError } from '../../core/errors.js';
import { ownCommand } from '../../own-files.js';
import { loadCredentials } from '../../store/credentials.js';
import type { Home } from '../../store/home.js';
import { homeFor, outFor, parsePort, type GlobalOptions } from '../context.js';

export interface ServiceOptions {
  print?: boolean;
  start?: boolean;
  port?: string;
  host?: string;
  discovery?: boolean;
}

/** How long systemctl may take to answer (it talks to the user's service manager). */
const SYSTEMCTL_TIMEOUT_MS = 20_000;

/** ~/.config/systemd/user (or $XDG_CONFIG_HOME/systemd/user): where a user's own units live. */
export function userUnitDir(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME !== undefined && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(config, 'systemd', 'user');
}

/** p2pfx-NAME.service, NAME the node's name cut down to what a unit name may hold. */
export function unitName(nodeName: string): string {
  const safe = nodeName.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
  return `p2pfx-${safe === '' ? 'node' : safe}.service`;
}

/**
 * One argument of ExecStart, quoted as systemd reads it: in double quotes, with `\` and `"`
 * escaped, `%` (specifiers) and `$` (variables) doubled. A control character cannot be written.
 */
export function systemdQuote(arg: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(arg)) throw new P2pfxError('INVALID_ARGUMENT', `a systemd unit cannot hold a control character: ${JSON.stringify(arg)}`);
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** The unit's text: the running program (node and p2pfx, or the single executable) serving `home`. */
export function unitText(opts: { name: string; home: string; argv: string[] }): string {
  const exec = opts.argv.map(systemdQuote).join(' ');
  return `# Written by \`p2pfx service install\`; \`p2pfx service uninstall\` removes it.
[Unit]
Description=p2pfx node ${opts.name.replace(/[^\x20-\x7e]/g, '?')} (home ${opts.home.replace(/[^\x20-\x7e]/g, '?')})

[Service]
Type=simple
ExecStart=${exec}
Restart=on-failure
RestartSec=5
# Keys, chunks and received files are the user's alone.
UMask=0077
NoNewPrivileges=yes

[Install]
WantedBy=default.target
`;
}

function systemctl(args: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile('systemctl', ['--user', ...args], { timeout: SYSTEMCTL_TIMEOUT_MS }, (err, stdout, stderr) => {
      resolve({ ok: err === null, output: `${stdout}${stderr}`.trim() || (err?.message ?? '') });
    });
  });
}

async function serviceFor(g: GlobalOptions): Promise<{ home: Home; name: string; unit: string; path: string }> {
  const home = homeFor(g);
  const creds = await loadCredentials(home); // CERTS_MISSING: a service for a home with no node would only fail in a loop
  const unit = unitName(creds.name);
  return { home, name: creds.name, unit, path: join(userUnitDir(), unit) };
}

export async function serviceInstallCommand(g: GlobalOptions, opts: ServiceOptions): Promise<void> {
  const out = outFor(g);
  const { home, name, unit, path } = await serviceFor(g);
  const serveArgs = ['serve', '--home', home.root, '--port', String(parsePort(opts.port ?? '8443')), '--host', opts.host ?? '0.0.0.0'];
  if (opts.discovery === false) serveArgs.push('--no-discovery');
  const text = unitText({ name, home: home.root, argv: [...ownCommand(), ...serveArgs] });
  if (opts.print === true) {
    if (out.json) return out.data({ unit, path, text });
    process.stdout.write(text);
    return;
  }
  if (process.platform !== 'linux') {
    throw new P2pfxError('INVALID_ARGUMENT', `p2pfx service writes systemd units (Linux); this is ${process.platform}`, { hint: 'Run `p2pfx serve` from your system\'s own service manager; `p2pfx service install --print` shows the command line.' });
  }
  const before = await readFile(path, 'utf8').catch(() => null);
  await mkdir(userUnitDir(), { recursive: true });
  await writeFile(path, text, { mode: 0o644 });
  let started: { ok: boolean; output: string } = { ok: false, output: 'not asked (--no-start)' };
  if (opts.start !== false) {
    const reload = await systemctl(['daemon-reload']);
    started = reload.ok ? await systemctl(['enable', '--now', unit]) : reload;
    if (started.ok && before !== null && before !== text) started = await systemctl(['restart', unit]);
  }
  if (out.json) return out.data({ unit, path, written: before === null ? 'created' : before === text ? 'unchanged' : 'updated', started: started.ok, systemctl: started.output });
  out.line(`${before === null ? 'Wrote' : 'Updated'} ${path}`);
  out.line(`  runs: ${[...ownCommand(), ...serveArgs].join(' ')}`);
  if (started.ok) {
    out.line(`Started ${unit}; it restarts if it fails and starts at each login.`);
    out.line(`  status: systemctl --user status ${unit}   log: journalctl --user -u ${unit}`);
    out.line(`  to run it at boot without a login: loginctl enable-linger ${process.env.USER ?? '$USER'}`);
  } else {
    out.line(`Not started: ${opts.start === false ? 'as asked' : `systemctl --user did not answer here (${started.output.split('\n')[0]})`}.`);
    out.line(`  In your login session: systemctl --user daemon-reload && systemctl --user enable --now ${unit}`);
  }
}

export async function serviceUninstallCommand(g: GlobalOptions): Promise<void> {
  const out = outFor(g);
  const { unit, path } = await serviceFor(g);
  const present = await readFile(path, 'utf8').then(() => true, () => false);
  if (!present) throw new P2pfxError('SERVICE_NOT_INSTALLED', `no service for this node at ${path}`);
  const stopped = await systemctl(['disable', '--now', unit]);
  await rm(path, { force: true });
  if (stopped.ok) await systemctl(['daemon-reload']);
  if (out.json) return out.data({ unit, path, removed: true, stopped: stopped.ok });
  out.line(`Removed ${path}${stopped.ok ? ` (stopped and disabled ${unit})` : ''}`);
  if (!stopped.ok) out.line(`  systemctl --user did not answer here; if ${unit} still runs in your session: systemctl --user stop ${unit}`);
}

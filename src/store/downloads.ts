// Where files sent to this node land (DESIGN "Where files land"): a visible folder, not the home.
// `serve --downloads DIR`, then $P2PFX_DOWNLOADS, then the home's `downloads` setting (`p2pfx
// config downloads DIR`), then received/ of a home whose earlier version filled it, then the
// user's Downloads folder + p2pfx. `get` writes into the current folder (or --out) instead.
import { constants, readdirSync, readFileSync } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, posix, resolve, win32 } from 'node:path';
import { P2pfxError } from '../core/errors.js';
import type { Home } from './home.js';

export const DOWNLOADS_ENV = 'P2PFX_DOWNLOADS';
/** The key of the home's settings table (index-db.ts) that `p2pfx config downloads` writes. */
export const DOWNLOADS_SETTING = 'downloads';
/** The subfolder of the user's Downloads folder p2pfx uses. */
const APP_FOLDER = 'p2pfx';

/** --downloads, $P2PFX_DOWNLOADS, the home's setting, a received/ folder filled by an earlier p2pfx, or the default. */
export type DownloadsSource = 'option' | 'env' | 'setting' | 'legacy' | 'default';

export interface Downloads { dir: string; source: DownloadsSource }

/** How each source is named to the user (serve, doctor, config). */
export const DOWNLOADS_SOURCE_WORDS: Record<DownloadsSource, string> = {
  option: 'from --downloads',
  env: `from $${DOWNLOADS_ENV}`,
  setting: 'set by `p2pfx config downloads`',
  legacy: 'received/ of this home, as earlier versions did',
  default: 'default',
};

/** What to say to change the folder, for errors and notes. */
export const CHANGE_DOWNLOADS = `\`p2pfx config downloads DIR\` (or \`serve --downloads DIR\`, or $${DOWNLOADS_ENV})`;

/** Said once at start by a node whose home's received/ holds what an earlier p2pfx received. */
export function legacyDownloadsNote(dir: string): string {
  return `note: files sent to this node go to ${dir}, where earlier versions of p2pfx put them; to use another folder: ${CHANGE_DOWNLOADS}`;
}

/**
 * XDG_DOWNLOAD_DIR of a user-dirs.dirs file (pure): `"$HOME/…"` or an absolute path, as
 * xdg-user-dirs writes it; undefined when the line is absent or is neither.
 */
export function parseUserDirs(text: string, home: string): string | undefined {
  let found: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^\s*XDG_DOWNLOAD_DIR\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(line);
    if (!m) continue;
    const value = m[1]!.replace(/\\(.)/g, '$1');
    if (value === '$HOME' || value.startsWith('$HOME/')) found = posix.join(home, value.slice('$HOME'.length));
    else if (posix.isAbsolute(value)) found = posix.normalize(value);
  }
  return found;
}

/**
 * The user's own Downloads folder: on Linux and other Unix, XDG_DOWNLOAD_DIR from
 * $XDG_CONFIG_HOME/user-dirs.dirs (else ~/.config/user-dirs.dirs) when it names one, else
 * ~/Downloads; ~/Downloads on macOS and Windows.
 */
export function userDownloadsFolder(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, home: string, read: (path: string) => string | undefined = readText): string {
  if (platform === 'win32') return win32.join(home, 'Downloads');
  if (platform === 'darwin') return posix.join(home, 'Downloads');
  const xdg = env.XDG_CONFIG_HOME;
  const config = xdg !== undefined && posix.isAbsolute(xdg) ? xdg : posix.join(home, '.config');
  const text = read(posix.join(config, 'user-dirs.dirs'));
  return (text === undefined ? undefined : parseUserDirs(text, home)) ?? posix.join(home, 'Downloads');
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The default downloads folder: the user's Downloads folder + p2pfx. */
export function defaultDownloads(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  const base = userDownloadsFolder(env, platform, home);
  return platform === 'win32' ? win32.join(base, APP_FOLDER) : posix.join(base, APP_FOLDER);
}

export interface ResolveDownloadsOptions {
  /** `serve --downloads`. */
  option?: string | undefined;
  /** The home's `downloads` setting, if any. */
  setting?: string | null | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** The one decision of where files sent to this node land (only reads; nothing is made). */
export function resolveDownloads(home: Home, opts: ResolveDownloadsOptions = {}): Downloads {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  if (opts.option !== undefined && opts.option !== '') return { dir: resolve(cwd, opts.option), source: 'option' };
  const fromEnv = env[DOWNLOADS_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { dir: resolve(cwd, fromEnv), source: 'env' };
  if (opts.setting) return { dir: resolve(opts.setting), source: 'setting' };
  if (holdsFiles(home.receivedDir)) return { dir: home.receivedDir, source: 'legacy' };
  return { dir: defaultDownloads(env), source: 'default' };
}

/** Whether a folder exists and holds anything (what an earlier p2pfx received there). */
function holdsFiles(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/**
 * Makes the downloads folder if it is missing (mode 0700: received files are the user's alone;
 * a missing parent is made as mkdir -p would) and checks it is a folder this user can write.
 * DOWNLOADS_UNUSABLE, naming the folder, otherwise; nothing is written into it.
 */
export async function ensureDownloads(d: Downloads): Promise<string> {
  return ensureFolder(d.dir, 0o700, (why) => unusable(d, why));
}

/**
 * `get`'s folder (the current one, or --out; made if missing, as before): DOWNLOADS_UNUSABLE,
 * naming it, when it cannot be made or written, before anything is fetched.
 */
export async function ensureGetFolder(dir: string, fromOut: boolean): Promise<string> {
  return ensureFolder(resolve(dir), 0o777, (why) => new P2pfxError('DOWNLOADS_UNUSABLE', `cannot download into ${resolve(dir)} (${fromOut ? '--out' : 'the current folder'}): ${why}`, {
    hint: fromOut ? 'Give --out a folder this user can write.' : 'Run `get` from a folder this user can write, or give one with --out DIR.',
  }));
}

async function ensureFolder(dir: string, mode: number, fail: (why: string) => P2pfxError): Promise<string> {
  try {
    await mkdir(dirname(dir), { recursive: true });
    await mkdir(dir, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    await access(dir, constants.W_OK | constants.X_OK);
    return dir;
  } catch (err) {
    throw fail(reason(err));
  }
}

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
  return code === 'ENOTDIR' || code === 'EEXIST' ? 'a file stands where a folder should be'
    : code === 'EACCES' || code === 'EPERM' ? 'this user may not write there'
    : code === 'EROFS' ? 'the filesystem is read-only' : code;
}

/** Why a downloads folder cannot be used, for serve's error and doctor's line. */
export function unusable(d: Downloads, why: string): P2pfxError {
  return new P2pfxError('DOWNLOADS_UNUSABLE', `the downloads folder ${d.dir} (${DOWNLOADS_SOURCE_WORDS[d.source]}) cannot be made or written: ${why}`, {
    hint: `Give a folder this user can write with ${CHANGE_DOWNLOADS}, or fix that one (\`ls -ld\` shows what stands there).`,
  });
}

/** Whether `dir` could be made by ensureDownloads: its nearest existing ancestor is a folder this user can write (only reads). */
export async function canMake(dir: string): Promise<boolean> {
  for (let at = dirname(dir); ; at = dirname(at)) {
    let info;
    try {
      info = await stat(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at || !isAbsolute(at)) return false;
      continue;
    }
    return info.isDirectory() && (await access(at, constants.W_OK | constants.X_OK).then(() => true, () => false));
  }
}


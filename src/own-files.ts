// The program's own files — its package.json, the web UI's built page, the crypto worker's
// script — found beside dist/src when installed by npm, or inside the executable when built as
// a single executable application (SEA, `npm run build:exe`), where they are SEA assets.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getAsset, getAssetKeys, isSea } from 'node:sea';
import { extname } from 'node:path';

/** True inside the single executable: files come from its assets, never from the disk. */
export const IN_EXECUTABLE: boolean = isSea();

/** SEA asset names (scripts/build-exe.ts writes them under these). */
export const ASSET_PACKAGE_JSON = 'package.json';
export const ASSET_UI_PREFIX = 'ui/';
const workerAsset = (name: string): string => `workers/${name}.cjs`;

/** package.json of the program (its version). */
export function ownPackageJson(): string {
  if (IN_EXECUTABLE) return getAsset(ASSET_PACKAGE_JSON, 'utf8');
  return readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
}

/**
 * The command line that runs this program again (a service's ExecStart): the single executable,
 * or this node binary with the CLI's entry point — absolute paths, whatever PATH holds later.
 */
export function ownCommand(): string[] {
  if (IN_EXECUTABLE) return [process.execPath];
  return [process.execPath, fileURLToPath(new URL('./cli/main.js', import.meta.url))];
}

/**
 * Where a worker thread's code is: the compiled module beside this one (a URL), or its bundled
 * source inside the executable (run with `eval`). `name` is a module of src/transfer/.
 */
export function workerScript(name: string): { url: URL } | { code: string } {
  if (IN_EXECUTABLE) return { code: getAsset(workerAsset(name), 'utf8') };
  return { url: new URL(`./transfer/${name}.js`, import.meta.url) };
}

export interface UiFile {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * The web UI's built files (vite: dist/ui), by path relative to that folder ('index.html',
 * 'assets/index-….js'), read once: a handful of files, under 100 kB. Empty when the UI is not
 * built. Only these paths are ever served, so no request can name another file.
 */
export function loadUiFiles(): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  const add = (path: string, body: Buffer): void => {
    files.set(path, { body, type: TYPES[extname(path)] ?? 'application/octet-stream' });
  };
  if (IN_EXECUTABLE) {
    for (const key of getAssetKeys()) {
      if (key.startsWith(ASSET_UI_PREFIX)) add(key.slice(ASSET_UI_PREFIX.length), Buffer.from(getAsset(key)));
    }
    return files;
  }
  const root = new URL('../ui/', import.meta.url);
  let names: string[];
  try {
    names = readdirSync(root, { recursive: true, encoding: 'utf8' });
  } catch {
    return files; // not built
  }
  for (const name of names) {
    try {
      add(name.split('\\').join('/'), readFileSync(new URL(name, root)));
    } catch {
      // a folder
    }
  }
  return files;
}

// Folder index v1 (DESIGN "Formats > Folder"): the list of a folder's entries — relative paths to
// member files (file id, size, SHA-256) and to directories, empty ones too. It travels as a file
// of its own (metadata kind 'folder'), so it is sealed, chunked and signed like any file. Whoever
// sent it, a receiver trusts none of its paths: every one is checked here before anything is
// written (the hole behind croc's CVE-2023-43616 and Syncthing's CVE-2017-1000420).
import { validate as generatedValidateFolderIndexShape } from './generated/folder-index-validate.js';
import type { CompiledValidator } from './manifest-schema.js';
import { P2pfxError } from './errors.js';
import { MiB } from './limits.js';
import { checkFileName } from './manifest.js';

export { FOLDER_INDEX_VERSION, MAX_FOLDER_ENTRIES, MAX_FOLDER_PATH_BYTES, folderIndexSchema } from './folder-index-schema.js';
import { FOLDER_INDEX_VERSION, MAX_FOLDER_ENTRIES, MAX_FOLDER_PATH_BYTES } from './folder-index-schema.js';
/** Directory levels below the folder itself. */
export const MAX_FOLDER_DEPTH = 64;
/** The index file itself: ~100 000 entries of long paths fit; a receiver reads no more. */
export const MAX_FOLDER_INDEX_BYTES = 32 * MiB;

export interface FolderFileEntry { path: string; type: 'file'; fileId: string; size: number; sha256: string }
export interface FolderDirEntry { path: string; type: 'dir' }
export type FolderEntry = FolderFileEntry | FolderDirEntry;
export interface FolderIndex { version: 1; entries: FolderEntry[] }


/** The schema's validator, compiled ahead of time by ajv (scripts/gen-validators.ts). */
const validateFolderIndexShape = generatedValidateFolderIndexShape as CompiledValidator;
const validateShape = validateFolderIndexShape;

/**
 * Checks an untrusted folder index: its shape, then every path and how the paths fit together.
 * Throws BAD_MANIFEST naming the first entry that is wrong (its path escaped for printing).
 */
export function parseFolderIndex(input: unknown): FolderIndex {
  if (!validateShape(input)) {
    const first = validateFolderIndexShape.errors?.[0];
    const where = first ? `${first.instancePath || '/'} ${first.message ?? ''}`.trim() : 'unknown';
    throw new P2pfxError('BAD_MANIFEST', `folder index does not match format v1: ${where}`);
  }
  const index = input as unknown as FolderIndex;
  checkFolderEntries(index.entries, badIndex);
  const ids = new Set<string>();
  let total = 0;
  for (const e of index.entries) {
    if (e.type !== 'file') continue;
    if (ids.has(e.fileId)) throw badIndex(`file id ${e.fileId} is listed twice (again at ${escapePath(e.path)})`);
    ids.add(e.fileId);
    total += e.size;
    if (!Number.isSafeInteger(total)) throw badIndex('file sizes add up to more than can be counted');
  }
  return index;
}

/**
 * The rules every path of a folder obeys, on both ends (a sender refuses a folder a receiver
 * would refuse): relative, '/'-separated, each segment a plain file name (checkFileName: not
 * empty, '.' or '..', no '\', NUL, control, bidirectional-override characters, at most 255
 * bytes), no drive letter, well-formed Unicode, bounded length and depth; no path twice, and no
 * file standing where another entry needs a folder. `fail` makes the error.
 */
export function checkFolderEntries(entries: ReadonlyArray<{ path: string; type: 'file' | 'dir' }>, fail: (message: string) => Error): void {
  if (entries.length > MAX_FOLDER_ENTRIES) throw fail(`${entries.length} entries, more than the ${MAX_FOLDER_ENTRIES} a folder may hold`);
  const types = new Map<string, 'file' | 'dir'>();
  for (const e of entries) {
    const problem = pathProblem(e.path);
    if (problem) throw fail(`unsafe path ${escapePath(e.path)}: ${problem}`);
    if (types.has(e.path)) throw fail(`path ${escapePath(e.path)} is listed twice`);
    types.set(e.path, e.type);
  }
  for (const e of entries) {
    for (let at = e.path.indexOf('/'); at >= 0; at = e.path.indexOf('/', at + 1)) {
      const parent = e.path.slice(0, at);
      if (types.get(parent) === 'file') throw fail(`path ${escapePath(parent)} is a file, yet ${escapePath(e.path)} would be inside it`);
    }
  }
}

/** What is wrong with one path of a folder, or null. */
export function pathProblem(path: string): string | null {
  if (typeof path !== 'string' || path === '') return 'empty';
  if (Buffer.byteLength(path) > MAX_FOLDER_PATH_BYTES) return `longer than ${MAX_FOLDER_PATH_BYTES} bytes`;
  if (LONE_SURROGATE.test(path)) return 'not well-formed Unicode';
  if (path.startsWith('/')) return 'absolute (starts with /)';
  if (path.includes('\\')) return 'has a backslash';
  if (path.includes('\u0000')) return 'has a NUL character';
  const segments = path.split('/');
  if (segments.length > MAX_FOLDER_DEPTH + 1) return `more than ${MAX_FOLDER_DEPTH} folders deep`;
  for (const segment of segments) {
    if (segment === '') return 'has an empty segment (// or a trailing /)';
    if (segment === '.' || segment === '..') return `has a ${segment} segment`;
    if (DRIVE.test(segment)) return 'has a drive letter';
    try {
      checkFileName(segment);
    } catch {
      return 'has a control, bidirectional-override or separator character, or a segment over 255 bytes';
    }
  }
  return null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** `C:` at the start of a segment: a drive (or drive-relative path) on Windows. */
const DRIVE = /^[A-Za-z]:/;

/** The index as sent: entries sorted by path, so that an unchanged folder gives the same bytes. */
export function encodeFolderIndex(entries: readonly FolderEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return JSON.stringify({
    version: FOLDER_INDEX_VERSION,
    entries: sorted.map((e) => (e.type === 'file'
      ? { path: e.path, type: 'file', fileId: e.fileId, size: e.size, sha256: e.sha256 }
      : { path: e.path, type: 'dir' })),
  });
}

/**
 * A path from an untrusted index, safe to print: quoted, control characters, bidirectional
 * overrides and line separators escaped, cut after 200 characters.
 */
export function escapePath(path: string): string {
  const text = String(path);
  const cut = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  // JSON.stringify escapes C0 controls, quotes and lone surrogates; the rest is done here.
  return JSON.stringify(cut).replace(/[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function badIndex(message: string): P2pfxError {
  return new P2pfxError('BAD_MANIFEST', `folder index: ${message}`);
}

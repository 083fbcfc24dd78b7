// The benchmark's command line: `npm run bench -- [--size 1G] [--runs 3] [--json] [--scp]
// [--syncthing] [--large-factor 4] [--chunk-size 1M]` for one big file, or `npm run bench --
// --folder [--runs 3] [--folder-sets 2000x8K,20000x1K] [--password] [--json] [--scp]
// [--chunk-size 1M]` for folders of many small files.
import { parseArgs } from 'node:util';
import { GiB, KiB, MiB } from '../src/core/limits.js';

export interface BenchOptions {
  sizeBytes: number;
  runs: number;
  json: boolean;
  /** Set up a throwaway sshd on 127.0.0.1 and time scp too (also BENCH_SCP=1); with --folder, scp -r and rsync -a. */
  scp: boolean;
  /** Start two throwaway Syncthing instances on 127.0.0.1 and time them too (also BENCH_SYNCTHING=1). */
  syncthing: boolean;
  /** The memory run uses a file this many times --size; 0 skips it. */
  largeFactor: number;
  /** Passed to `p2pfx send --chunk-size` as typed; p2pfx checks it. */
  chunkSize: string | undefined;
  /** The folder benchmark (bench-folder.ts) instead of the big-file one. */
  folder: boolean;
  /** With --folder: the folders to build, each N files of SIZE random bytes. */
  folderSets: FolderSet[];
  /** With --folder: also send and get the first set with a password envelope. */
  password: boolean;
}

/** N files of sizeBytes each, as typed ("2000x8K"). */
export interface FolderSet { label: string; files: number; fileBytes: number }

export const USAGE = [
  'usage: npm run bench -- [--size 1G] [--runs 3] [--json] [--scp] [--syncthing] [--large-factor 4] [--chunk-size 1M]',
  '       npm run bench -- --folder [--runs 3] [--folder-sets 2000x8K,20000x1K] [--password] [--json] [--scp] [--chunk-size 1M]',
].join('\n');

const DEFAULT_FOLDER_SETS = '2000x8K,20000x1K';
/** Options of one mode only: given in the other, they are refused rather than ignored. */
const FILE_ONLY = ['size', 'syncthing', 'large-factor'] as const;
const FOLDER_ONLY = ['folder-sets', 'password'] as const;

/** Throws a usage message naming the bad option. */
export function parseBenchArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      size: { type: 'string' },
      runs: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
      scp: { type: 'boolean', default: false },
      syncthing: { type: 'boolean' },
      'large-factor': { type: 'string' },
      'chunk-size': { type: 'string' },
      folder: { type: 'boolean', default: false },
      'folder-sets': { type: 'string' },
      password: { type: 'boolean' },
    },
  });
  const misplaced = (values.folder ? FILE_ONLY : FOLDER_ONLY).filter((name) => values[name] !== undefined);
  if (misplaced.length > 0) throw new Error(`--${misplaced[0]} is ${values.folder ? 'not' : 'only'} for the folder benchmark (--folder)`);
  return {
    sizeBytes: parseBytes(values.size ?? '1G'),
    runs: parseWhole(values.runs, '--runs', 1),
    json: values.json,
    scp: values.scp || env.BENCH_SCP === '1',
    syncthing: values.syncthing === true || (!values.folder && env.BENCH_SYNCTHING === '1'),
    largeFactor: parseWhole(values['large-factor'] ?? '4', '--large-factor', 0),
    chunkSize: values['chunk-size'],
    folder: values.folder,
    folderSets: parseFolderSets(values['folder-sets'] ?? DEFAULT_FOLDER_SETS),
    password: values.password === true,
  };
}

/** "2000x8K,20000x1K": comma-separated NxSIZE, N ≥ 1, SIZE as parseBytes takes it. */
export function parseFolderSets(text: string): FolderSet[] {
  const sets = text.split(',').map((part) => part.trim()).filter((part) => part !== '').map((part) => {
    const m = /^(\d+)\s*x\s*(\S+)$/i.exec(part);
    const files = m ? Number(m[1]) : 0;
    if (!m || !(files >= 1)) throw new Error(`--folder-sets: not NxSIZE: ${JSON.stringify(part)} (example: 2000x8K,20000x1K)`);
    return { label: `${files}x${m[2]}`, files, fileBytes: parseBytes(m[2]!, '--folder-sets') };
  });
  if (sets.length === 0) throw new Error(`--folder-sets: no set given (example: ${DEFAULT_FOLDER_SETS})`);
  const labels = new Set(sets.map((s) => s.label));
  if (labels.size !== sets.length) throw new Error(`--folder-sets: a set is named twice in ${JSON.stringify(text)}`);
  return sets;
}

/** "1048576", "512K", "256M", "1G" (also "256MiB", "1GB": binary units either way). */
export function parseBytes(text: string, what = '--size'): number {
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  const unit = m ? { '': 1, k: KiB, m: MiB, g: GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'] : 0;
  const bytes = m ? Number(m[1]) * unit : 0;
  if (!(bytes > 0)) throw new Error(`${what}: not a size: ${JSON.stringify(text)} (examples: 268435456, 256M, 1G)`);
  return bytes;
}

function parseWhole(text: string, what: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new Error(`${what} must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

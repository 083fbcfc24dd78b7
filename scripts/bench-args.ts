// The benchmark's command line: `npm run bench -- [--size 1G] [--runs 3] [--json] [--scp]
// [--syncthing] [--large-factor 4] [--chunk-size 1M]`.
import { parseArgs } from 'node:util';
import { GiB, KiB, MiB } from '../src/core/limits.js';

export interface BenchOptions {
  sizeBytes: number;
  runs: number;
  json: boolean;
  /** Set up a throwaway sshd on 127.0.0.1 and time scp too (also BENCH_SCP=1). */
  scp: boolean;
  /** Start two throwaway Syncthing instances on 127.0.0.1 and time them too (also BENCH_SYNCTHING=1). */
  syncthing: boolean;
  /** The memory run uses a file this many times --size; 0 skips it. */
  largeFactor: number;
  /** Passed to `p2pfx send --chunk-size` as typed; p2pfx checks it. */
  chunkSize: string | undefined;
}

export const USAGE = 'usage: npm run bench -- [--size 1G] [--runs 3] [--json] [--scp] [--syncthing] [--large-factor 4] [--chunk-size 1M]';

/** Throws a usage message naming the bad option. */
export function parseBenchArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      size: { type: 'string', default: '1G' },
      runs: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
      scp: { type: 'boolean', default: false },
      syncthing: { type: 'boolean', default: false },
      'large-factor': { type: 'string', default: '4' },
      'chunk-size': { type: 'string' },
    },
  });
  return {
    sizeBytes: parseBytes(values.size),
    runs: parseWhole(values.runs, '--runs', 1),
    json: values.json,
    scp: values.scp || env.BENCH_SCP === '1',
    syncthing: values.syncthing || env.BENCH_SYNCTHING === '1',
    largeFactor: parseWhole(values['large-factor'], '--large-factor', 0),
    chunkSize: values['chunk-size'],
  };
}

/** "1048576", "512K", "256M", "1G" (also "256MiB", "1GB": binary units either way). */
export function parseBytes(text: string): number {
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  const unit = m ? { '': 1, k: KiB, m: MiB, g: GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'] : 0;
  const bytes = m ? Number(m[1]) * unit : 0;
  if (!(bytes > 0)) throw new Error(`--size: not a size: ${JSON.stringify(text)} (examples: 268435456, 256M, 1G)`);
  return bytes;
}

function parseWhole(text: string, what: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new Error(`${what} must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

// The swarm benchmark's command line: `npm run bench:swarm -- [--size 512M] [--holders 1,2,4,8]
// [--rate 100mbit] [--runs 3] [--password] [--slow N] [--slow-factor 10] [--kill] [--send-many]
// [--scenario-holders K] [--json]`.
import { parseArgs } from 'node:util';
import { parseBytes } from './bench-args.js';
import { parseRate, type BitsPerSecond } from './netns-shape.js';

/** One getter and at most this many holders (the largest swarm). */
export const MAX_HOLDERS = 8;
/** `--send-many` sends to this many recipients at once. */
export const SEND_MANY_RECIPIENTS = 4;

export interface SwarmOptions {
  sizeBytes: number;
  /** The swarm sizes k to time, ascending, each a get from holders 1..k. */
  holders: number[];
  /** Each holder's upload, in bit/s. */
  rate: BitsPerSecond;
  runs: number;
  /** Password envelopes: a third node sends the file, the getter opens it with the password. */
  password: boolean;
  /** `--slow N`: N of the scenario's holders at rate / slowFactor, against the others alone; 0 = not run. */
  slow: number;
  slowFactor: number;
  /** `--kill`: a holder SIGKILLed halfway through a get, against the same get untouched. */
  kill: boolean;
  /** `--send-many`: one send to 4 recipients whose download is limited, against a send to 1. */
  sendMany: boolean;
  /** The swarm size of the --slow and --kill scenarios. */
  scenarioHolders: number;
  json: boolean;
}

export const SWARM_USAGE = [
  'usage: npm run bench:swarm -- [--size 512M] [--holders 1,2,4,8] [--rate 100mbit] [--runs 3] [--password]',
  '         [--slow N] [--slow-factor 10] [--kill] [--send-many] [--scenario-holders K] [--json]',
  '  needs root and iproute2 (ip, tc): hosts are network namespaces on a bridge, links shaped with tc.',
].join('\n');

const SWARM_SIZES = '1,2,4,8';

/** Throws a usage message naming the bad option. */
export function parseSwarmArgs(argv: string[]): SwarmOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      size: { type: 'string', default: '512M' },
      holders: { type: 'string', default: SWARM_SIZES },
      rate: { type: 'string', default: '100mbit' },
      runs: { type: 'string', default: '3' },
      password: { type: 'boolean', default: false },
      slow: { type: 'string', default: '0' },
      'slow-factor': { type: 'string', default: '10' },
      kill: { type: 'boolean', default: false },
      'send-many': { type: 'boolean', default: false },
      'scenario-holders': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const holders = parseHolders(values.holders);
  const slow = whole(values.slow, '--slow', 0);
  const largest = holders.at(-1)!;
  // The scenarios want several holders, and no more than the scheduler (not the CPU) can be
  // measured with on two cores: 4, or the largest k asked for when that is smaller.
  const scenarioHolders = values['scenario-holders'] === undefined ? Math.max(2, Math.min(4, largest)) : whole(values['scenario-holders'], '--scenario-holders', 2);
  if (scenarioHolders > MAX_HOLDERS) throw new Error(`--scenario-holders: at most ${MAX_HOLDERS}`);
  if (slow >= scenarioHolders) throw new Error(`--slow ${slow}: the scenario has ${scenarioHolders} holders (--scenario-holders), and at least one must stay fast`);
  const slowFactor = Number(values['slow-factor']);
  if (!(slowFactor > 1)) throw new Error(`--slow-factor must be a number > 1, got ${JSON.stringify(values['slow-factor'])}`);
  return {
    sizeBytes: parseBytes(values.size),
    holders,
    rate: parseRate(values.rate),
    runs: whole(values.runs, '--runs', 1),
    password: values.password,
    slow,
    slowFactor,
    kill: values.kill,
    sendMany: values['send-many'],
    scenarioHolders,
    json: values.json,
  };
}

/** How many holder hosts the options need. */
export function holderHosts(o: SwarmOptions): number {
  const scenarios = o.slow > 0 || o.kill ? o.scenarioHolders : 0;
  return Math.max(o.holders.at(-1)!, scenarios, o.sendMany ? SEND_MANY_RECIPIENTS : 0);
}

/** "1,2,4,8": distinct whole numbers 1..8, returned ascending. */
export function parseHolders(text: string): number[] {
  const ks = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => whole(s, '--holders', 1));
  if (ks.length === 0) throw new Error(`--holders: no swarm size given (example: ${SWARM_SIZES})`);
  if (ks.some((k) => k > MAX_HOLDERS)) throw new Error(`--holders: at most ${MAX_HOLDERS} holders, got ${JSON.stringify(text)}`);
  if (new Set(ks).size !== ks.length) throw new Error(`--holders: a size is given twice in ${JSON.stringify(text)}`);
  return ks.sort((a, b) => a - b);
}

function whole(text: string, what: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new Error(`${what} must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

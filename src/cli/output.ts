// Everything the CLI prints goes through here: data on stdout, errors and progress on stderr,
// and text that came from elsewhere (peers, file names) with control characters escaped.
import { ERROR_CODES, toP2pfxError } from '../core/errors.js';

/**
 * Escapes C0/C1 control characters (terminal escape sequences among them) as \xNN, and
 * bidirectional overrides and line separators as \uNNNN, so text from a peer cannot redraw
 * the terminal or disguise a name.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** JSON.stringify, with bidirectional overrides and C1 controls escaped too (still valid JSON). */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export { formatBytes } from '../core/format.js';

export interface Out {
  json: boolean;
  debug: boolean;
  line(text?: string): void;
  data(value: unknown): void;
  note(text: string): void;
}

export function makeOut(opts: { json?: boolean; debug?: boolean }, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Out {
  return {
    json: opts.json === true,
    debug: opts.debug === true,
    line: (text = '') => void stdout.write(`${printable(text)}\n`),
    data: (value) => void stdout.write(`${safeJson(value)}\n`),
    note: (text) => void stderr.write(`${printable(text)}\n`),
  };
}

/** Prints `error CODE: message` and a hint (and the stack with --debug); returns the exit code. */
export function reportError(err: unknown, opts: { debug?: boolean; json?: boolean }, stderr: NodeJS.WritableStream = process.stderr): number {
  const e = toP2pfxError(err);
  if (opts.json) stderr.write(`${safeJson(e.toJSON())}\n`);
  else {
    stderr.write(`error ${e.code}: ${printable(e.message)}\n`);
    stderr.write(`  hint: ${printable(e.hint)}\n`);
  }
  if (opts.debug) stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  // A command line that cannot be carried out as typed exits 2, as commander's own parse errors do.
  return ERROR_CODES[e.code].kind === 'usage' ? 2 : 1;
}

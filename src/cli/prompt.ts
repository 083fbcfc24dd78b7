// Line-based prompts over any input stream (a TTY, or a pipe in tests and scripts).
// Lines are read through one async iterator, so answers typed or piped ahead are kept.
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { P2pfxError } from '../core/errors.js';

/**
 * What readline writes on a terminal (its echo of each key, the cursor moves of line editing),
 * passed on to the real output unless muted. readline has no option to hide a secret; giving it
 * this stream as its output lets it keep handling backspace, Ctrl-C and Enter while nothing it
 * echoes reaches the screen.
 */
class MutableEcho extends Writable {
  muted = false;

  constructor(private readonly out: NodeJS.WritableStream) {
    // Strings stay strings; the callback is called at once, so every write reaches _write
    // synchronously and is muted or not according to the moment readline wrote it.
    super({ decodeStrings: false });
  }

  /** readline lays out a long line by the terminal's width. */
  get columns(): number | undefined {
    return (this.out as { columns?: number }).columns;
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (!this.muted) this.out.write(chunk);
    done();
  }
}

export class Prompter {
  private readonly rl: Interface;
  private readonly lines: AsyncIterator<string>;
  private readonly echo: MutableEcho;
  private readonly stopResizing: () => void;

  constructor(input: NodeJS.ReadableStream = process.stdin, private readonly output: NodeJS.WritableStream = process.stdout) {
    const terminal = (input as { isTTY?: boolean }).isTTY === true && (output as { isTTY?: boolean }).isTTY === true;
    this.echo = new MutableEcho(output);
    const resize = () => this.echo.emit('resize');
    output.on('resize', resize);
    this.stopResizing = () => void output.removeListener('resize', resize);
    this.rl = createInterface({ input, output: this.echo, terminal });
    this.lines = this.rl[Symbol.asyncIterator]();
  }

  /** The next answer, trimmed; `fallback` when it is empty. Null at end of input. */
  async ask(question: string, fallback = ''): Promise<string | null> {
    this.output.write(fallback ? `${question} [${fallback}]: ` : `${question}: `);
    const next = await this.lines.next();
    if (next.done) return null;
    const answer = next.value.trim();
    return answer === '' ? fallback : answer;
  }

  /**
   * Like ask, without echoing what is typed (on a TTY; a pipe echoes nothing anyway). Not
   * trimmed: spaces may matter. Null at end of input, and after Ctrl-C, which closes the prompter
   * as it does at any question.
   */
  async askSecret(question: string): Promise<string | null> {
    this.output.write(`${question}: `);
    this.echo.muted = true;
    try {
      const next = await this.lines.next();
      return next.done ? null : next.value;
    } finally {
      this.echo.muted = false;
      // readline's own newline after Enter was muted with the rest.
      if ((this.output as { isTTY?: boolean }).isTTY) this.output.write('\n');
    }
  }

  close(): void {
    this.rl.close();
    this.stopResizing();
  }
}

/** Asks until the answer parses (a P2pfxError says why it did not); null at end of input. */
export async function askUntil<T>(ask: Prompter, say: (t: string) => void, question: string, parse: (text: string) => T, fallback = ''): Promise<T | null> {
  for (;;) {
    const answer = await ask.ask(question, fallback);
    if (answer === null) return null;
    try {
      return parse(answer);
    } catch (err) {
      if (!(err instanceof P2pfxError)) throw err;
      say(`${err.message}. ${err.hint}`);
    }
  }
}

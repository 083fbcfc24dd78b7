// Line-based prompts over any input stream (a TTY, or a pipe in tests and scripts).
// Lines are read through one async iterator, so answers typed or piped ahead are kept.
import { createInterface, type Interface } from 'node:readline';

export class Prompter {
  private readonly rl: Interface;
  private readonly lines: AsyncIterator<string>;
  private muted = false;

  constructor(input: NodeJS.ReadableStream = process.stdin, private readonly output: NodeJS.WritableStream = process.stdout) {
    const terminal = (input as { isTTY?: boolean }).isTTY === true && (output as { isTTY?: boolean }).isTTY === true;
    this.rl = createInterface({ input, output, terminal });
    // While a secret is typed, echo nothing (readline has no option for it).
    const rl = this.rl as unknown as { _writeToOutput: (s: string) => void };
    const write = rl._writeToOutput.bind(this.rl);
    rl._writeToOutput = (s: string) => {
      if (!this.muted) write(s);
    };
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

  /** Like ask, without echoing what is typed (on a TTY). Not trimmed: spaces may matter. */
  async askSecret(question: string): Promise<string | null> {
    this.output.write(`${question}: `);
    this.muted = true;
    try {
      const next = await this.lines.next();
      return next.done ? null : next.value;
    } finally {
      this.muted = false;
      if ((this.output as { isTTY?: boolean }).isTTY) this.output.write('\n');
    }
  }

  close(): void {
    this.rl.close();
  }
}

// Everything the benchmark starts or creates is registered here right after it exists, and
// undone in reverse order at the end — on success, on failure, and on SIGINT/SIGTERM.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

type Step = () => Promise<void> | void;

export class Teardown {
  readonly #steps: Step[] = [];
  #running: Promise<void> | null = null;
  /** Set once a signal asked us to stop: failures after that are expected, not news. */
  interrupted = false;

  add(step: Step): void {
    this.#steps.push(step);
  }

  /** Kills the child (SIGTERM) at teardown if it is still running then. */
  track(child: ChildProcess): void {
    this.add(() => stopChild(child));
  }

  /** Idempotent; never throws (a failing step is reported on stderr and the rest still run). */
  run(): Promise<void> {
    this.#running ??= (async () => {
      for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
        try {
          await step();
        } catch (err) {
          process.stderr.write(`bench: cleanup step failed: ${err instanceof Error ? err.message : String(err)}\n`);
        }
      }
    })();
    return this.#running;
  }

  /** On SIGINT/SIGTERM: clean up, then exit 130/143. */
  exitOnSignals(): void {
    const onSignal = (signal: NodeJS.Signals): void => {
      this.interrupted = true;
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      void this.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

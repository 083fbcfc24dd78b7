// Keeping peak memory flat while chunks stream through. Every chunk leaves about a megabyte of
// dead bytes outside the V8 heap (socket reads, cipher output); V8 frees them only after tens
// of MiB have piled up. A young-generation collection every few chunks costs little CPU and
// keeps a transfer's resident memory from depending on how lazy the collector was.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (opts?: { type: 'minor' | 'major'; flavor?: 'regular' | 'last-resort' }) => void;

let gc: Gc | null | undefined;

/** V8's gc(), reached without a command-line flag (workers take none); null where unavailable. */
function gcFunction(): Gc | null {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as Gc;
    } catch {
      gc = null;
    }
  }
  return gc;
}

/** Calls a young-generation collection once every `every` calls. */
export function collectEvery(every: number): () => void {
  let n = 0;
  return () => {
    if (++n % every === 0) gcFunction()?.({ type: 'minor' });
  };
}

/**
 * A full collection now: after a phase that built and dropped large structures (a folder's walk,
 * index and layout), so that the next phase starts from what is really alive. V8's last-resort
 * flavour also gives the grown heap's pages back, which an ordinary full collection keeps.
 */
export function collectNow(): void {
  gcFunction()?.({ type: 'major', flavor: 'last-resort' });
}

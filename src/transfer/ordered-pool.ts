// Runs fetch(i) for i in [0, count) with at most `concurrency` at once, and hands results
// to consume(i, r) strictly in index order. At most `window` results wait for their turn,
// so memory stays bounded by window × result size whatever `count` is. On the first failure no
// new fetch starts; results already fetched before the failed index are still consumed (work
// done is kept), and the promise rejects once nothing is running — no work is left behind.

export interface OrderedPoolOptions<R> {
  count: number;
  concurrency: number;
  window?: number;
  fetch: (index: number) => Promise<R>;
  consume: (index: number, result: R) => Promise<void> | void;
}

export async function runOrdered<R>(opts: OrderedPoolOptions<R>): Promise<void> {
  const { count, fetch, consume } = opts;
  const concurrency = Math.max(1, opts.concurrency);
  const window = Math.max(concurrency, opts.window ?? concurrency * 2);
  const ready = new Map<number, R>();
  let nextToStart = 0;
  let nextToConsume = 0;
  let running = 0;
  let failed: unknown = null;
  /** Results below this index may still be consumed after a failure. */
  let consumeBelow = Infinity;
  let consuming = false;

  return new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      if (failed === null) failed = err ?? new Error('failed');
    };
    const pump = () => {
      if (failed !== null) {
        if (running === 0 && !consuming) reject(failed);
        return;
      }
      while (running < concurrency && nextToStart < count && nextToStart < nextToConsume + window) {
        const index = nextToStart++;
        running++;
        fetch(index).then((r) => {
          running--;
          ready.set(index, r);
          void drain();
        }, (err: unknown) => {
          running--;
          consumeBelow = Math.min(consumeBelow, index);
          fail(err);
          void drain();
        });
      }
      if (nextToConsume === count && running === 0) resolve();
    };
    const drain = async () => {
      if (consuming) return;
      consuming = true;
      try {
        while (nextToConsume < consumeBelow && ready.has(nextToConsume)) {
          const r = ready.get(nextToConsume) as R;
          ready.delete(nextToConsume);
          await consume(nextToConsume, r);
          nextToConsume++;
        }
      } catch (err) {
        consumeBelow = -1;
        fail(err);
      } finally {
        consuming = false;
      }
      pump();
    };
    pump();
  });
}

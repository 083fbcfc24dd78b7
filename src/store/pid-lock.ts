// One writer per file or folder being assembled: `<path>.lock` holds the writer's pid, created
// exclusively (a link planted there is not followed). A lock whose process is gone is taken over;
// a live one is the caller's "busy" error. Within one process a set answers before any await, so
// two callers here (the inbox and a `get`) cannot both get past it.
import { lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { P2pfxError } from '../core/errors.js';

const lockedHere = new Set<string>();

/** Takes the lock at lockPath; `busy(pid)` makes the error for a live holder. Returns the release. */
export async function acquirePidLock(lockPath: string, busy: (pid: number) => P2pfxError): Promise<() => Promise<void>> {
  if (lockedHere.has(lockPath)) throw busy(process.pid);
  lockedHere.add(lockPath);
  try {
    await takeLockFile(lockPath, busy);
  } catch (err) {
    lockedHere.delete(lockPath);
    throw err;
  }
  return async () => {
    lockedHere.delete(lockPath);
    await rm(lockPath, { force: true });
  };
}

async function takeLockFile(lockPath: string, busy: (pid: number) => P2pfxError): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(dirname(lockPath), { recursive: true }); // another run may just have removed the empty folder
      await writeFile(lockPath, String(process.pid), { flag: 'wx', mode: 0o644 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const info = await lstat(lockPath);
      if (!info.isFile()) {
        throw new P2pfxError('INVALID_ARGUMENT', `${JSON.stringify(lockPath)} is not a lock file of p2pfx: it is not followed`, { hint: 'Remove it, then try again.' });
      }
      const pid = Number(await readFile(lockPath, 'utf8').catch(() => ''));
      // Our own pid without an entry in lockedHere: left by an earlier process that had this pid.
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw busy(pid);
      await rm(lockPath, { force: true }); // left by a process that died
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

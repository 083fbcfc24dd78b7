import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { P2pfxError } from '../core/errors.js';

/** Codes of a full disk or an exceeded quota. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export function noSpaceError(what: string, cause: unknown): P2pfxError {
  return new P2pfxError('INSUFFICIENT_STORAGE', `no space left to write ${what}`, { cause });
}

/**
 * Writes a whole small file under a temporary name in the same folder, then renames it:
 * readers see the old file or the new one, never half of one.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (isNoSpace(err)) throw noSpaceError(path, err);
    throw err;
  }
}

/**
 * Writes a whole file under a name that must not exist yet: written aside, then hard-linked
 * into place, so the name appears whole or not at all. Resolves false if the name was taken.
 */
export async function createExclusive(path: string, data: string | Uint8Array, mode = 0o600): Promise<boolean> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFileAtomic(tmp, data, mode);
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

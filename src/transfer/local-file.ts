import { realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { P2pfxError } from '../core/errors.js';
import { checkFileName } from '../core/manifest.js';

/** The real path of a regular file to send; FILE_NOT_FOUND or NOT_A_FILE otherwise. */
export async function resolveSourceFile(path: string): Promise<{ path: string; size: number; mtimeMs: number }> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new P2pfxError('FILE_NOT_FOUND', `no such file: ${JSON.stringify(shorten(path))}`, { cause: err });
    if (code === 'ENAMETOOLONG') throw new P2pfxError('FILE_NOT_FOUND', `no such file: the path is too long (${JSON.stringify(shorten(path))})`, { cause: err });
    if (code === 'EACCES') throw new P2pfxError('FILE_NOT_FOUND', `cannot read ${path}: permission denied`, { hint: 'Check the file\'s permissions.', cause: err });
    throw err;
  }
  const info = await stat(real);
  if (!info.isFile()) throw new P2pfxError('NOT_A_FILE', `${path} is not a regular file`);
  try {
    checkFileName(basename(real));
  } catch (err) {
    // Refused here, before anything is sent: no receiver would accept the name.
    throw new P2pfxError('INVALID_ARGUMENT', `the name of ${JSON.stringify(path)} has control, bidirectional-override or separator characters, or is too long`, {
      hint: 'Rename the file to a plain name, then send it.', cause: err,
    });
  }
  return { path: real, size: info.size, mtimeMs: info.mtimeMs };
}

function shorten(path: string): string {
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

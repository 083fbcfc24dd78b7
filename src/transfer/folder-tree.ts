// The staging side of receiving a folder (both formats): a private staging folder, the tree built
// in it one mkdir, file or link at a time without following a link, and the one rename that gives
// the finished folder its name.
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { P2pfxError } from '../core/errors.js';
import { escapePath } from '../core/folder-index.js';

const MAX_NAME_SUFFIX = 9999;

/** The staging folder of one folder download. */
export class Staging {
  constructor(readonly root: string) {}

  sub(name: 'index' | 'fetch' | 'files' | 'tree'): string {
    return join(this.root, name);
  }

  /** An empty subfolder: whatever was there before (a link included, never followed) is removed. */
  async fresh(name: 'index' | 'tree'): Promise<string> {
    const path = this.sub(name);
    await rm(path, { recursive: true, force: true });
    await mkdir(path);
    return ownDir(path);
  }
}

/**
 * Makes `path` a folder: created now, or already there as a real folder. A symbolic link (or a
 * file) there is refused, never followed nor replaced: it is not ours.
 */
export async function ownDir(path: string): Promise<string> {
  try {
    await mkdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const info = await lstat(path);
  if (!info.isDirectory()) {
    throw new P2pfxError('INVALID_ARGUMENT', `${escapePath(path)} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}: p2pfx does not write through it`, {
      hint: 'p2pfx keeps unfinished downloads there; remove what is in the way (it was not made by p2pfx), then get again.',
    });
  }
  return path;
}

/**
 * Builds the folder's tree in a fresh staging folder, one mkdir or link at a time. Each folder is
 * made here and its identity (device, inode) noted; before anything goes into a folder, it is
 * checked to still be that very folder — a symbolic link swapped in is never written through.
 * A name that already exists is a collision (a filesystem that ignores case or Unicode form):
 * refused, nothing overwritten.
 */
export class TreeBuilder {
  private readonly made = new Map<string, { dev: number; ino: number }>();

  constructor(readonly root: string) {}

  async start(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
    await mkdir(this.root);
    await this.note('');
  }

  /**
   * Takes over a tree an earlier, interrupted run made (its root must still be a real folder):
   * its folders are then taken as they are, each checked to be a real folder, never a link.
   */
  async adopt(): Promise<void> {
    await ownDir(this.root);
    await this.note('');
    this.adopted = true;
  }

  private adopted = false;

  async dir(rel: string): Promise<void> {
    if (this.made.has(rel)) return;
    if (rel === '') throw swapped(rel);
    const parent = parentOf(rel);
    await this.dir(parent);
    await this.check(parent);
    try {
      await mkdir(this.abs(rel));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!this.adopted) throw collision(rel);
    }
    await this.note(rel);
  }

  async file(rel: string, from: string): Promise<void> {
    const parent = parentOf(rel);
    await this.dir(parent);
    await this.check(parent);
    try {
      await link(from, this.abs(rel));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw collision(rel);
      throw err;
    }
  }

  /**
   * An empty file at `rel` (0600 until its bytes are in), made with O_EXCL: a name already there
   * is a collision, never opened.
   */
  async touch(rel: string): Promise<void> {
    const parent = parentOf(rel);
    await this.dir(parent);
    await this.check(parent);
    try {
      await (await open(this.abs(rel), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)).close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw collision(rel);
      throw err;
    }
  }

  abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, ...rel.split('/'));
  }

  private async note(rel: string): Promise<void> {
    const info = await lstat(this.abs(rel));
    if (!info.isDirectory()) throw swapped(rel);
    this.made.set(rel, { dev: info.dev, ino: info.ino });
  }

  private async check(rel: string): Promise<void> {
    const info = await lstat(this.abs(rel));
    const mine = this.made.get(rel);
    if (!mine || !info.isDirectory() || info.dev !== mine.dev || info.ino !== mine.ino) throw swapped(rel);
  }
}

function parentOf(rel: string): string {
  const at = rel.lastIndexOf('/');
  return at < 0 ? '' : rel.slice(0, at);
}

function collision(rel: string): P2pfxError {
  return new P2pfxError('BAD_MANIFEST', `folder index: ${escapePath(rel)} names the same entry as another of its paths on this filesystem`, {
    hint: 'The folder holds names that differ only in case or Unicode form, which this filesystem does not keep apart; get it onto a case-sensitive filesystem.',
  });
}

function swapped(rel: string): P2pfxError {
  return new P2pfxError('INVALID_ARGUMENT', `the staging folder ${escapePath(rel || '.')} was replaced while the folder was being built; nothing was written through it`, {
    hint: 'Something else writes into the output folder\'s .p2pfx-partial/; stop it, then get again.',
  });
}

/**
 * Moves the finished tree to OUT/NAME, or NAME (1), NAME (2)…: the name is claimed with mkdir
 * (which fails on anything there, a symbolic link included), then the tree is renamed over that
 * empty claim — never over an existing file or folder.
 */
export async function publishDir(tree: string, outDir: string, name: string): Promise<string> {
  for (let n = 0; n <= MAX_NAME_SUFFIX; n++) {
    const candidate = join(outDir, n === 0 ? name : `${name} (${n})`);
    try {
      await mkdir(candidate);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    try {
      await rename(tree, candidate);
      return candidate;
    } catch (err) {
      await rmdir(candidate).catch(() => undefined);
      throw err;
    }
  }
  throw new P2pfxError('INVALID_ARGUMENT', `too many folders named ${escapePath(name)} in ${outDir}`);
}

/** What the receiver's copy held that the sender did not send: kept, never lost. */
export interface LocalChanges { kept: string[]; beside: string[] }

/**
 * Puts the finished tree in the place of the receiver's previous copy of the same folder, at
 * `oldPath`. Files of the old copy that the receiver changed or added since (not as `previous`
 * — the index it was written from — says: size and mtime) are kept: moved into the new tree at
 * their path when the new version has nothing there (`kept`), else beside the new file as
 * `NAME.p2pfx-local` (`beside`). Then the old copy steps aside and the new one takes its name:
 * two renames in the same folder; the old copy is removed only after. Links and special files
 * in the old copy are never followed; they go with it.
 */
export async function replaceTree(tree: TreeBuilder, oldPath: string, previous: ReadonlyMap<string, { size: number; mtimeMs: number }> | null, aside: string): Promise<LocalChanges> {
  const changes: LocalChanges = { kept: [], beside: [] };
  const info = await lstat(oldPath).catch(() => null);
  if (info === null || !info.isDirectory()) throw new P2pfxError('INVALID_ARGUMENT', `${escapePath(oldPath)} is not the folder received before: it is not replaced`);
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(rel === '' ? oldPath : join(oldPath, ...rel.split('/')))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(oldPath, ...path.split('/'));
      const st = await lstat(abs);
      if (st.isDirectory()) {
        await visit(path);
        continue;
      }
      if (!st.isFile()) continue;
      const was = previous?.get(path);
      if (was !== undefined && was.size === st.size && Math.abs(was.mtimeMs - st.mtimeMs) < 1) continue;
      // Changed or added here since it was received.
      const there = await lstat(tree.abs(path)).catch(() => null);
      if (there === null) {
        await tree.dir(parentOf(path)).catch(() => undefined);
        if (await lstat(tree.abs(parentOf(path))).then((p) => p.isDirectory(), () => false)) {
          await rename(abs, tree.abs(path));
          changes.kept.push(path);
        }
      } else if ((await lstat(tree.abs(`${path}.p2pfx-local`)).catch(() => null)) === null) {
        await rename(abs, tree.abs(`${path}.p2pfx-local`));
        changes.beside.push(path);
      }
    }
  };
  await visit('');
  await rename(oldPath, aside);
  try {
    await rename(tree.root, oldPath);
  } catch (err) {
    await rename(aside, oldPath).catch(() => undefined);
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
  return changes;
}

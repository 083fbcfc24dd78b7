// Packed folders (DESIGN "Formats > Folder, packed"): a folder travels as ONE transfer — one key,
// one signed manifest (version 3), one set of envelopes — whose chunks carry the members' bytes
// laid one after another: small files share a chunk (never split across two), a file of a chunk
// or more starts a chunk of its own, so that it stays the same chunks while other files change.
// The index (paths, sizes, modes, mtimes, places) ends the stream from a chunk boundary, sealed
// like everything else. Nothing here touches a disk: the layout, the index and its checks.
import { createHash } from 'node:crypto';
import { validate as generatedValidatePackedIndex } from './generated/packed-index-validate.js';
import { P2pfxError } from './errors.js';
import { checkFolderEntries, escapePath } from './folder-index.js';
import { PACKED_INDEX_VERSION } from './folder-index-schema.js';
import type { CompiledValidator } from './manifest-schema.js';

/** One member file as the sender found it, in path order. */
export interface PackMember { path: string; size: number }

/** `length` bytes of member `member` from its byte `from`, in a chunk's plaintext. */
export interface PackPart { member: number; from: number; length: number }

export interface PackChunk { parts: PackPart[]; length: number }

export interface PackPlace { chunk: number; offset: number }

/** Where every member's bytes go: the chunks of the members' stream, and each member's place (null: empty file). */
export interface FolderLayout { chunks: PackChunk[]; places: Array<PackPlace | null> }

export interface PackedFileEntry { path: string; type: 'file'; size: number; mode: number; mtimeMs: number; chunk?: number; offset?: number }
export interface PackedDirEntry { path: string; type: 'dir' }
export type PackedEntry = PackedFileEntry | PackedDirEntry;
export interface PackedIndex { version: 2; entries: PackedEntry[] }

/**
 * Cuts the members' bytes into chunks of at most `chunkSize`: a file smaller than a chunk goes
 * whole into the current chunk if it fits, else into a new one; a larger file starts a chunk and
 * fills as many as it needs, its tail in a short chunk of its own. Empty files take no bytes.
 */
export function layoutMembers(members: readonly PackMember[], chunkSize: number): FolderLayout {
  const chunks: PackChunk[] = [];
  const places: Array<PackPlace | null> = [];
  let open: PackChunk | null = null;
  const close = () => {
    if (open !== null) chunks.push(open);
    open = null;
  };
  members.forEach((m, member) => {
    if (m.size === 0) {
      places.push(null);
      return;
    }
    if (m.size < chunkSize) {
      if (open !== null && open.length + m.size > chunkSize) close();
      open ??= { parts: [], length: 0 };
      places.push({ chunk: chunks.length, offset: open.length });
      open.parts.push({ member, from: 0, length: m.size });
      open.length += m.size;
      return;
    }
    close();
    places.push({ chunk: chunks.length, offset: 0 });
    for (let from = 0; from < m.size; from += chunkSize) {
      const length = Math.min(chunkSize, m.size - from);
      chunks.push({ parts: [{ member, from, length }], length });
    }
  });
  close();
  return { chunks, places };
}

/** The index as sent: entries sorted by path (a folder unchanged gives the same bytes), each with only its own fields. */
export function packedIndex(entries: readonly PackedEntry[]): PackedIndex {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    version: PACKED_INDEX_VERSION,
    entries: sorted.map((e): PackedEntry => (e.type === 'dir'
      ? { path: e.path, type: 'dir' }
      : { path: e.path, type: 'file', size: e.size, mode: e.mode, mtimeMs: e.mtimeMs, ...(e.chunk === undefined ? {} : { chunk: e.chunk, offset: e.offset! }) })),
  };
}

export function encodePackedIndex(entries: readonly PackedEntry[]): string {
  return JSON.stringify(packedIndex(entries));
}

const validateShape = generatedValidatePackedIndex as CompiledValidator;

/**
 * Checks an untrusted packed index against the chunks it came with (`plainSizes`: the plaintext
 * bytes of each of the manifest's chunks, in order; `memberChunks`: how many of them carry
 * members, the rest being the index): every path (as for any folder), and every file's bytes
 * lying inside the members' chunks. Throws BAD_MANIFEST naming the first entry that is wrong.
 */
export function parsePackedIndex(input: unknown, plainSizes: readonly number[], memberChunks: number): PackedIndex {
  if (!validateShape(input)) {
    const first = validateShape.errors?.[0];
    const where = first ? `${first.instancePath || '/'} ${first.message ?? ''}`.trim() : 'unknown';
    throw badIndex(`does not match format v2: ${where}`);
  }
  const index = input as unknown as PackedIndex;
  checkFolderEntries(index.entries, badIndex);
  const starts = streamStarts(plainSizes);
  const membersEnd = starts[memberChunks]!;
  for (const e of index.entries) {
    if (e.type !== 'file') continue;
    const where = escapePath(e.path);
    if ((e.chunk === undefined) !== (e.offset === undefined)) throw badIndex(`${where} has a chunk without an offset, or an offset without a chunk`);
    if (e.chunk === undefined) {
      if (e.size !== 0) throw badIndex(`${where} holds ${e.size} bytes but has no place in the chunks`);
      continue;
    }
    if (e.chunk >= memberChunks || e.offset! >= plainSizes[e.chunk]!) throw badIndex(`${where} starts outside the folder's chunks`);
    if (e.size === 0) throw badIndex(`${where} is empty yet has a place in the chunks`);
    if (starts[e.chunk]! + e.offset! + e.size > membersEnd) throw badIndex(`${where} runs past the end of the folder's chunks`);
  }
  return index;
}

/** The stream offset where each chunk starts, and one more entry: the stream's length. */
export function streamStarts(plainSizes: readonly number[]): number[] {
  const starts = [0];
  for (const size of plainSizes) starts.push(starts.at(-1)! + size);
  return starts;
}

/** The pieces of chunk `chunk` (plaintext `length` bytes) that belong to files, as [file entry, byte of the file, byte of the chunk, length]. */
export interface ScatterPiece { entry: number; fileOffset: number; chunkOffset: number; length: number }

/**
 * For a receiver: the files' pieces in each member chunk, from an index already checked. Chunk
 * `c`'s pieces are `plan[c]`; a file's pieces come in order, its first one at its place.
 */
export function scatterPlan(index: PackedIndex, plainSizes: readonly number[], memberChunks: number): ScatterPiece[][] {
  const starts = streamStarts(plainSizes);
  const plan: ScatterPiece[][] = Array.from({ length: memberChunks }, () => []);
  index.entries.forEach((e, entry) => {
    if (e.type !== 'file' || e.chunk === undefined) return;
    let at = starts[e.chunk]! + e.offset!;
    let done = 0;
    let chunk = e.chunk;
    while (done < e.size) {
      while (at >= starts[chunk + 1]!) chunk++;
      const chunkOffset = at - starts[chunk]!;
      const length = Math.min(e.size - done, plainSizes[chunk]! - chunkOffset);
      plan[chunk]!.push({ entry, fileOffset: done, chunkOffset, length });
      done += length;
      at += length;
    }
  });
  return plan;
}

function badIndex(message: string): P2pfxError {
  return new P2pfxError('BAD_MANIFEST', `folder index: ${message}`);
}

/** A chunk of an earlier layout of the same folder, as the sender recorded it. */
export interface LaidChunk { index: number; length: number; parts: Array<{ path: string; from: number; length: number }> }

/** The layout of a folder's members, each chunk under its nonce index. */
export interface IndexedLayout { chunks: Array<PackChunk & { index: number }>; places: Array<PackPlace | null> }

/**
 * Lays the members out again, keeping every chunk of `previous` whose files are all unchanged
 * (`same(path)`) — same bytes, same index, so the same blob the peer already holds — and packing
 * the others (new, changed, or sharing a chunk with a changed or removed file) into new chunks
 * under fresh indexes from `nextIndex`. Without a previous layout, this is `layoutMembers`.
 */
export function relayoutMembers(members: readonly PackMember[], chunkSize: number, previous: readonly LaidChunk[], same: (path: string) => boolean, nextIndex: number): IndexedLayout {
  const byPath = new Map(members.map((m, i) => [m.path, i]));
  const places: Array<PackPlace | null> = members.map(() => null);
  const placed = new Set<number>();
  const chunks: Array<PackChunk & { index: number }> = [];
  next: for (const c of previous) {
    const parts: PackPart[] = [];
    for (const p of c.parts) {
      const member = byPath.get(p.path);
      if (member === undefined || !same(p.path) || members[member]!.size < p.from + p.length) continue next;
      parts.push({ member, from: p.from, length: p.length });
    }
    let offset = 0;
    for (const p of parts) {
      if (p.from === 0) places[p.member] = { chunk: chunks.length, offset };
      placed.add(p.member);
      offset += p.length;
    }
    chunks.push({ index: c.index, length: c.length, parts });
  }
  // A file is kept only when all its bytes are: a large one whose chunks are not all here is laid again.
  const covered = new Map<number, number>();
  for (const c of chunks) for (const p of c.parts) covered.set(p.member, (covered.get(p.member) ?? 0) + p.length);
  const rest: number[] = [];
  members.forEach((m, i) => {
    if (m.size > 0 && (!placed.has(i) || covered.get(i) !== m.size)) rest.push(i);
  });
  if (rest.some((i) => placed.has(i))) {
    // Rare (a layout recorded by another build): start over rather than keep half a file.
    return relayoutMembers(members, chunkSize, [], () => false, nextIndex);
  }
  const fresh = layoutMembers(rest.map((i) => members[i]!), chunkSize);
  const base = chunks.length;
  for (const c of fresh.chunks) chunks.push({ index: nextIndex++, length: c.length, parts: c.parts.map((p) => ({ ...p, member: rest[p.member]! })) });
  fresh.places.forEach((p, k) => {
    if (p !== null) places[rest[k]!] = { chunk: base + p.chunk, offset: p.offset };
  });
  return { chunks, places };
}

/**
 * Which version of a packed folder a manifest is: the SHA-256 of its ordered chunk ids. A folder
 * sent again keeps its file id; a receiver tells versions apart by this tag.
 */
export function versionTag(chunks: ReadonlyArray<{ id: string }>): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c.id);
  return h.digest('hex');
}

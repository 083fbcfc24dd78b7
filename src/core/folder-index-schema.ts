// The JSON schema of a folder index (DESIGN "Formats > Folder"), as data: core/folder-index.ts
// checks indexes with a validator compiled from it ahead of time (scripts/gen-validators.ts).

export const FOLDER_INDEX_VERSION = 1;
/** Files and directories of one folder, together. */
export const MAX_FOLDER_ENTRIES = 100_000;
/** UTF-8 bytes of one path inside the folder (Linux's PATH_MAX). */
export const MAX_FOLDER_PATH_BYTES = 4096;

/**
 * A folder index of `version`: its entries, directories (a path) and files (a path and the fields
 * `file` lists, `required` of them always there); nothing else anywhere.
 */
function indexSchema(version: number, required: readonly string[], file: Record<string, object>) {
  return {
    $id: `p2pfx/folder-index/${version}`,
    type: 'object',
    additionalProperties: false,
    required: ['version', 'entries'],
    properties: {
      version: { const: version },
      entries: {
        type: 'array',
        maxItems: MAX_FOLDER_ENTRIES,
        items: {
          type: 'object',
          required: ['path', 'type'],
          properties: { path: { type: 'string', maxLength: MAX_FOLDER_PATH_BYTES }, type: { enum: ['file', 'dir'] } },
          if: { properties: { type: { const: 'file' } } },
          then: { additionalProperties: false, required: ['path', 'type', ...required], properties: { path: true, type: true, ...file } },
          else: { additionalProperties: false, properties: { path: true, type: true } },
        },
      },
    },
  } as const;
}

const size = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

/** Version 1: each file a file of its own, named by its file id, with its SHA-256. */
export const folderIndexSchema = indexSchema(FOLDER_INDEX_VERSION, ['fileId', 'size', 'sha256'], {
  fileId: { type: 'string', pattern: '^[0-9a-f]{32}$' },
  size,
  sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
});

/** Folder index version 2: the index of a packed folder (core/folder-pack.ts). */
export const PACKED_INDEX_VERSION = 2;

/**
 * A packed folder's index: each file's size, permission bits, mtime and place in the folder's
 * stream of chunks (`chunk`: position in the manifest's list, `offset`: byte in that chunk's
 * plaintext; absent for an empty file). Its bytes follow one another from there, across chunks.
 */
export const packedIndexSchema = indexSchema(PACKED_INDEX_VERSION, ['size', 'mode', 'mtimeMs'], {
  size,
  mode: { type: 'integer', minimum: 0, maximum: 0o7777 },
  mtimeMs: { type: 'number', minimum: 0, maximum: 1e15 },
  chunk: { type: 'integer', minimum: 0, maximum: 0xfffffffe },
  offset: { type: 'integer', minimum: 0, maximum: 0xffffffff },
});

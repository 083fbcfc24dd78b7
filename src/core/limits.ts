// Sizes and limits, with their units in the name. Change them here only.

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Default plaintext bytes per chunk (the original's 1 MiB). */
export const DEFAULT_CHUNK_BYTES = 1 * MiB;
/** Smallest accepted --chunk-size: below this, per-chunk overhead dominates. */
export const MIN_CHUNK_BYTES = 4 * KiB;
/** Largest accepted --chunk-size (plaintext); blobs add BLOB_OVERHEAD_BYTES. */
export const MAX_CHUNK_BYTES = 16 * MiB;
/**
 * Bytes handed to one AES-GCM update() call. Node allocates a fresh output buffer per call; at
 * 128 KiB and more glibc serves it with fresh mmap'd pages (a page fault per 4 KiB, zeroed),
 * which cost more than the cipher. Small slices come from the heap and are reused (see DESIGN
 * "Performance": measured 8–64 KiB, kept the best).
 */
export const CIPHER_SLICE_BYTES = 16 * KiB;
/** Format byte + nonce + GCM tag. */
export const BLOB_OVERHEAD_BYTES = 1 + 12 + 16;
/** Hard cap on a chunk body any peer may send us. */
export const MAX_BLOB_BYTES = MAX_CHUNK_BYTES + BLOB_OVERHEAD_BYTES;
/** Chunk indices are uint32 in the nonce. */
export const MAX_CHUNKS_PER_FILE = 0xffff_ffff;
/** Cap on a manifest body: 1 TiB of 1 MiB chunks is ~110 MiB of JSON, so large files need large chunks. */
export const MAX_MANIFEST_BYTES = 64 * MiB;
/** Ids per `missing` request. */
export const MAX_MISSING_IDS = 16384;
/** Chunks a fetcher may ask for on a bulk stream before they are served; past it the node stops reading asks until it catches up. */
export const MAX_PENDING_FETCHES = 1024;
/** Page size cap for listings. */
export const MAX_PAGE = 10000;
/** Default API port, as in the original. */
export const DEFAULT_PORT = 8443;
/** Cap on a CRL a peer sends or serves: ~40 bytes per revoked certificate. */
export const MAX_CRL_BYTES = 1024 * 1024;

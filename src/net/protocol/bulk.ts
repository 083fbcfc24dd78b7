// The bulk streams' protocol (DESIGN "Bulk streams"): where a stream is asked for, and the frames
// that flow both ways over the upgraded mutual-TLS connection, every message one frame
//   id (32 bytes) ‖ length (uint32 BE) ‖ length bytes
// - a chunk: id = the SHA-256 it is named by, length 29…cap, the blob;
// - an empty frame (length 0): "landed" from a receiver of uploads, "send me this" from a fetcher;
// - an absent frame (length ABSENT, no bytes): "not held here", in answer to a fetch;
// - an end frame: id all zeros, length 0: "nothing more from me" (TLS sockets do not half-close
//   reliably, so the end is said in the stream);
// - an error frame: id all zeros, a JSON body {error: {code, message}} (≤ 64 KiB); the stream
//   ends after it.
// The parser below is the only parser of this format, on both sides: it checks every header
// before any byte of its body is used, allows only the kinds the direction may carry, hands a body
// on as it streams (never more than the frame's length), and names what is wrong with a stable code.
import { P2pfxError } from '../../core/errors.js';
import { BLOB_OVERHEAD_BYTES } from '../../core/limits.js';

/** The Upgrade token of a bulk stream, and where it is asked for (GET, ?mode=upload|fetch). */
export const FRAMES_PROTOCOL = 'p2pfx-frames/1';
export const BULK_STREAM_PATH = '/v1/chunks/stream';
export const BULK_MODES = ['upload', 'fetch'] as const;
export type BulkMode = (typeof BULK_MODES)[number];
/** The query of a bulk stream's request. */
export const bulkQuery = { type: 'object', required: ['mode'], additionalProperties: false, properties: { mode: { type: 'string', enum: [...BULK_MODES] } } } as const;
export const FRAME_ID_BYTES = 32;
export const FRAME_HEADER_BYTES = FRAME_ID_BYTES + 4;
/** Length of a frame that answers "not held here" (fetch answers only): no blob follows. */
export const FRAME_ABSENT = 0xffff_ffff;
/** The id of an end or error frame. */
export const ERROR_FRAME_ID = '0'.repeat(2 * FRAME_ID_BYTES);
/** The whole end frame. */
export const END_FRAME: Buffer = Buffer.alloc(FRAME_HEADER_BYTES);
/** Most bytes an error frame's JSON may have. */
export const MAX_ERROR_FRAME_BYTES = 64 * 1024;

export type FrameKind = 'chunk' | 'empty' | 'absent' | 'end' | 'error';

export interface FrameHead {
  kind: FrameKind;
  /** Lowercase hex of the 32 id bytes. */
  id: string;
  /** Bytes that follow (0 for empty and absent frames). */
  length: number;
}

export interface FrameLimits {
  /** Largest blob a chunk frame may carry (CHUNK_TOO_LARGE past it). */
  maxBlobBytes: number;
  /** The kinds this direction may carry; any other is BAD_REQUEST. */
  kinds: readonly FrameKind[];
}

/** The 36 header bytes of a frame (`length` null: an absent frame). */
export function frameHeader(id: string, length: number | null): Buffer {
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  if (!/^[0-9a-f]{64}$/.test(id)) throw new RangeError(`not a chunk id: ${id}`);
  head.write(id, 0, FRAME_ID_BYTES, 'hex');
  head.writeUInt32BE(length ?? FRAME_ABSENT, FRAME_ID_BYTES);
  return head;
}

/** A whole error frame: the stream's last words, in the API's error shape. */
export function errorFrame(code: string, message: string): Buffer {
  let body = Buffer.from(JSON.stringify({ error: { code, message } }));
  if (body.length > MAX_ERROR_FRAME_BYTES) body = Buffer.from(JSON.stringify({ error: { code, message: message.slice(0, 1000) } }));
  return Buffer.concat([frameHeader(ERROR_FRAME_ID, body.length), body]);
}

/** What a FrameParser calls as a stream is parsed. */
export interface FrameSink {
  /** A frame's header, checked; its body follows (none for an absent chunk). */
  head(frame: FrameHead): void;
  /** A piece of the current frame's body (a view into the pushed bytes: copy or use it now). */
  body(piece: Buffer): void;
  /** The current frame's last body byte (or its header, for an absent chunk) was pushed. */
  done(): void;
}

/**
 * Parses frames pushed to it piece by piece (socket reads), synchronously: no promise or stream
 * per piece. Throws P2pfxError from push()/end(): BAD_REQUEST for a stream cut inside a frame, a
 * frame of a kind this direction may not carry, a chunk frame too short to be a chunk, an error
 * frame too long; CHUNK_TOO_LARGE past the blob limit. `what` names the stream in messages.
 * After a throw the parser is spent.
 */
const KIND_WORDS: Record<FrameKind, string> = {
  chunk: 'a chunk', empty: 'an empty frame', absent: 'an "absent" answer', end: 'an end', error: 'an error',
};

export class FrameParser {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerBytes = 0;
  /** Body bytes of the current frame still to come; -1 between frames. */
  private remaining = -1;
  private frames = 0;

  constructor(private readonly limits: FrameLimits, private readonly sink: FrameSink, private readonly what = 'the frame stream') {}

  /** Frames whose header was read. */
  get count(): number {
    return this.frames;
  }

  push(piece: Buffer): void {
    let at = 0;
    while (at < piece.length) {
      if (this.remaining < 0) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerBytes, piece.length - at);
        piece.copy(this.header, this.headerBytes, at, at + n);
        this.headerBytes += n;
        at += n;
        if (this.headerBytes === FRAME_HEADER_BYTES) this.startFrame();
        continue;
      }
      const n = Math.min(this.remaining, piece.length - at);
      this.remaining -= n;
      this.sink.body(piece.subarray(at, at + n));
      at += n;
      if (this.remaining === 0) this.endFrame();
    }
  }

  /** The stream ended: it must end between frames. */
  end(): void {
    if (this.headerBytes > 0) throw new P2pfxError('BAD_REQUEST', `${this.what} ended inside the header of frame ${this.frames + 1} (${this.headerBytes} of ${FRAME_HEADER_BYTES} bytes)`);
    if (this.remaining > 0) throw new P2pfxError('BAD_REQUEST', `${this.what} ended inside the body of frame ${this.frames} (${this.remaining} bytes missing)`);
  }

  private startFrame(): void {
    const id = this.header.toString('hex', 0, FRAME_ID_BYTES);
    const raw = this.header.readUInt32BE(FRAME_ID_BYTES);
    this.headerBytes = 0;
    this.frames++;
    const kind: FrameKind = id === ERROR_FRAME_ID ? (raw === 0 ? 'end' : 'error') : raw === FRAME_ABSENT ? 'absent' : raw === 0 ? 'empty' : 'chunk';
    if (!this.limits.kinds.includes(kind)) throw new P2pfxError('BAD_REQUEST', `frame ${this.frames} of ${this.what} is ${KIND_WORDS[kind]}, which this stream may not carry`);
    if (kind === 'error' && raw > MAX_ERROR_FRAME_BYTES) throw new P2pfxError('BAD_REQUEST', `frame ${this.frames} of ${this.what} is an error of ${raw} bytes; the cap is ${MAX_ERROR_FRAME_BYTES}`);
    if (kind === 'chunk') {
      if (raw > this.limits.maxBlobBytes) throw new P2pfxError('CHUNK_TOO_LARGE', `frame ${this.frames} of ${this.what} declares ${raw} bytes for chunk ${id}; the cap is ${this.limits.maxBlobBytes}`);
      if (raw < BLOB_OVERHEAD_BYTES) throw new P2pfxError('BAD_REQUEST', `frame ${this.frames} of ${this.what} declares ${raw} bytes for chunk ${id}; a chunk is at least ${BLOB_OVERHEAD_BYTES}`);
    }
    const length = kind === 'chunk' || kind === 'error' ? raw : 0;
    this.sink.head({ kind, id, length });
    if (length === 0) {
      this.sink.done();
      return;
    }
    this.remaining = length;
  }

  private endFrame(): void {
    this.remaining = -1;
    this.sink.done();
  }
}

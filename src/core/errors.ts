// The one error type of p2pfx. Codes are a contract with users, scripts and peers:
// each is listed in docs/errors.md (a test keeps the two in step) and never renamed.

/**
 * What an error means, whoever raised it: every rule about what to do after a failure derives
 * from this (the rules are below), never from lists of codes.
 * - usage: the command as typed (a flag, an id, a name that matches several files);
 * - local: this machine (its files, its home, its runtime; a cancel);
 * - capacity: a limit reached, the disk or a quota, of whichever node says so;
 * - transport: the peer could not be reached, went silent, or broke the protocol;
 * - absent: the peer is fine but does not hold what was asked;
 * - trust: who someone is, or what they may open (certificates, revocation, invites, keys);
 * - integrity: bytes that are not what they claim (hash, seal, signature, size);
 * - internal: a bug in p2pfx.
 */
export type ErrorClass = 'usage' | 'local' | 'capacity' | 'transport' | 'absent' | 'trust' | 'integrity' | 'internal';

export interface ErrorSpec {
  /** HTTP status when the error crosses the API; CLI-only errors use 400/500 nominally. */
  status: number;
  kind: ErrorClass;
  /** What the user can do about it; printed under the message. */
  hint: string;
}

export const ERROR_CODES = {
  // usage and local input
  INVALID_ARGUMENT: { status: 400, kind: 'usage', hint: 'Run the command with --help to see what it accepts.' },
  FILE_NOT_FOUND: { status: 404, kind: 'local', hint: 'Check the path; it is read relative to the current directory.' },
  FILE_CHANGED: { status: 409, kind: 'local', hint: 'The file changed while it was being read; send it again once it is no longer being written.' },
  NOT_A_FILE: { status: 400, kind: 'local', hint: 'Give the path of a regular file.' },
  // certificates and trust
  CERTS_MISSING: { status: 500, kind: 'local', hint: 'Pass --home DIR if your node lives elsewhere; join a network with `p2pfx join HOST CODE`; or start a new network here with `p2pfx certs`.' },
  CERTS_EXIST: { status: 409, kind: 'local', hint: 'Certificates are already there; pass --force to replace them (every peer will need the new CA).' },
  CA_KEY_MISSING: { status: 500, kind: 'local', hint: 'Only the machine that ran `p2pfx certs` holds the CA key; run this there.' },
  CERT_INVALID: { status: 400, kind: 'local', hint: 'The certificate files are unreadable or do not belong together; make them again with `p2pfx certs`.' },
  CERT_REJECTED: { status: 403, kind: 'trust', hint: 'Both nodes need certificates signed by the same network CA (certs/ca-cert.pem).' },
  CERT_REVOKED: { status: 403, kind: 'trust', hint: 'The network CA revoked this certificate; ask its owner for a new one (`p2pfx invite` there, then `p2pfx join` here).' },
  CERT_NOT_FOUND: { status: 404, kind: 'usage', hint: 'List the certificates this CA issued with `p2pfx certs list`.' },
  CRL_INVALID: { status: 400, kind: 'trust', hint: 'The revocation list is not signed by this network\'s CA, is malformed, or is out of date; it was not taken. On a node, get the current one from the CA machine (or any peer holding it).' },
  // joining a network
  INVITE_CODE_INVALID: { status: 400, kind: 'usage', hint: 'Type the code exactly as `p2pfx invite` printed it (letters and digits; dashes are optional).' },
  INVITE_REFUSED: { status: 403, kind: 'trust', hint: 'That code is not an open invite of this CA: check the code and the address, or ask for a new one with `p2pfx invite`.' },
  INVITE_EXPIRED: { status: 410, kind: 'trust', hint: 'Invites last 10 minutes by default; ask for a new one with `p2pfx invite`.' },
  INVITE_USED: { status: 410, kind: 'trust', hint: 'Each invite works once; ask for a new one with `p2pfx invite`.' },
  JOIN_UNVERIFIED: { status: 502, kind: 'trust', hint: 'The machine that answered did not prove it knows the code: it is not the CA that made the invite (wrong address, or someone in between). Nothing was saved.' },
  JOIN_RATE_LIMITED: { status: 429, kind: 'capacity', hint: 'Too many wrong codes were tried from this machine recently; check the code and try again in a minute.' },
  RATE_LIMITED: { status: 429, kind: 'capacity', hint: 'This machine sent too many requests to the listener in the last minute; wait a minute and try again.' },
  // network
  PORT_IN_USE: { status: 500, kind: 'local', hint: 'Another program (maybe another `p2pfx serve`) uses that port; stop it or pick another with --port.' },
  PEER_UNREACHABLE: { status: 502, kind: 'transport', hint: 'Check that `p2pfx serve` runs on the peer, the address and port, and that the firewall lets the port through.' },
  PEER_TIMEOUT: { status: 504, kind: 'transport', hint: 'The peer did not answer in time; check that it is up and that the network is not dropping packets.' },
  PEER_ERROR: { status: 502, kind: 'transport', hint: 'The peer answered with an error it did not explain; look at its log.' },
  PEER_MISMATCH: { status: 502, kind: 'trust', hint: 'Another node now answers at that address (addresses move on a LAN): find the peer again with `p2pfx peers discover`, or add its new address with `p2pfx peers add`.' },
  INVALID_PEER: { status: 400, kind: 'usage', hint: 'Write the peer as HOST or HOST:PORT, e.g. 192.168.1.20:8443.' },
  // keys and passwords
  PASSWORD_REQUIRED: { status: 401, kind: 'usage', hint: 'This file is protected by a password: pass --password or answer the prompt.' },
  WRONG_PASSWORD: { status: 401, kind: 'trust', hint: 'Use the password the sender used for this file.' },
  NO_KEY: { status: 403, kind: 'trust', hint: 'This node holds no key for the file: ask the sender to send it to this node, or use its password.' },
  DECRYPT_FAILED: { status: 422, kind: 'integrity', hint: 'The chunk is authentic to its id but does not open with this file\'s key and place: the manifest and chunks do not belong together.' },
  // chunks, manifests, files
  INVALID_ID: { status: 400, kind: 'usage', hint: 'Chunk ids are 64 lowercase hex digits; file ids 32.' },
  HASH_MISMATCH: { status: 400, kind: 'integrity', hint: 'The bytes do not match their SHA-256 id: the chunk was corrupted on the way or on the peer\'s disk.' },
  CHUNK_NOT_FOUND: { status: 404, kind: 'absent', hint: 'The peer does not hold this chunk: send the file to it again.' },
  CHUNK_TOO_LARGE: { status: 413, kind: 'integrity', hint: 'Chunks are capped; use a smaller --chunk-size.' },
  INSUFFICIENT_STORAGE: { status: 507, kind: 'capacity', hint: 'The node that writes is full (its disk, or its own limit set by `serve --max-store`): free room there (`p2pfx prune`, `p2pfx rm`, or disk space), or raise its limit.' },
  MANIFEST_NOT_FOUND: { status: 404, kind: 'absent', hint: 'List what the peer holds with `p2pfx files --peer …`.' },
  TRANSFER_BUSY: { status: 409, kind: 'local', hint: 'Another p2pfx process (or this node\'s own server) is writing the same file into that folder; wait for it to finish, or stop it.' },
  DOWNLOADS_UNUSABLE: { status: 500, kind: 'local', hint: 'Give a folder this user can write: `p2pfx config downloads DIR` (or `serve --downloads DIR`, or $P2PFX_DOWNLOADS) for files sent to this node, `--out DIR` (or another current folder) for `get`.' },
  AMBIGUOUS_NAME: { status: 409, kind: 'usage', hint: 'Several files have that name; use one of the ids listed.' },
  BAD_MANIFEST: { status: 400, kind: 'integrity', hint: 'The manifest is malformed, tampered with, or not signed by a node of this network.' },
  FILE_CORRUPT: { status: 422, kind: 'integrity', hint: 'The reassembled file does not match the size or SHA-256 recorded by the sender; nothing was kept.' },
  PAYLOAD_TOO_LARGE: { status: 413, kind: 'capacity', hint: 'The request body is over the node\'s limit for this route.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, kind: 'transport', hint: 'Chunks are sent as application/octet-stream, manifests as application/json.' },
  REQUEST_TIMEOUT: { status: 408, kind: 'transport', hint: 'The request (headers and body) did not arrive within the node\'s time limit; the connection was closed.' },
  BAD_REQUEST: { status: 400, kind: 'transport', hint: 'The request does not match the API; see /docs on the node.' },
  UPGRADE_REQUIRED: { status: 426, kind: 'transport', hint: 'Bulk streams are an HTTP/1.1 upgrade to p2pfx-frames/1; see /docs on the node.' },
  NOT_FOUND: { status: 404, kind: 'transport', hint: 'No such route; see /docs on the node.' },
  CANCELLED: { status: 409, kind: 'local', hint: 'The transfer was cancelled; retry it to go on (what was done is kept).' },
  UNSUPPORTED_RUNTIME: { status: 500, kind: 'local', hint: 'Install Node.js 24 LTS (https://nodejs.org), or use the single executable (npm run build:exe), which needs no Node.js.' },
  SERVICE_NOT_INSTALLED: { status: 404, kind: 'local', hint: 'Install it with `p2pfx service install` (for the same --home).' },
  UI_TOKEN_REQUIRED: { status: 401, kind: 'trust', hint: 'Open the UI with the URL `p2pfx ui` printed: it carries the token.' },
  UI_HOST_REFUSED: { status: 403, kind: 'trust', hint: 'The UI answers only to http://127.0.0.1:PORT or http://localhost:PORT (a page of another site may not use it).' },
  INTERNAL: { status: 500, kind: 'internal', hint: 'This is a bug in p2pfx; run again with --debug and report the stack.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

export class P2pfxError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'P2pfxError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.hint = options.hint ?? ERROR_CODES[code].hint;
  }

  /** The wire shape of every API error. */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** The class of anything thrown (anything not ours is internal). */
export function errorClass(err: unknown): ErrorClass {
  return err instanceof P2pfxError ? ERROR_CODES[err.code].kind : 'internal';
}

/**
 * Whether what a download already wrote and checked is kept for the next run: always, except
 * when the data itself proved wrong (an integrity failure) — files and folders alike.
 */
export function keepsPartial(err: unknown): boolean {
  return errorClass(err) !== 'integrity';
}

/** Whether a swarm stops asking that peer for anything: it cannot be reached, or not trusted. */
export function peerIsDown(err: unknown): boolean {
  const kind = errorClass(err);
  return kind === 'transport' || kind === 'trust';
}

/**
 * Whether a send to several peers stops at once: what is wrong is the command or this machine,
 * the same for every peer. Any other failure is that peer's, and the others still get the file.
 */
export function failsEveryPeer(err: unknown): boolean {
  const kind = errorClass(err);
  return kind === 'usage' || kind === 'local';
}

/** Anything thrown, as a P2pfxError: ours pass through, the rest become INTERNAL. */
export function toP2pfxError(err: unknown): P2pfxError {
  if (err instanceof P2pfxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new P2pfxError('INTERNAL', message, { cause: err });
}

// The one error type of p2pfx. Codes are a contract with users, scripts and peers:
// each is listed in docs/errors.md (a test keeps the two in step) and never renamed.

export interface ErrorSpec {
  /** HTTP status when the error crosses the API; CLI-only errors use 400/500 nominally. */
  status: number;
  /** What the user can do about it; printed under the message. */
  hint: string;
}

export const ERROR_CODES = {
  // usage and local input
  INVALID_ARGUMENT: { status: 400, hint: 'Run the command with --help to see what it accepts.' },
  FILE_NOT_FOUND: { status: 404, hint: 'Check the path; it is read relative to the current directory.' },
  FILE_CHANGED: { status: 409, hint: 'The file changed while it was being read; send it again once it is no longer being written.' },
  NOT_A_FILE: { status: 400, hint: 'Give the path of a regular file.' },
  // certificates and trust
  CERTS_MISSING: { status: 500, hint: 'Create them with `p2pfx certs` (CA machine) or copy a bundle made by `p2pfx certs issue NAME` into certs/.' },
  CERTS_EXIST: { status: 409, hint: 'Certificates are already there; pass --force to replace them (every peer will need the new CA).' },
  CA_KEY_MISSING: { status: 500, hint: 'Only the machine that ran `p2pfx certs` holds the CA key; run this there.' },
  CERT_INVALID: { status: 400, hint: 'The certificate files are unreadable or do not belong together; make them again with `p2pfx certs`.' },
  CERT_REJECTED: { status: 403, hint: 'Both nodes need certificates signed by the same network CA (certs/ca-cert.pem).' },
  CERT_REVOKED: { status: 403, hint: 'The network CA revoked this certificate; ask its owner for a new one (`p2pfx invite` there, then `p2pfx join` here).' },
  CERT_NOT_FOUND: { status: 404, hint: 'List the certificates this CA issued with `p2pfx certs list`.' },
  CRL_INVALID: { status: 400, hint: 'The revocation list is not signed by this network\'s CA, is malformed, or is out of date; it was not taken. On a node, get the current one from the CA machine (or any peer holding it).' },
  // joining a network
  INVITE_CODE_INVALID: { status: 400, hint: 'Type the code exactly as `p2pfx invite` printed it (letters and digits; dashes are optional).' },
  INVITE_REFUSED: { status: 403, hint: 'That code is not an open invite of this CA: check the code and the address, or ask for a new one with `p2pfx invite`.' },
  INVITE_EXPIRED: { status: 410, hint: 'Invites last 10 minutes by default; ask for a new one with `p2pfx invite`.' },
  INVITE_USED: { status: 410, hint: 'Each invite works once; ask for a new one with `p2pfx invite`.' },
  JOIN_UNVERIFIED: { status: 502, hint: 'The machine that answered did not prove it knows the code: it is not the CA that made the invite (wrong address, or someone in between). Nothing was saved.' },
  JOIN_RATE_LIMITED: { status: 429, hint: 'Too many wrong codes were tried on this CA recently; wait a minute and try again.' },
  // network
  PORT_IN_USE: { status: 500, hint: 'Another program (maybe another `p2pfx serve`) uses that port; stop it or pick another with --port.' },
  PEER_UNREACHABLE: { status: 502, hint: 'Check that `p2pfx serve` runs on the peer, the address and port, and that the firewall lets the port through.' },
  PEER_TIMEOUT: { status: 504, hint: 'The peer did not answer in time; check that it is up and that the network is not dropping packets.' },
  PEER_ERROR: { status: 502, hint: 'The peer answered with an error it did not explain; look at its log.' },
  PEER_MISMATCH: { status: 502, hint: 'Another node now answers at that address (addresses move on a LAN): find the peer again with `p2pfx peers discover`, or add its new address with `p2pfx peers add`.' },
  INVALID_PEER: { status: 400, hint: 'Write the peer as HOST or HOST:PORT, e.g. 192.168.1.20:8443.' },
  // keys and passwords
  PASSWORD_REQUIRED: { status: 401, hint: 'This file is protected by a password: pass --password or answer the prompt.' },
  WRONG_PASSWORD: { status: 401, hint: 'Use the password the sender used for this file.' },
  NO_KEY: { status: 403, hint: 'This node holds no key for the file: ask the sender to send it to this node, or use its password.' },
  DECRYPT_FAILED: { status: 422, hint: 'The chunk is authentic to its id but does not open with this file\'s key and place: the manifest and chunks do not belong together.' },
  // chunks, manifests, files
  INVALID_ID: { status: 400, hint: 'Chunk ids are 64 lowercase hex digits; file ids 32.' },
  HASH_MISMATCH: { status: 400, hint: 'The bytes do not match their SHA-256 id: the chunk was corrupted on the way or on the peer\'s disk.' },
  CHUNK_NOT_FOUND: { status: 404, hint: 'The peer does not hold this chunk: send the file to it again.' },
  CHUNK_TOO_LARGE: { status: 413, hint: 'Chunks are capped; use a smaller --chunk-size.' },
  INSUFFICIENT_STORAGE: { status: 507, hint: 'Free disk space on the receiving node.' },
  MANIFEST_NOT_FOUND: { status: 404, hint: 'List what the peer holds with `p2pfx files --peer …`.' },
  TRANSFER_BUSY: { status: 409, hint: 'Another p2pfx process (or this node\'s own server) is writing the same file into that folder; wait for it to finish, or stop it.' },
  AMBIGUOUS_NAME: { status: 409, hint: 'Several files have that name; use one of the ids listed.' },
  BAD_MANIFEST: { status: 400, hint: 'The manifest is malformed, tampered with, or not signed by a node of this network.' },
  FILE_CORRUPT: { status: 422, hint: 'The reassembled file does not match the size or SHA-256 recorded by the sender; nothing was kept.' },
  PAYLOAD_TOO_LARGE: { status: 413, hint: 'The request body is over the node\'s limit for this route.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, hint: 'Chunks are sent as application/octet-stream, manifests as application/json.' },
  REQUEST_TIMEOUT: { status: 408, hint: 'The request (headers and body) did not arrive within the node\'s time limit; the connection was closed.' },
  BAD_REQUEST: { status: 400, hint: 'The request does not match the API; see /docs on the node.' },
  UPGRADE_REQUIRED: { status: 426, hint: 'Bulk streams are an HTTP/1.1 upgrade to p2pfx-frames/1; see /docs on the node.' },
  NOT_FOUND: { status: 404, hint: 'No such route; see /docs on the node.' },
  CANCELLED: { status: 409, hint: 'The transfer was cancelled; retry it to go on (what was done is kept).' },
  UNSUPPORTED_RUNTIME: { status: 500, hint: 'Install Node.js 24 LTS (https://nodejs.org), or use the single executable (npm run build:exe), which needs no Node.js.' },
  SERVICE_NOT_INSTALLED: { status: 404, hint: 'Install it with `p2pfx service install` (for the same --home).' },
  UI_TOKEN_REQUIRED: { status: 401, hint: 'Open the UI with the URL `p2pfx ui` printed: it carries the token.' },
  UI_HOST_REFUSED: { status: 403, hint: 'The UI answers only to http://127.0.0.1:PORT or http://localhost:PORT (a page of another site may not use it).' },
  INTERNAL: { status: 500, hint: 'This is a bug in p2pfx; run again with --debug and report the stack.' },
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

/** Anything thrown, as a P2pfxError: ours pass through, the rest become INTERNAL. */
export function toP2pfxError(err: unknown): P2pfxError {
  if (err instanceof P2pfxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new P2pfxError('INTERNAL', message, { cause: err });
}

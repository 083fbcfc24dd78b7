// Client of a peer's REST API over one PeerTransport (a keep-alive pool of mTLS connections):
// the API calls, each reply checked against its schema (net/protocol/), bulk streams opened, and
// CRLs passed on in both directions. What goes wrong is named by net/peer-errors.ts.
import { createHash, X509Certificate } from 'node:crypto';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { wrapForNode } from '../core/envelope.js';
import { P2pfxError } from '../core/errors.js';
import { FetchChannel, UploadChannel, type ChannelOptions } from './bulk-client.js';
import { MAX_BLOB_BYTES, MAX_CRL_BYTES, MAX_MANIFEST_BYTES } from '../core/limits.js';
import type { Manifest } from '../core/manifest.js';
import { nodeIdFromSpki } from '../pki/node-id.js';
import type { Credentials } from '../store/credentials.js';
import type { Revocation } from '../store/revocation.js';
import { formatPeer, type PeerAddress } from './peer-address.js';
import { answerError, peerTransportError, readBounded, readJson, requestError, type PeerSide } from './peer-errors.js';
import { PeerTransport, type TransportRequest, type TransportResponse } from './peer-transport.js';
import type { Upgraded } from './upgrade.js';
import { tlsContextOptions } from './tls.js';
import { BULK_STREAM_PATH, FRAMES_PROTOCOL, type BulkMode } from './protocol/bulk.js';
import { firstFault, type ReplyCheck } from './protocol/common.js';
import { CHUNKS_PATH, CHUNK_LIST, CHUNK_PUT, CHUNK_TYPE, MISSING, MISSING_PATH, chunkPath, type ChunkListReply } from './protocol/chunks.js';
import { CRL_NUMBER_HEADER, CRL_PATH, CRL_PUT, PEM_TYPE, type CrlPutReply } from './protocol/crl.js';
import { HEALTH, HEALTH_PATH, IDENTITY, IDENTITY_PATH, type HealthReply, type IdentityReply } from './protocol/identity.js';
import { HELLO, HELLO_PATH, type HelloReply, type HelloRequest } from './protocol/peers.js';
import { CATALOG, MANIFESTS_PATH, MANIFEST_PUT, manifestPath, type ManifestPutReply } from './protocol/manifests.js';

export interface PeerClientOptions {
  /** Keep-alive connections to this peer; sized to the chunks in flight. */
  connections?: number;
  connectTimeoutMs?: number;
  /** How long a peer may stay silent while answering (headers, or between body bytes). */
  idleTimeoutMs?: number;
  /** This node's CRL: the client passes a newer one on, and takes a newer one from the peer. */
  revocation?: Revocation;
  /** The node id expected at this address (from the peer book): any other node is refused. */
  expectNodeId?: string;
  /** The user named this peer by a word the peer book does not hold (taken as a host name). */
  unknownName?: boolean;
  /** Cuts the client's connections and requests, those being made included. */
  signal?: AbortSignal;
}

export type PeerIdentity = IdentityReply;
/** A node files can be addressed to: its id and its X25519 public key (raw, 32 bytes). */
export interface Recipient { nodeId: string; name: string; x25519: Buffer }
export type PeerHealth = HealthReply;
export type ManifestSummary = Omit<Manifest, 'chunks'>;

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Idle keep-alive connections to a peer are closed after this. */
const KEEP_ALIVE_MS = 30_000;

export class PeerClient {
  readonly peer: PeerAddress;
  readonly label: string;
  private readonly transport: PeerTransport;
  private tlsOptions: SecureContextOptions;
  private remoteNodeId: string | null = null;
  private readonly revocation: Revocation | null;
  private crlSync: Promise<void> | null = null;
  private readonly unfollow: (() => void) | null;

  constructor(peer: PeerAddress, private readonly creds: Credentials, private readonly opts: PeerClientOptions = {}) {
    this.peer = peer;
    this.label = formatPeer(peer);
    this.tlsOptions = tlsContextOptions(creds);
    this.revocation = opts.revocation ?? null;
    this.transport = new PeerTransport({
      host: peer.host, port: peer.port, label: this.label,
      connections: opts.connections ?? 8,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      keepAliveMs: KEEP_ALIVE_MS,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onConnect: (socket) => {
        this.notePeerCertificate(socket);
        const expected = this.opts.expectNodeId;
        if (expected !== undefined && this.remoteNodeId !== expected) {
          return new P2pfxError('PEER_MISMATCH', `the node at ${this.label} is ${this.remoteNodeId ?? 'unknown'}, not ${expected} as the peer book says`);
        }
        return null;
      },
    }, this.tlsOptions);
    // A newer CRL applies to every connection made after it: new TLS options, a new pool (the
    // old one finishes what it has in flight). Sessions are never resumed: a resumed session
    // skips the certificate checks, CRL included.
    this.unfollow = this.revocation?.onChange(() => {
      this.tlsOptions = tlsContextOptions(this.creds);
      this.transport.renew(this.tlsOptions);
    }) ?? null;
  }

  /** The node id of the peer's certificate, known once a connection was made. */
  get nodeId(): string | null {
    return this.remoteNodeId;
  }

  /** Waits for a CRL exchange under way, then closes the connections. Safe to call twice. */
  async close(): Promise<void> {
    await this.crlSync;
    this.unfollow?.();
    await this.transport.close();
  }

  /** Fetches the peer's CRL (untrusted PEM text: the caller checks it). */
  async getCrl(): Promise<string> {
    const res = await this.request({ method: 'GET', path: CRL_PATH }, [200]);
    const body = await readBounded(res, MAX_CRL_BYTES, () => new P2pfxError('CRL_INVALID', `peer ${this.label} sent a CRL over ${MAX_CRL_BYTES} bytes`));
    return body.toString('utf8');
  }

  /** Hands the peer a CRL; it keeps it only if valid and newer than its own. */
  async putCrl(pem: string): Promise<CrlPutReply> {
    const res = await this.request({ method: 'PUT', path: CRL_PATH, body: pem, headers: { 'content-type': PEM_TYPE } }, [200]);
    return this.checked(await readJson(res, 64 * 1024, this.label), CRL_PUT, `PUT ${CRL_PATH}`);
  }

  /**
   * After the first answer of a peer: if it holds a newer CRL, take it; if an older one (or none),
   * give it ours. Once per client, in the background; close() waits for it. A failure here
   * changes nothing (the CRL is checked before it is taken, on both sides).
   */
  private noteCrlNumber(header: string | string[] | undefined): void {
    if (this.revocation === null || this.crlSync !== null) return;
    const text = typeof header === 'string' ? header : '0';
    if (!/^\d{1,50}$/.test(text)) return;
    const theirs = BigInt(text);
    const ours = this.revocation.number;
    if (theirs === ours) return;
    const revocation = this.revocation;
    this.crlSync = (theirs > ours
      ? this.getCrl().then((pem) => revocation.take(pem))
      : this.putCrl(revocation.current()!.pem)
    ).then(() => undefined, () => undefined);
  }

  async health(): Promise<PeerHealth> {
    return this.json('GET', HEALTH_PATH, HEALTH);
  }

  async identity(): Promise<PeerIdentity> {
    return this.json('GET', IDENTITY_PATH, IDENTITY);
  }

  /** Tells the peer where this node serves; it records this node in its book (see net/hello.ts). */
  async hello(body: HelloRequest): Promise<HelloReply> {
    return this.json('POST', HELLO_PATH, HELLO, body);
  }

  /**
   * The peer's key-agreement key, as the peer states it over this session: mutual TLS has
   * proved who answers, and the node id it claims must be the one of its certificate.
   */
  async recipient(): Promise<Recipient> {
    const id = await this.identity();
    const key = typeof id.x25519 === 'string' ? Buffer.from(id.x25519, 'base64') : Buffer.alloc(0);
    if (this.remoteNodeId === null || id.nodeId !== this.remoteNodeId) {
      throw new P2pfxError('PEER_ERROR', `peer ${this.label} claims node id ${String(id.nodeId)} but its certificate says ${this.remoteNodeId ?? 'nothing'}`);
    }
    try {
      // A key that is not a usable point (wrong length, low order) fails here, not mid-send.
      wrapForNode(Buffer.alloc(32), Buffer.alloc(16), id.nodeId, key);
    } catch {
      throw new P2pfxError('PEER_ERROR', `peer ${this.label} published no usable X25519 key`);
    }
    return { nodeId: id.nodeId, name: typeof id.name === 'string' ? id.name : '', x25519: key };
  }

  /** Which of `ids` the peer lacks. */
  async missing(ids: readonly string[]): Promise<string[]> {
    return (await this.json('POST', MISSING_PATH, MISSING, { ids })).missing;
  }

  async putChunk(id: string, blob: Uint8Array): Promise<{ created: boolean }> {
    const res = await this.request({ method: 'PUT', path: chunkPath(id), body: blob, headers: { 'content-type': CHUNK_TYPE } }, [200, 201]);
    return this.checked(await readJson(res, 64 * 1024, this.label), CHUNK_PUT, `PUT ${chunkPath(id)}`);
  }

  /**
   * The blob of chunk `id`, read whole (chunks are capped) and checked: throws HASH_MISMATCH
   * when the peer's bytes are not `id`, CHUNK_NOT_FOUND when it lacks it. With `verify: false`
   * the caller checks the id itself (off the main thread); `alloc` may hand out a reused buffer.
   */
  async getChunk(id: string, opts: { verify?: boolean; alloc?: (size: number) => Buffer } = {}): Promise<Buffer> {
    const verify = opts.verify ?? true;
    const res = await this.request({ method: 'GET', path: chunkPath(id) }, [200]);
    const declared = Number(res.headers['content-length']);
    if (!Number.isSafeInteger(declared) || declared < 0 || declared > MAX_BLOB_BYTES) {
      res.body.destroy();
      throw new P2pfxError('CHUNK_TOO_LARGE', `peer ${this.label} announced ${String(res.headers['content-length'])} bytes for chunk ${id}`);
    }
    const blob = opts.alloc?.(declared) ?? Buffer.allocUnsafeSlow(declared);
    const hash = verify ? createHash('sha256') : null;
    let at = 0;
    for await (const piece of res.body as AsyncIterable<Buffer>) {
      if (at + piece.length > declared) {
        res.body.destroy();
        throw new P2pfxError('HASH_MISMATCH', `peer ${this.label} sent more bytes than announced for chunk ${id}`);
      }
      piece.copy(blob, at);
      hash?.update(piece);
      at += piece.length;
    }
    if (at !== declared) throw new P2pfxError('HASH_MISMATCH', `peer ${this.label} sent ${at} of the ${declared} bytes announced for chunk ${id}`);
    const actual = hash?.digest('hex');
    if (actual !== undefined && actual !== id) {
      throw new P2pfxError('HASH_MISMATCH', `peer ${this.label} served chunk ${id} but its bytes hash to ${actual}`);
    }
    return blob.length === declared ? blob : blob.subarray(0, declared);
  }

  /** A bulk stream to upload chunks (DESIGN "Bulk streams"). */
  async openUpload(): Promise<UploadChannel> {
    return new UploadChannel(await this.upgradeTo('upload'), this.channelOptions());
  }

  /**
   * A bulk stream to fetch chunks: `onChunk` gets each in the order asked (its blob in a buffer
   * from `alloc`, or null where the peer lacks it); `onFailure` gets the failure and the ids
   * still unanswered, once.
   */
  async openFetch(alloc: (size: number) => Buffer, onChunk: (id: string, blob: Buffer | null) => void, onFailure: (err: P2pfxError, unanswered: string[]) => void): Promise<FetchChannel> {
    return new FetchChannel(await this.upgradeTo('fetch'), this.channelOptions(), alloc, onChunk, onFailure);
  }

  private channelOptions(): ChannelOptions {
    return { label: this.label, idleTimeoutMs: this.opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, transportError: (err) => this.transportError(err) };
  }

  private async upgradeTo(mode: BulkMode): Promise<Upgraded> {
    const path = `${BULK_STREAM_PATH}?mode=${mode}`;
    let r: Awaited<ReturnType<PeerTransport['upgrade']>>;
    try {
      r = await this.transport.upgrade(path, FRAMES_PROTOCOL);
    } catch (err) {
      throw await requestError(err, this.side());
    }
    if ('refused' in r) {
      this.noteCrlNumber(r.refused.headers[CRL_NUMBER_HEADER]);
      throw await answerError(r.refused, 'GET', path, this.label);
    }
    this.noteCrlNumber(r.headers[CRL_NUMBER_HEADER]);
    return r;
  }

  async listChunks(after = '', limit = 1000): Promise<ChunkListReply> {
    const qs = new URLSearchParams({ limit: String(limit) });
    if (after) qs.set('after', after);
    return this.json('GET', `${CHUNKS_PATH}?${qs}`, CHUNK_LIST);
  }

  async putManifest(m: Manifest): Promise<ManifestPutReply> {
    return this.json('PUT', manifestPath(m.fileId), MANIFEST_PUT, m);
  }

  /** The manifest as the peer sent it: untrusted, the caller checks it (pki/manifest-trust). */
  async getManifest(fileId: string): Promise<unknown> {
    const res = await this.request({ method: 'GET', path: manifestPath(fileId) }, [200]);
    return readJson(res, MAX_MANIFEST_BYTES, this.label);
  }

  async listManifests(): Promise<unknown[]> {
    return (await this.json('GET', MANIFESTS_PATH, CATALOG)).manifests;
  }

  /** A JSON request; the reply is checked against its schema (`check`). */
  private async json<T>(method: string, path: string, check: ReplyCheck<T>, body?: unknown): Promise<T> {
    const res = await this.request({
      method, path,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    }, [200, 201]);
    const reply = await readJson(res, MAX_MANIFEST_BYTES, this.label);
    return this.checked(reply, check, `${method} ${path}`);
  }

  /** A peer's reply of the shape its schema says, or PEER_ERROR naming what is wrong. */
  private checked<T>(reply: unknown, check: ReplyCheck<T>, request: string): T {
    if (check.validate(reply)) return reply as T;
    throw new P2pfxError('PEER_ERROR', `peer ${this.label} answered ${request} (${check.what}) with a reply of the wrong shape: ${firstFault(check.validate)}`);
  }

  /** Sends a request; any status outside `ok` becomes the peer's P2pfxError (or PEER_ERROR). */
  private async request(options: TransportRequest, ok: number[]): Promise<TransportResponse> {
    let res: TransportResponse;
    try {
      res = await this.transport.request(options);
    } catch (err) {
      throw await requestError(err, this.side());
    }
    this.noteCrlNumber(res.headers[CRL_NUMBER_HEADER]);
    if (ok.includes(res.status)) return res;
    throw await answerError(res, options.method, options.path, this.label);
  }

  /** Maps socket, TLS and timeout failures to what the user can act on (net/peer-errors.ts). */
  transportError(err: unknown): P2pfxError {
    return peerTransportError(err, this.side());
  }

  /** This client as the error mappers see it. */
  private side(): PeerSide {
    return { label: this.label, peer: this.peer, tlsOptions: this.tlsOptions, selfRevoked: this.revocation?.selfRevoked === true, unknownName: this.opts.unknownName === true };
  }

  private notePeerCertificate(socket: TLSSocket): void {
    const raw = socket.getPeerCertificate()?.raw;
    if (!raw) return;
    const spki = new X509Certificate(raw).publicKey.export({ type: 'spki', format: 'der' });
    this.remoteNodeId = nodeIdFromSpki(spki);
  }


}

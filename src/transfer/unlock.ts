// Which key envelope of a file this node can open: its own x25519 one first, then a password.
import { unwrapForNode, unwrapWithPassword, type KeyEnvelope, type PasswordEnvelope, type X25519Envelope } from '../core/envelope.js';
import { P2pfxError } from '../core/errors.js';
import type { Credentials } from '../store/credentials.js';

export interface UnlockOptions {
  password?: string | undefined;
  /** Asked only when a password is needed and none was given (the CLI prompts on a TTY). */
  askPassword?: (() => Promise<string>) | undefined;
  /** How the file is named in messages: its name when known, else its id. */
  label: string;
}

/**
 * The data key of a file. Throws NO_KEY when nothing here can open it, PASSWORD_REQUIRED when
 * only a password could and none is at hand, WRONG_PASSWORD when the password does not.
 */
export async function unlockDataKey(envelopes: readonly KeyEnvelope[], fileId: Uint8Array, creds: Credentials, opts: UnlockOptions): Promise<Buffer> {
  for (const env of envelopes) {
    if (env.type === 'x25519' && env.recipient === creds.nodeId) {
      const key = unwrapForNode(env as X25519Envelope, fileId, creds.x25519);
      if (key) return key;
    }
  }
  const locks = envelopes.filter((e): e is PasswordEnvelope => e.type === 'password');
  if (locks.length === 0) throw new P2pfxError('NO_KEY', `file ${opts.label} was not sent to this node and has no password envelope`);
  let password = opts.password;
  if (password === undefined && opts.askPassword) password = await opts.askPassword();
  if (password === undefined) throw new P2pfxError('PASSWORD_REQUIRED', `file ${opts.label} needs its password`);
  for (const env of locks) {
    try {
      return await unwrapWithPassword(env, fileId, password);
    } catch (err) {
      if (!(err instanceof P2pfxError) || err.code !== 'WRONG_PASSWORD') throw err;
    }
  }
  throw new P2pfxError('WRONG_PASSWORD', `wrong password for file ${opts.label}`);
}

/** Whether this node can open the file without asking anything. */
export function hasOwnEnvelope(envelopes: readonly KeyEnvelope[], creds: Credentials): boolean {
  return envelopes.some((e) => e.type === 'x25519' && e.recipient === creds.nodeId);
}

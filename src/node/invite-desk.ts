// Invites made by a long-running program (the menu, the web UI): the enrollment listener is open
// only while one of its invites is pending, each invite is withdrawn when it expires unused, and
// all of them when the program ends.
import { P2pfxError } from '../core/errors.js';
import type { Home } from '../store/home.js';
import { createInvite, startEnrollmentServer, withdrawInvite, type EnrollmentServer, type JoinedEvent } from '../net/enroll.js';
import { ENROLL_PORT } from '../net/protocol/enrollment.js';

export interface DeskInvite { id: string; code: string; expiresAt: Date; port: number }

export class InviteDesk {
  private server: EnrollmentServer | null = null;
  private readonly pending = new Map<string, NodeJS.Timeout>();

  /** `apiPort`: where this node's API serves, told to joiners so the CA node enters their peer book. */
  constructor(private readonly home: Home, private readonly onJoin: (e: JoinedEvent) => void = () => undefined, private readonly apiPort?: number) {}

  /** A new invite; the listener is started on the usual port when free, else on any. */
  async invite(): Promise<DeskInvite> {
    if (this.server === null) {
      const onJoin = (e: JoinedEvent) => {
        this.onJoin(e);
        this.end(e.inviteId, false);
      };
      const api = this.apiPort === undefined ? {} : { apiPort: this.apiPort };
      this.server = await startEnrollmentServer({ home: this.home, host: '0.0.0.0', port: ENROLL_PORT, onJoin, ...api }).catch((err: unknown) => {
        if (err instanceof P2pfxError && err.code === 'PORT_IN_USE') return startEnrollmentServer({ home: this.home, host: '0.0.0.0', port: 0, onJoin, ...api });
        throw err;
      });
    }
    const invite = await createInvite({ home: this.home });
    const timer = setTimeout(() => this.end(invite.id, true), Math.max(0, invite.expiresAt.getTime() - Date.now()));
    timer.unref();
    this.pending.set(invite.id, timer);
    return { id: invite.id, code: invite.code, expiresAt: invite.expiresAt, port: this.server.port };
  }

  /** Every pending invite withdrawn, the listener closed. */
  async close(): Promise<void> {
    const server = this.server;
    for (const id of [...this.pending.keys()]) this.end(id, true);
    await server?.close();
  }

  private end(id: string, withdraw: boolean): void {
    const timer = this.pending.get(id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.pending.delete(id);
    if (withdraw) withdrawInvite(this.home, id);
    if (this.pending.size === 0 && this.server !== null) {
      const server = this.server;
      this.server = null;
      void server.close();
    }
  }
}

// Transfers started from the web UI: each runs the same transfer/ functions as the CLI, reports
// its progress to whoever listens (the UI's event stream), and can be cancelled and retried.
import { randomBytes } from 'node:crypto';
import { toP2pfxError, type P2pfxError } from '../core/errors.js';
import type { ProgressListener, TransferProgress } from '../transfer/progress.js';
import type { Transfer } from './api-types.js';

/** A transfer as the page sees it (ui/api-types.ts). */
export type TransferView = Transfer;

/** What a job does: runs once per attempt with a fresh signal and progress listener. */
export type JobWork = (signal: AbortSignal, onProgress: ProgressListener) => Promise<{ path?: string; fileId?: string }>;

/** Events to a listener are at most this often per transfer, except state changes. */
const THROTTLE_MS = 250;
/** Finished transfers kept in the list. */
const KEEP_FINISHED = 100;

interface Job {
  view: TransferView;
  work: JobWork;
  controller: AbortController;
  started: number;
  lastSent: number;
}

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private readonly listeners = new Set<(t: TransferView) => void>();

  /** Calls `fn` with each change; returns the unsubscribe. */
  subscribe(fn: (t: TransferView) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  list(): TransferView[] {
    return [...this.jobs.values()].map((j) => ({ ...j.view })).reverse();
  }

  get(id: string): TransferView | null {
    const j = this.jobs.get(id);
    return j ? { ...j.view } : null;
  }

  start(init: { direction: 'send' | 'get'; name: string; folder: boolean; peers: string[] }, work: JobWork): TransferView {
    const id = randomBytes(8).toString('hex');
    const view: TransferView = {
      id, ...init, state: 'running', doneBytes: 0, totalBytes: 0, doneFiles: null, totalFiles: null, mibPerSecond: 0, etaSeconds: null,
      startedAt: new Date().toISOString(), error: null, result: null,
    };
    const job: Job = { view, work, controller: new AbortController(), started: Date.now(), lastSent: 0 };
    this.jobs.set(id, job);
    this.prune();
    this.run(job);
    return { ...view };
  }

  /** Cancels a running transfer (it stops between chunks); null when there is no such transfer. */
  cancel(id: string): TransferView | null {
    const job = this.jobs.get(id);
    if (!job) return null;
    if (job.view.state === 'running') job.controller.abort();
    return { ...job.view };
  }

  /** Runs a failed or cancelled transfer again (it resumes: what was done is kept). */
  retry(id: string): TransferView | null {
    const job = this.jobs.get(id);
    if (!job) return null;
    if (job.view.state === 'failed' || job.view.state === 'cancelled') {
      job.controller = new AbortController();
      job.started = Date.now();
      Object.assign(job.view, { state: 'running', error: null, mibPerSecond: 0, etaSeconds: null, startedAt: new Date().toISOString() });
      this.emit(job, true);
      this.run(job);
    }
    return { ...job.view };
  }

  /** Cancels everything running and waits a moment for it to stop. */
  async close(): Promise<void> {
    for (const job of this.jobs.values()) job.controller.abort();
    this.listeners.clear();
  }

  private run(job: Job): void {
    const onProgress = (p: TransferProgress): void => this.progress(job, p);
    void job.work(job.controller.signal, onProgress).then((result) => {
      Object.assign(job.view, { state: 'done', result, doneBytes: job.view.totalBytes || job.view.doneBytes, etaSeconds: 0 });
      if (job.view.totalFiles !== null) job.view.doneFiles = job.view.totalFiles;
      this.emit(job, true);
    }, (err: unknown) => {
      const e: P2pfxError = toP2pfxError(err);
      job.view.state = job.controller.signal.aborted || e.code === 'CANCELLED' ? 'cancelled' : 'failed';
      job.view.error = { code: e.code, message: e.message, hint: e.hint };
      this.emit(job, true);
    });
  }

  private progress(job: Job, p: TransferProgress): void {
    const v = job.view;
    v.doneBytes = p.doneBytes;
    v.totalBytes = p.totalBytes;
    if (p.folder) {
      v.doneFiles = p.folder.doneFiles;
      v.totalFiles = p.folder.totalFiles;
    }
    const seconds = Math.max(0.001, (Date.now() - job.started) / 1000);
    v.mibPerSecond = Math.round((p.doneBytes / 1048576 / seconds) * 10) / 10;
    const rate = p.doneBytes / seconds;
    v.etaSeconds = rate > 0 ? Math.round((p.totalBytes - p.doneBytes) / rate) : null;
    this.emit(job, false);
  }

  private emit(job: Job, force: boolean): void {
    const now = Date.now();
    if (!force && now - job.lastSent < THROTTLE_MS) return;
    job.lastSent = now;
    const view = { ...job.view };
    for (const fn of this.listeners) fn(view);
  }

  private prune(): void {
    const finished = [...this.jobs.values()].filter((j) => j.view.state !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.jobs.delete(j.view.id);
  }
}

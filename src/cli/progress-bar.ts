// A progress bar (MiB/s, ETA; files done for a folder) on a terminal; nothing otherwise.
import cliProgress from 'cli-progress';
import type { ProgressListener, TransferProgress } from '../transfer/progress.js';
import { printable } from './output.js';

export interface Bar { listener: ProgressListener; stop(): void }

export function progressBar(enabled: boolean, verb: string): Bar {
  if (!enabled) return { listener: () => undefined, stop: () => undefined };
  const started = Date.now();
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${verb} {name} [{bar}] {percentage}% | {files}{doneMiB}/{totalMiB} MiB | {speed} MiB/s | ETA {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: false,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  let running = false;
  const listener = (p: TransferProgress) => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const payload = {
      name: printable(p.name),
      // A folder shows its files too: "12/40 files | ".
      files: p.folder ? `${p.folder.doneFiles}/${p.folder.totalFiles} files | ` : '',
      doneMiB: (p.doneBytes / 1048576).toFixed(1),
      totalMiB: (p.totalBytes / 1048576).toFixed(1),
      speed: (p.doneBytes / 1048576 / seconds).toFixed(1),
    };
    if (!running) {
      bar.start(Math.max(1, p.totalBytes), 0, payload);
      running = true;
    }
    bar.update(p.doneBytes, payload);
  };
  return { listener, stop: () => running && bar.stop() };
}

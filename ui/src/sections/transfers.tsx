// Transfers, live: progress, speed, time left, files done for folders; Cancel and Retry.
import { useState } from 'preact/hooks';
import { api, asError, type ApiError, type Transfer } from '../api';
import type { UpsertTransfer } from '../live';
import { ErrorBox, Section } from '../components';
import { formatBytes, formatDate, formatEta, formatSpeed, isoDate, percent, printable, toDate } from '../format';

const STATE_TEXT: Record<Transfer['state'], string> = {
  running: 'running',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
};

function TransferRow({ t, onTransfer }: { t: Transfer; onTransfer: UpsertTransfer }) {
  const [busy, setBusy] = useState<'cancel' | 'retry' | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const pct = t.state === 'done' ? 100 : percent(t.doneBytes, t.totalBytes);
  const name = printable(t.name) + (t.folder ? '/' : '');
  const verb = t.direction === 'send' ? 'Send' : 'Download';

  const act = async (what: 'cancel' | 'retry') => {
    setBusy(what);
    setError(null);
    try {
      const r = await api<{ transfer: Transfer }>('POST', `/api/transfers/${encodeURIComponent(t.id)}/${what}`);
      onTransfer(r.transfer, 'action');
    } catch (e) {
      setError(asError(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <li class={`transfer state-${t.state}`} data-testid="transfer" data-transfer-id={t.id} data-state={t.state} data-direction={t.direction} data-name={t.name}>
      <div class="transfer-head">
        <span class={`dir dir-${t.direction}`} data-testid="transfer-direction" title={t.direction === 'send' ? 'sent to' : 'downloaded from'}>
          <span aria-hidden="true">{t.direction === 'send' ? '↑' : '↓'}</span> {t.direction === 'send' ? 'send' : 'get'}
        </span>
        {t.folder ? <span class="tag folder">folder</span> : null}
        <span class="name" data-testid="transfer-name">
          {name}
        </span>
        <span class={`state state-${t.state}`} data-testid="transfer-state">
          {STATE_TEXT[t.state]}
        </span>
      </div>
      <div class="transfer-bar">
        <progress max={100} value={pct} aria-label={`${verb} ${name}: ${pct} %`} data-testid="transfer-progress" />
        <span class="pct" data-testid="transfer-percent">
          {pct} %
        </span>
      </div>
      <div class="transfer-facts muted small">
        <span data-testid="transfer-peers">
          {t.direction === 'send' ? 'to ' : 'from '}
          {t.peers.length > 0 ? t.peers.map(printable).join(', ') : '—'}
        </span>
        <span data-testid="transfer-bytes">
          {formatBytes(t.doneBytes)} / {formatBytes(t.totalBytes)}
        </span>
        {t.totalFiles !== null ? (
          <span data-testid="transfer-files">
            {t.doneFiles ?? 0} / {t.totalFiles} files
          </span>
        ) : null}
        {t.state === 'running' ? (
          <>
            <span data-testid="transfer-speed">{formatSpeed(t.mibPerSecond)}</span>
            <span data-testid="transfer-eta">ETA {formatEta(t.etaSeconds)}</span>
          </>
        ) : t.state === 'done' && t.mibPerSecond > 0 ? (
          <span data-testid="transfer-speed">{formatSpeed(t.mibPerSecond)}</span>
        ) : null}
        <span>
          started <time dateTime={isoDate(t.startedAt)}>{formatDate(t.startedAt)}</time>
        </span>
      </div>
      {t.result?.path ? (
        <p class="small transfer-result" data-testid="transfer-result">
          {t.direction === 'get' ? 'Saved as ' : 'Path '}
          <code>{printable(t.result.path)}</code>
        </p>
      ) : null}
      {t.state === 'cancelled' ? (
        <p class="muted small" data-testid="transfer-cancelled">
          Cancelled{t.error ? `: ${printable(t.error.message)}` : ''}. Retry resumes where it stopped.
        </p>
      ) : (
        <ErrorBox error={t.error} testid="transfer-error" />
      )}
      <div class="transfer-actions">
        {t.state === 'running' ? (
          <button type="button" class="secondary" onClick={() => void act('cancel')} disabled={busy !== null} aria-label={`Cancel ${name}`} data-testid="transfer-cancel">
            {busy === 'cancel' ? 'Cancelling…' : 'Cancel'}
          </button>
        ) : null}
        {t.state === 'failed' || t.state === 'cancelled' ? (
          <button type="button" class="secondary" onClick={() => void act('retry')} disabled={busy !== null} aria-label={`Retry ${name}`} data-testid="transfer-retry">
            {busy === 'retry' ? 'Retrying…' : 'Retry'}
          </button>
        ) : null}
      </div>
      <ErrorBox error={error} testid="transfer-action-error" />
    </li>
  );
}

export function TransfersSection({ transfers, onTransfer }: { transfers: Map<string, Transfer>; onTransfer: UpsertTransfer }) {
  const list = [...transfers.values()].sort((a, b) => (toDate(b.startedAt)?.getTime() ?? 0) - (toDate(a.startedAt)?.getTime() ?? 0));
  return (
    <Section title="Transfers">
      {list.length === 0 ? (
        <p class="muted" data-testid="transfers-empty">
          No transfer since this node started. Send a file, or download one from the catalog.
        </p>
      ) : (
        <ul class="transfers" data-testid="transfers-list">
          {list.map((t) => (
            <TransferRow key={t.id} t={t} onTransfer={onTransfer} />
          ))}
        </ul>
      )}
    </Section>
  );
}

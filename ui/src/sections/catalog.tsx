// Files across the peers (their catalogs merged by the node), searchable by name, each with a
// Download button that lands the file in the node's downloads folder (`serve` names it at start).
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, asError, type ApiError, type Catalog, type CatalogFile, type Transfer } from '../api';
import type { UpsertTransfer } from '../live';
import { ErrorBox, Loading, Section } from '../components';
import { formatBytes, formatDate, isoDate, percent, printable, shortId } from '../format';

/** fileId → the id of the download started for it from this page (kept across tab changes). */
const downloads = new Map<string, string>();

function accessNote(f: CatalogFile): string | null {
  if (f.access === 'password') return 'Protected by a password: download it with `p2pfx get ' + f.fileId + ' --password` on the command line.';
  if (f.access === 'none') return 'This node holds no key for this file: ask the sender to send it to this node.';
  return null;
}

export function CatalogSection({ epoch, transfers, onTransfer }: { epoch: number; transfers: Map<string, Transfer>; onTransfer: UpsertTransfer }) {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const [query, setQuery] = useState('');
  const [rowErrors, setRowErrors] = useState<Map<string, ApiError>>(new Map());
  const [starting, setStarting] = useState<Set<string>>(new Set());
  const [, setTick] = useState(0);

  const load = async () => {
    setLoading(true);
    try {
      setCatalog(await api<Catalog>('GET', '/api/catalog'));
      setError(null);
    } catch (e) {
      setError(asError(e));
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    void load();
  }, [epoch]);

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    const files = [...(catalog?.files ?? [])];
    files.sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
    return q ? files.filter((f) => (f.name ?? '').toLowerCase().includes(q) || f.fileId.startsWith(q)) : files;
  }, [catalog, query]);

  const download = async (f: CatalogFile) => {
    setStarting((s) => new Set(s).add(f.fileId));
    setRowErrors((m) => {
      const n = new Map(m);
      n.delete(f.fileId);
      return n;
    });
    try {
      const r = await api<{ transfer: Transfer }>('POST', '/api/get', { fileId: f.fileId });
      downloads.set(f.fileId, r.transfer.id);
      onTransfer(r.transfer, 'start');
      setTick((n) => n + 1);
    } catch (e) {
      setRowErrors((m) => new Map(m).set(f.fileId, asError(e)));
    } finally {
      setStarting((s) => {
        const n = new Set(s);
        n.delete(f.fileId);
        return n;
      });
    }
  };

  return (
    <Section
      title="Catalog"
      actions={
        <button type="button" class="secondary" onClick={() => void load()} disabled={loading} data-testid="catalog-refresh">
          {loading ? 'Loading…' : 'Refresh'}
        </button>
      }
    >
      <div class="search">
        <label for="catalog-search">Search by name</label>
        <input
          id="catalog-search"
          type="search"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          placeholder="holiday.mkv"
          autoComplete="off"
          data-testid="catalog-search"
        />
      </div>
      <ErrorBox error={error} testid="catalog-error" />
      {catalog && catalog.unreachable.length > 0 ? (
        <ul class="warnings" data-testid="catalog-unreachable">
          {catalog.unreachable.map((u) => (
            <li key={u.peer}>
              <strong>{printable(u.peer)}</strong> did not answer: {u.code}: {printable(u.message)}
            </li>
          ))}
        </ul>
      ) : null}
      {catalog === null ? (
        error ? null : <Loading what="the catalog (asking every peer)" />
      ) : shown.length === 0 ? (
        <p class="muted" data-testid="catalog-empty">
          {catalog.files.length === 0 ? 'No file on any reachable peer yet.' : 'No file matches.'}
        </p>
      ) : (
        <table class="table" data-testid="catalog-table">
          <caption class="visually-hidden">Files held by the peers</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" class="num">Size</th>
              <th scope="col">Date</th>
              <th scope="col">Sender</th>
              <th scope="col">Held by</th>
              <th scope="col">
                <span class="visually-hidden">Download</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.map((f) => {
              const tid = downloads.get(f.fileId);
              const t = tid ? transfers.get(tid) : undefined;
              const note = accessNote(f);
              const label = f.name === null ? `hidden file ${f.fileId.slice(0, 8)}` : printable(f.name);
              return (
                <tr key={f.fileId} data-testid="catalog-row" data-file-id={f.fileId} data-name={f.name ?? ''} data-kind={f.kind ?? ''}>
                  <td data-label="Name" data-testid="catalog-name">
                    {f.kind === 'folder' ? (
                      <span class="tag folder" data-testid="catalog-folder">
                        folder
                      </span>
                    ) : null}
                    {f.name === null ? (
                      <span class="muted" title={`file id ${f.fileId}`}>
                        hidden
                      </span>
                    ) : (
                      <span class="name">{printable(f.name)}{f.kind === 'folder' ? '/' : ''}</span>
                    )}
                    {f.olderVersions > 0 ? (
                      <span class="muted" data-testid="catalog-older">
                        {' '}(+{f.olderVersions} older version{f.olderVersions === 1 ? '' : 's'})
                      </span>
                    ) : null}
                  </td>
                  <td data-label="Size" class="num" data-testid="catalog-size">
                    {formatBytes(f.size)}
                    {f.kind === 'folder' && f.files !== null ? <span class="muted" data-testid="catalog-files">{` · ${f.files} file${f.files === 1 ? '' : 's'}`}</span> : null}
                  </td>
                  <td data-label="Date">
                    <time dateTime={isoDate(f.createdAt)}>{formatDate(f.createdAt)}</time>
                  </td>
                  <td data-label="Sender" data-testid="catalog-sender">
                    {f.senderName ? printable(f.senderName) : <code title={f.sender}>{shortId(f.sender)}</code>}
                  </td>
                  <td data-label="Held by" data-testid="catalog-peers">
                    {f.peers.map((p) => printable(p)).join(', ')}
                  </td>
                  <td class="actions">
                    <button
                      type="button"
                      onClick={() => void download(f)}
                      disabled={note !== null || starting.has(f.fileId) || t?.state === 'running'}
                      title={note ?? undefined}
                      aria-label={`Download ${label}`}
                      data-testid="catalog-download"
                    >
                      Download
                    </button>
                    {note ? <span class="visually-hidden">{note}</span> : null}
                    {t ? (
                      <span class="row-state" data-testid="catalog-download-state" data-state={t.state} role="status">
                        {t.state === 'running'
                          ? `${percent(t.doneBytes, t.totalBytes)} %`
                          : t.state === 'done'
                            ? 'downloaded'
                            : t.state}
                      </span>
                    ) : null}
                    <ErrorBox error={rowErrors.get(f.fileId) ?? (t?.state === 'failed' ? t.error : null)} testid="catalog-download-error" />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Section>
  );
}

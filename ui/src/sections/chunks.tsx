// The chunks held by this node: how many, how big, how much disk is left, the first ones.
import { useEffect, useState } from 'preact/hooks';
import { api, asError, type ApiError, type Chunks } from '../api';
import { ErrorBox, Loading, Section } from '../components';
import { formatBytes } from '../format';

export function ChunksSection() {
  const [chunks, setChunks] = useState<Chunks | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);

  const load = async () => {
    setLoading(true);
    try {
      setChunks(await api<Chunks>('GET', '/api/chunks'));
      setError(null);
    } catch (e) {
      setError(asError(e));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const usedPct = chunks && chunks.disk.totalBytes > 0 ? Math.round(((chunks.disk.totalBytes - chunks.disk.freeBytes) / chunks.disk.totalBytes) * 100) : null;

  return (
    <Section
      title="Chunks"
      actions={
        <button type="button" class="secondary" onClick={() => void load()} disabled={loading} data-testid="chunks-refresh">
          {loading ? 'Loading…' : 'Refresh'}
        </button>
      }
    >
      <ErrorBox error={error} testid="chunks-error" />
      {chunks === null ? (
        error ? null : <Loading what="chunks" />
      ) : (
        <>
          <dl class="facts stats">
            <dt>Chunks</dt>
            <dd data-testid="chunks-count">{chunks.count}</dd>
            <dt>Stored</dt>
            <dd data-testid="chunks-bytes">{formatBytes(chunks.bytes)}</dd>
            <dt>Kept as received files</dt>
            <dd data-testid="chunks-as-files">
              {chunks.asFiles.count} chunks of {chunks.asFiles.files} {chunks.asFiles.files === 1 ? 'file' : 'files'} sent here
              <span class="muted"> ({formatBytes(chunks.asFiles.bytes)}, stored once: served from the files)</span>
            </dd>
            <dt>Disk free</dt>
            <dd data-testid="chunks-disk">
              {formatBytes(chunks.disk.freeBytes)} of {formatBytes(chunks.disk.totalBytes)}
              {usedPct !== null ? <span class="muted"> ({usedPct} % used)</span> : null}
            </dd>
          </dl>
          {chunks.chunks.length > 0 ? (
            <>
              <h3>
                {chunks.chunks.length < chunks.count ? `The first ${chunks.chunks.length}` : 'All'} chunks
              </h3>
              <div class="scroll">
                <table class="table chunks" data-testid="chunks-table">
                  <caption class="visually-hidden">Chunks held by this node</caption>
                  <thead>
                    <tr>
                      <th scope="col">Id (SHA-256 of the sealed bytes)</th>
                      <th scope="col" class="num">
                        Size
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {chunks.chunks.map((c) => (
                      <tr key={c.id} data-testid="chunk-row">
                        <td data-label="Id">
                          <code class="chunk-id">{c.id}</code>
                        </td>
                        <td data-label="Size" class="num">
                          {formatBytes(c.size)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          ) : (
            <p class="muted" data-testid="chunks-empty">
              No chunk stored here yet: this node keeps the chunks of the files peers send to it.
            </p>
          )}
        </>
      )}
    </Section>
  );
}

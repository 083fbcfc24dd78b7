// The peer book, and a form to add a peer by address (the node checks its certificate first).
import { useState } from 'preact/hooks';
import { api, asError, type ApiError, type Peer } from '../api';
import { ErrorBox, Loading, Section } from '../components';
import { formatDate, isoDate, printable, shortId } from '../format';

export function reachableText(r: boolean | null): string {
  return r === true ? 'reachable' : r === false ? 'unreachable' : 'not checked';
}

export function PeersSection({ peers, error, reload }: { peers: Peer[] | null; error: ApiError | null; reload: () => Promise<void> }) {
  const [address, setAddress] = useState('');
  const [busy, setBusy] = useState(false);
  const [addError, setAddError] = useState<ApiError | null>(null);
  const [added, setAdded] = useState<Peer | null>(null);
  const [refreshing, setRefreshing] = useState(false);

  const onAdd = async (e: Event) => {
    e.preventDefault();
    const value = address.trim();
    if (!value) return;
    setBusy(true);
    setAddError(null);
    setAdded(null);
    try {
      const r = await api<{ peer: Peer }>('POST', '/api/peers', { address: value });
      setAdded(r.peer);
      setAddress('');
      await reload();
    } catch (err) {
      setAddError(asError(err));
    } finally {
      setBusy(false);
    }
  };

  const onRefresh = async () => {
    setRefreshing(true);
    await reload();
    setRefreshing(false);
  };

  return (
    <>
      <Section
        title="Peers"
        actions={
          <button type="button" class="secondary" onClick={onRefresh} disabled={refreshing} data-testid="peers-refresh">
            {refreshing ? 'Checking…' : 'Refresh'}
          </button>
        }
      >
        <ErrorBox error={error} testid="peers-error" />
        {peers === null ? (
          error ? null : <Loading what="peers" />
        ) : peers.length === 0 ? (
          <p class="muted" data-testid="peers-empty">
            No peer yet. Add one by its address below, or start <code>p2pfx serve</code> on the other machines: serving
            nodes find each other on the LAN.
          </p>
        ) : (
          <table class="table" data-testid="peers-table">
            <caption class="visually-hidden">The peer book</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Address</th>
                <th scope="col">State</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {peers.map((p) => (
                <tr key={p.nodeId} data-testid="peer-row" data-node-id={p.nodeId} data-reachable={String(p.reachable)}>
                  <td data-label="Name" data-testid="peer-name">
                    {printable(p.name)}
                  </td>
                  <td data-label="Id">
                    <code title={p.nodeId} data-testid="peer-id">
                      {shortId(p.nodeId)}
                    </code>
                  </td>
                  <td data-label="Address">
                    <code data-testid="peer-address">{printable(p.address)}</code>
                    {p.source === 'discovered' ? <span class="tag">discovered</span> : p.source === 'hello' ? <span class="tag" title="it told this node where it serves">said hello</span> : null}
                  </td>
                  <td data-label="State" data-testid="peer-reachable">
                    <span class={p.reachable === true ? 'ok' : p.reachable === false ? 'bad' : 'muted'}>{reachableText(p.reachable)}</span>
                  </td>
                  <td data-label="Last seen">
                    <time dateTime={isoDate(p.lastSeen)}>{formatDate(p.lastSeen)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>

      <Section title="Add a peer">
        <form class="inline-form" onSubmit={onAdd} data-testid="peer-add-form">
          <label for="peer-address">Address (HOST or HOST:PORT)</label>
          <div class="row">
            <input
              id="peer-address"
              type="text"
              inputMode="url"
              autoComplete="off"
              spellcheck={false}
              placeholder="192.168.1.20:8443"
              value={address}
              onInput={(e) => setAddress((e.target as HTMLInputElement).value)}
              required
              data-testid="peer-add-address"
            />
            <button type="submit" disabled={busy || address.trim() === ''} data-testid="peer-add-submit">
              {busy ? 'Checking…' : 'Add peer'}
            </button>
          </div>
          <p class="muted small">The peer is added once a mutual-TLS handshake shows its node id; compare it with the id the peer shows.</p>
        </form>
        <ErrorBox error={addError} testid="peer-add-error" />
        {added ? (
          <p class="success" role="status" data-testid="peer-add-result" data-node-id={added.nodeId}>
            Added <strong>{printable(added.name)}</strong>, node id <code>{added.nodeId}</code>.
          </p>
        ) : null}
      </Section>
    </>
  );
}

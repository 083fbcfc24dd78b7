// The page: a header, one tab per screen (the tab is kept in the URL's #fragment), and the live
// stream of transfer events. No logic of its own: everything it shows comes from the node's API.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { LiveState, TransferSource, UpsertTransfer } from './live';
import { api, asError, eventsUrl, type ApiError, type NodeInfo, type Peer, type ReceivedEvent, type Transfer } from './api';
import { ErrorBox } from './components';
import { printable } from './format';
import { NodeSection } from './sections/node';
import { PeersSection } from './sections/peers';
import { CatalogSection } from './sections/catalog';
import { SendSection } from './sections/send';
import { TransfersSection } from './sections/transfers';
import { ChunksSection } from './sections/chunks';
import { InviteSection } from './sections/invite';

export type TabId = 'node' | 'peers' | 'catalog' | 'send' | 'transfers' | 'chunks' | 'invite';

const TAB_LABELS: Record<TabId, string> = {
  node: 'This node',
  peers: 'Peers',
  catalog: 'Catalog',
  send: 'Send',
  transfers: 'Transfers',
  chunks: 'Chunks',
  invite: 'Invite',
};


export interface Notice {
  id: number;
  text: string;
  kind: 'info' | 'error';
}


function isStale(before: Transfer, t: Transfer, source: TransferSource): boolean {
  if (source === 'event' || source === 'action') return false;
  if (source === 'start') return true; // the stream already told about it
  if (before.state === 'done' && t.state !== 'done') return true;
  if (before.state === 'running' && t.state === 'running') return t.doneBytes < before.doneBytes;
  return before.state !== 'running' && t.state === 'running';
}

function tabFromHash(): TabId {
  const h = location.hash.replace(/^#/, '');
  return (Object.hasOwn(TAB_LABELS, h) ? h : 'node') as TabId;
}

export function App() {
  const [tab, setTab] = useState<TabId>(tabFromHash);
  const [node, setNode] = useState<NodeInfo | null>(null);
  const [nodeError, setNodeError] = useState<ApiError | null>(null);
  const [peers, setPeers] = useState<Peer[] | null>(null);
  const [peersError, setPeersError] = useState<ApiError | null>(null);
  const [transfers, setTransfers] = useState<Map<string, Transfer>>(new Map());
  const [live, setLive] = useState<LiveState>('connecting');
  const [notices, setNotices] = useState<Notice[]>([]);
  /** Bumped when something may have changed the catalog (a file received, a transfer done). */
  const [catalogEpoch, setCatalogEpoch] = useState(0);
  const noticeSeq = useRef(0);

  const notify = useCallback((text: string, kind: Notice['kind'] = 'info') => {
    const id = ++noticeSeq.current;
    setNotices((list) => [...list.slice(-4), { id, text, kind }]);
    window.setTimeout(() => setNotices((list) => list.filter((n) => n.id !== id)), kind === 'error' ? 15_000 : 8_000);
  }, []);

  // Transfers reach the page by several ways (the stream, the list, the answers to send, get,
  // cancel and retry), not always in order: an answer may come after the stream already told more.
  const transfersRef = useRef<Map<string, Transfer>>(new Map());
  const upsertTransfer = useCallback((t: Transfer, source: TransferSource = 'event') => {
    const before = transfersRef.current.get(t.id);
    if (before && isStale(before, t, source)) return;
    const next = new Map(transfersRef.current);
    next.set(t.id, t);
    transfersRef.current = next;
    setTransfers(next);
    if (before && before.state === 'running' && t.state !== 'running') {
      if (t.state === 'done') {
        setCatalogEpoch((e) => e + 1);
        const where = t.result?.path ? ` → ${printable(t.result.path)}` : '';
        notify(`${t.direction === 'send' ? 'Sent' : 'Downloaded'} ${printable(t.name)}${where}`);
      } else if (t.state === 'failed') {
        notify(`${t.direction === 'send' ? 'Sending' : 'Downloading'} ${printable(t.name)} failed: ${t.error?.code ?? 'error'}`, 'error');
      }
    }
  }, [notify]);

  const loadNode = useCallback(async () => {
    try {
      setNode(await api<NodeInfo>('GET', '/api/node'));
      setNodeError(null);
    } catch (e) {
      setNodeError(asError(e));
    }
  }, []);

  const loadPeers = useCallback(async () => {
    try {
      const r = await api<{ peers: Peer[] }>('GET', '/api/peers');
      setPeers(r.peers);
      setPeersError(null);
    } catch (e) {
      setPeersError(asError(e));
    }
  }, []);

  const loadTransfers = useCallback(async () => {
    try {
      const r = await api<{ transfers: Transfer[] }>('GET', '/api/transfers');
      for (const t of r.transfers) upsertTransfer(t, 'list');
    } catch {
      // Shown by the live status and the next action's error; nothing to add here.
    }
  }, [upsertTransfer]);

  useEffect(() => {
    void loadNode();
    void loadPeers();
    void loadTransfers();
  }, [loadNode, loadPeers, loadTransfers]);

  useEffect(() => {
    if (node) document.title = `p2pfx — ${node.name}`;
  }, [node]);

  // The live stream. EventSource reconnects by itself; each (re)connection reloads the list,
  // so that nothing missed while it was down stays stale.
  useEffect(() => {
    const source = new EventSource(eventsUrl());
    source.onopen = () => {
      setLive('open');
      void loadTransfers();
      void loadPeers();
    };
    source.onerror = () => setLive(source.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
    source.addEventListener('transfer', (e) => {
      try {
        upsertTransfer(JSON.parse((e as MessageEvent<string>).data) as Transfer);
      } catch {
        /* a malformed event: the next one, or the reload on reconnection, corrects the list */
      }
    });
    source.addEventListener('received', (e) => {
      try {
        const r = JSON.parse((e as MessageEvent<string>).data) as ReceivedEvent;
        const from = r.senderName ? ` from ${printable(r.senderName)}` : '';
        notify(`Received ${r.kind === 'folder' ? 'folder ' : ''}${printable(r.name)}${from} → ${printable(r.path)}`);
        setCatalogEpoch((n) => n + 1);
      } catch {
        /* ignored, as above */
      }
    });
    source.addEventListener('peers', () => void loadPeers());
    source.addEventListener('joined', (e) => {
      try {
        const j = JSON.parse((e as MessageEvent<string>).data) as { name?: string; nodeId?: string };
        notify(`${printable(j.name ?? 'A machine')} joined the network${j.nodeId ? ` (node id ${j.nodeId})` : ''}`);
      } catch {
        /* ignored, as above */
      }
    });
    return () => source.close();
  }, [loadTransfers, loadPeers, upsertTransfer, notify]);

  // Without the stream, running transfers are polled instead.
  const anyRunning = useMemo(() => [...transfers.values()].some((t) => t.state === 'running'), [transfers]);
  useEffect(() => {
    if (live === 'open' || !anyRunning) return;
    const timer = window.setInterval(() => void loadTransfers(), 2000);
    return () => window.clearInterval(timer);
  }, [live, anyRunning, loadTransfers]);

  useEffect(() => {
    const onHash = () => setTab(tabFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const tabs = useMemo<TabId[]>(() => {
    const all: TabId[] = ['node', 'peers', 'catalog', 'send', 'transfers', 'chunks'];
    if (node?.isCa) all.push('invite');
    return all;
  }, [node]);

  const current: TabId = tabs.includes(tab) ? tab : 'node';

  const select = useCallback((id: TabId, focus = false) => {
    setTab(id);
    history.replaceState(null, '', `${location.pathname}${location.search}#${id}`);
    if (focus) document.getElementById(`tab-${id}`)?.focus();
  }, []);

  const onTabKey = (e: KeyboardEvent) => {
    const i = tabs.indexOf(current);
    let next: number | null = null;
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') next = (i + 1) % tabs.length;
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') next = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = tabs.length - 1;
    if (next === null) return;
    e.preventDefault();
    select(tabs[next]!, true);
  };

  const running = [...transfers.values()].filter((t) => t.state === 'running').length;

  return (
    <div class="app">
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true">⇄</span>
          <span class="title">p2pfx</span>
          {node ? (
            <span class="top-node" data-testid="top-node-name">
              {printable(node.name)}
            </span>
          ) : null}
        </div>
        <div class={`live live-${live}`} data-testid="live-status" data-state={live} role="status">
          <span class="dot" aria-hidden="true" />
          {live === 'open' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Disconnected'}
        </div>
      </header>

      <nav class="tabs" role="tablist" aria-label="Screens" onKeyDown={onTabKey}>
        {tabs.map((id) => (
          <button
            type="button"
            role="tab"
            id={`tab-${id}`}
            key={id}
            data-testid={`tab-${id}`}
            aria-selected={current === id}
            aria-controls={current === id ? `panel-${id}` : undefined}
            tabIndex={current === id ? 0 : -1}
            onClick={() => select(id)}
          >
            {TAB_LABELS[id]}
            {id === 'transfers' && running > 0 ? (
              <span class="badge" data-testid="transfers-running" aria-label={`${running} running`}>
                {running}
              </span>
            ) : null}
          </button>
        ))}
      </nav>

      <main
        class="panel"
        role="tabpanel"
        id={`panel-${current}`}
        data-testid={`panel-${current}`}
        aria-labelledby={`tab-${current}`}
        tabIndex={0}
      >
        <ErrorBox error={nodeError} testid="node-error" />
        {current === 'node' ? <NodeSection node={node} live={live} /> : null}
        {current === 'peers' ? <PeersSection peers={peers} error={peersError} reload={loadPeers} /> : null}
        {current === 'catalog' ? (
          <CatalogSection epoch={catalogEpoch} transfers={transfers} onTransfer={upsertTransfer} />
        ) : null}
        {current === 'send' ? (
          <SendSection peers={peers} transfers={transfers} onTransfer={upsertTransfer} showTransfers={() => select('transfers', true)} />
        ) : null}
        {current === 'transfers' ? <TransfersSection transfers={transfers} onTransfer={upsertTransfer} /> : null}
        {current === 'chunks' ? <ChunksSection /> : null}
        {current === 'invite' && node?.isCa ? <InviteSection /> : null}
      </main>

      <div class="notices" aria-live="polite" data-testid="notices">
        {notices.map((n) => (
          <div class={`notice notice-${n.kind}`} key={n.id} data-testid="notice">
            <span>{n.text}</span>
            <button
              type="button"
              class="link"
              aria-label="Dismiss"
              onClick={() => setNotices((list) => list.filter((x) => x.id !== n.id))}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </div>
  );
}

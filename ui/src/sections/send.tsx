// Send files or folders: pick them (or drop them), tick the peers, Send. The page uploads the
// bytes to its own node (127.0.0.1), which then seals and sends them as `p2pfx send` does.
// Each root file is sent as a file and each folder as a folder: one transfer each.
import { useRef, useState } from 'preact/hooks';
import { api, asError, putUploadFile, type ApiError, type Peer, type Transfer } from '../api';
import type { UpsertTransfer } from '../live';
import { ErrorBox, Loading, Section } from '../components';
import { formatBytes, percent, printable, shortId } from '../format';
import { reachableText } from './peers';

interface Pick {
  /** Relative, '/'-separated: "report.pdf", "Photos/2024/a.jpg". */
  path: string;
  file: File;
}

interface Item {
  name: string;
  folder: boolean;
  files: Pick[];
  size: number;
}

interface Started {
  name: string;
  transferId: string;
}

function makeItem(name: string, folder: boolean, files: Pick[]): Item {
  return { name, folder, files, size: files.reduce((n, p) => n + p.file.size, 0) };
}

/** Files from `<input type=file webkitdirectory>` (or several folders): one item per top folder. */
function itemsFromFiles(list: FileList | File[], fromFolderPicker: boolean): Item[] {
  const loose: Item[] = [];
  const folders = new Map<string, Pick[]>();
  for (const file of Array.from(list)) {
    const rel = fromFolderPicker && file.webkitRelativePath ? file.webkitRelativePath : '';
    const parts = rel.split('/').filter(Boolean);
    if (parts.length >= 2) {
      const top = parts[0]!;
      const picks = folders.get(top) ?? [];
      picks.push({ path: parts.join('/'), file });
      folders.set(top, picks);
    } else {
      loose.push(makeItem(file.name, false, [{ path: file.name, file }]));
    }
  }
  return [...loose, ...[...folders].map(([name, picks]) => makeItem(name, true, picks))];
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function collect(entry: FileSystemEntry, prefix: string, out: Pick[]): Promise<void> {
  if (entry.isFile) {
    out.push({ path: prefix + entry.name, file: await fileOf(entry as FileSystemFileEntry) });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries hands out a directory in batches, until an empty one.
    for (;;) {
      const batch = await readBatch(reader);
      if (batch.length === 0) break;
      for (const child of batch) await collect(child, `${prefix}${entry.name}/`, out);
    }
  }
}

export function SendSection({
  peers,
  transfers,
  onTransfer,
  showTransfers,
}: {
  peers: Peer[] | null;
  transfers: Map<string, Transfer>;
  onTransfer: UpsertTransfer;
  showTransfers: () => void;
}) {
  const [items, setItems] = useState<Item[]>([]);
  const [choice, setChoice] = useState<Map<string, boolean>>(new Map());
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<{ name: string; loaded: number; total: number } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [started, setStarted] = useState<Started[]>([]);
  const [skipped, setSkipped] = useState<string[]>([]);
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const add = (more: Item[]) => {
    const empty = more.filter((i) => i.files.length === 0).map((i) => i.name);
    setSkipped(empty);
    const kept = more.filter((i) => i.files.length > 0);
    setItems((prev) => [...prev.filter((p) => !kept.some((k) => k.name === p.name)), ...kept]);
    setError(null);
  };

  const isChecked = (p: Peer) => choice.get(p.nodeId) ?? p.reachable !== false;
  const chosen = (peers ?? []).filter(isChecked);

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const dt = e.dataTransfer;
    if (!dt) return;
    // Entries must be taken while the event runs; reading them may come after.
    const entries: FileSystemEntry[] = [];
    for (const it of Array.from(dt.items)) {
      const entry = it.kind === 'file' ? it.webkitGetAsEntry?.() : null;
      if (entry) entries.push(entry);
    }
    if (entries.length === 0) {
      add(itemsFromFiles(dt.files, false));
      return;
    }
    void (async () => {
      const out: Item[] = [];
      for (const entry of entries) {
        const picks: Pick[] = [];
        try {
          await collect(entry, '', picks);
        } catch (err) {
          setError(asError(err));
          return;
        }
        out.push(makeItem(entry.name, entry.isDirectory, picks));
      }
      add(out);
    })();
  };

  const send = async () => {
    if (items.length === 0 || chosen.length === 0) return;
    setBusy(true);
    setError(null);
    const peerIds = chosen.map((p) => p.nodeId);
    const remaining = [...items];
    try {
      while (remaining.length > 0) {
        const item = remaining[0]!;
        setProgress({ name: item.name, loaded: 0, total: item.size });
        const { uploadId } = await api<{ uploadId: string }>('POST', '/api/uploads');
        let before = 0;
        for (const pick of item.files) {
          await putUploadFile(uploadId, pick.path, pick.file, (loaded) =>
            setProgress({ name: item.name, loaded: before + Math.min(loaded, pick.file.size), total: item.size }),
          );
          before += pick.file.size;
        }
        const { transfer } = await api<{ transfer: Transfer }>('POST', '/api/send', { uploadId, peers: peerIds });
        onTransfer(transfer, 'start');
        setStarted((s) => [{ name: item.name, transferId: transfer.id }, ...s].slice(0, 10));
        remaining.shift();
        setItems([...remaining]);
      }
    } catch (err) {
      setError(asError(err));
    } finally {
      setProgress(null);
      setBusy(false);
    }
  };

  const total = items.reduce((n, i) => n + i.size, 0);

  return (
    <>
      <Section title="Send">
        <div
          class={`drop${dragging ? ' dragging' : ''}`}
          data-testid="send-drop"
          onDragEnter={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragOver={(e) => {
            e.preventDefault();
            if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
          }}
          onDragLeave={(e) => {
            if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node | null)) setDragging(false);
          }}
          onDrop={onDrop}
        >
          <p class="drop-text">Drop files or folders here, or</p>
          <div class="pickers">
            <input
              ref={filesInput}
              id="send-files"
              class="visually-hidden-input"
              type="file"
              multiple
              onChange={(e) => {
                const input = e.target as HTMLInputElement;
                if (input.files) add(itemsFromFiles(input.files, false));
                input.value = '';
              }}
              data-testid="send-files"
            />
            <label for="send-files" class="button secondary">
              Choose files…
            </label>
            <input
              ref={folderInput}
              id="send-folder"
              class="visually-hidden-input"
              type="file"
              // Not in the JSX typings; every current browser has it (a property: Preact sets it so).
              {...{ webkitdirectory: true }}
              multiple
              onChange={(e) => {
                const input = e.target as HTMLInputElement;
                if (input.files) add(itemsFromFiles(input.files, true));
                input.value = '';
              }}
              data-testid="send-folder"
            />
            <label for="send-folder" class="button secondary">
              Choose a folder…
            </label>
          </div>
        </div>

        {skipped.length > 0 ? (
          <p class="muted small" role="status">
            Empty, not sent: {skipped.map(printable).join(', ')}
          </p>
        ) : null}

        {items.length > 0 ? (
          <div class="selection">
            <div class="selection-head">
              <h3>
                To send: {items.length} {items.length === 1 ? 'item' : 'items'}, {formatBytes(total)}
              </h3>
              <button type="button" class="link" onClick={() => setItems([])} disabled={busy} data-testid="send-clear">
                Clear
              </button>
            </div>
            <ul class="items" data-testid="send-selection">
              {items.map((i) => (
                <li key={i.name} data-testid="send-item" data-name={i.name}>
                  {i.folder ? <span class="tag folder">folder</span> : null}
                  <span class="name">{printable(i.name)}{i.folder ? '/' : ''}</span>
                  <span class="muted">
                    {i.folder ? `${i.files.length} files, ` : ''}
                    {formatBytes(i.size)}
                  </span>
                  <button
                    type="button"
                    class="link"
                    disabled={busy}
                    aria-label={`Remove ${printable(i.name)}`}
                    onClick={() => setItems((list) => list.filter((x) => x !== i))}
                  >
                    ×
                  </button>
                </li>
              ))}
            </ul>
          </div>
        ) : null}

        <fieldset class="peers-pick" data-testid="send-peers">
          <legend>To peers</legend>
          {peers === null ? (
            <Loading what="peers" />
          ) : peers.length === 0 ? (
            <p class="muted">No peer in the book: add one in Peers.</p>
          ) : (
            peers.map((p) => (
              <label class="check" key={p.nodeId}>
                <input
                  type="checkbox"
                  checked={isChecked(p)}
                  onChange={(e) => setChoice((m) => new Map(m).set(p.nodeId, (e.target as HTMLInputElement).checked))}
                  data-testid="send-peer"
                  data-node-id={p.nodeId}
                />
                <span>
                  {printable(p.name)} <code class="muted">{shortId(p.nodeId)}</code>{' '}
                  <span class={p.reachable === true ? 'ok small' : p.reachable === false ? 'bad small' : 'muted small'}>
                    {reachableText(p.reachable)}
                  </span>
                </span>
              </label>
            ))
          )}
        </fieldset>

        <div class="row">
          <button
            type="button"
            onClick={() => void send()}
            disabled={busy || items.length === 0 || chosen.length === 0}
            data-testid="send-submit"
          >
            {busy ? 'Sending…' : chosen.length > 1 ? `Send to ${chosen.length} peers` : 'Send'}
          </button>
          {progress ? (
            <span class="upload" role="status" data-testid="send-upload">
              Handing {printable(progress.name)} to this node…{' '}
              <progress max={100} value={percent(progress.loaded, progress.total)} aria-label={`Upload of ${printable(progress.name)}`} />{' '}
              {percent(progress.loaded, progress.total)} %
            </span>
          ) : null}
        </div>
        <ErrorBox error={error} testid="send-error" />
      </Section>

      {started.length > 0 ? (
        <Section title="Just sent">
          <ul class="items" data-testid="send-started">
            {started.map((s) => {
              const t = transfers.get(s.transferId);
              return (
                <li key={s.transferId} data-testid="send-started-item" data-transfer-id={s.transferId} data-state={t?.state ?? 'running'}>
                  <span class="name">{printable(s.name)}</span>
                  <span class="muted">
                    {t ? (t.state === 'running' ? `${percent(t.doneBytes, t.totalBytes)} %` : t.state) : 'starting'}
                  </span>
                </li>
              );
            })}
          </ul>
          <button type="button" class="secondary" onClick={showTransfers} data-testid="send-show-transfers">
            Show transfers
          </button>
        </Section>
      ) : null}
    </>
  );
}

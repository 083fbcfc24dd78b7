// The node's local JSON API (src/ui/server.ts), as the page uses it. Every request carries the
// token the server put in the page (<meta name="p2pfx-token">) as the x-p2pfx-token header; the
// event stream, which cannot carry headers, has it in its query string. Once read, the token is
// taken out of the address bar.

import type { ApiErrorBody } from '../../src/ui/api-types.js';

// The API's shapes are declared once, beside the server that answers them.
export type { ApiErrorBody, Catalog, CatalogFile, Chunks, Invite, NodeInfo, Peer, ReceivedEvent, Transfer, TransferState } from '../../src/ui/api-types.js';

/** An error the API answered (`{error: {code, message, hint}}`), or one of the page's own. */
export class ApiError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly status: number;

  constructor(body: ApiErrorBody, status: number) {
    super(body.message);
    this.name = 'ApiError';
    this.code = body.code;
    this.hint = body.hint ?? '';
    this.status = status;
  }
}

/** The token: from the page the server rendered, else from ?token= (the Vite dev server). */
export function readToken(doc: Document = document, loc: Location = location): string {
  const meta = doc.querySelector<HTMLMetaElement>('meta[name="p2pfx-token"]');
  const fromMeta = meta?.content ?? '';
  if (fromMeta) return fromMeta;
  return new URLSearchParams(loc.search).get('token') ?? '';
}

/**
 * The address without its `token` parameter (other parameters and the hash kept), or null when
 * it has none. Once read, the token has no business in the address bar: it would show in
 * screenshots, screen sharing and any copy of the URL. A reload then lands on the server's page
 * that says how to open the UI (DESIGN "Web interface").
 */
export function withoutToken(loc: Pick<Location, 'pathname' | 'search' | 'hash'>): string | null {
  const params = new URLSearchParams(loc.search);
  if (!params.has('token')) return null;
  params.delete('token');
  const search = params.toString();
  return `${loc.pathname}${search ? `?${search}` : ''}${loc.hash}`;
}

const token = readToken();
const cleaned = withoutToken(location);
if (cleaned !== null) history.replaceState(history.state, '', cleaned);

export const TOKEN_HEADER = 'x-p2pfx-token';

function offline(cause: unknown): ApiError {
  const detail = cause instanceof Error && cause.message ? ` (${cause.message})` : '';
  return new ApiError(
    {
      code: 'UI_OFFLINE',
      message: `the p2pfx node behind this page does not answer${detail}`,
      hint: 'Check that `p2pfx ui` (or `p2pfx serve --ui`) still runs, then reload the page.',
    },
    0,
  );
}

async function errorFrom(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const err = (body as { error?: Partial<ApiErrorBody> } | undefined)?.error;
  if (err && typeof err.code === 'string' && typeof err.message === 'string') {
    return new ApiError({ code: err.code, message: err.message, hint: typeof err.hint === 'string' ? err.hint : '' }, res.status);
  }
  return new ApiError({ code: 'HTTP_' + res.status, message: `the node answered ${res.status} ${res.statusText}`, hint: '' }, res.status);
}

export async function api<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { [TOKEN_HEADER]: token, accept: 'application/json' };
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'same-origin' });
  } catch (cause) {
    throw offline(cause);
  }
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

/**
 * PUTs one file's bytes into an upload (XMLHttpRequest, for upload progress; fetch has none).
 * `path` is relative and '/'-separated ("report.pdf", "Photos/a.jpg").
 */
export function putUploadFile(
  uploadId: string,
  path: string,
  file: Blob,
  onProgress: (loaded: number) => void,
  signal?: AbortSignal,
): Promise<{ path: string; size: number }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `/api/uploads/${encodeURIComponent(uploadId)}/file?path=${encodeURIComponent(path)}`);
    xhr.setRequestHeader(TOKEN_HEADER, token);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader('accept', 'application/json');
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onerror = () => reject(offline(new Error('upload failed')));
    xhr.onabort = () => reject(new ApiError({ code: 'UI_ABORTED', message: 'the upload was cancelled', hint: '' }, 0));
    xhr.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size);
        resolve(body as { path: string; size: number });
        return;
      }
      const err = (body as { error?: Partial<ApiErrorBody> } | undefined)?.error;
      reject(
        err && typeof err.code === 'string' && typeof err.message === 'string'
          ? new ApiError({ code: err.code, message: err.message, hint: err.hint ?? '' }, xhr.status)
          : new ApiError({ code: 'HTTP_' + xhr.status, message: `the node answered ${xhr.status}`, hint: '' }, xhr.status),
      );
    };
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

export function eventsUrl(): string {
  return `/api/events?token=${encodeURIComponent(token)}`;
}

export function asError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new ApiError({ code: 'UI_ERROR', message, hint: 'This is a bug in the p2pfx page; reload it, and report it if it comes back.' }, 0);
}

// Small pieces shared by the sections.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiErrorBody } from './api';
import { qrModules } from './qr';
import { printable } from './format';

/** `error CODE: message` and its hint, as the CLI prints them. */
export function ErrorBox({ error, testid }: { error: ApiErrorBody | null | undefined; testid: string }) {
  if (!error) return null;
  return (
    <div class="error" role="alert" data-testid={testid} data-code={error.code}>
      <p class="error-text" data-testid="error-text">
        <strong>error {error.code}:</strong> {printable(error.message)}
      </p>
      {error.hint ? (
        <p class="error-hint" data-testid="error-hint">
          hint: {printable(error.hint)}
        </p>
      ) : null}
    </div>
  );
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard permission (or an older browser): the selection way.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

export function CopyButton({ text, label, testid }: { text: string; label: string; testid: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const onClick = async () => {
    const ok = await copyText(text);
    setState(ok ? 'copied' : 'failed');
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setState('idle'), 2500);
  };
  return (
    <span class="copy">
      <button type="button" class="secondary" onClick={onClick} aria-label={label} data-testid={testid} data-state={state}>
        {state === 'copied' ? 'Copied' : 'Copy'}
      </button>
      <span class="visually-hidden" aria-live="polite">
        {state === 'copied' ? 'Copied to the clipboard' : state === 'failed' ? 'Could not copy: select the text and copy it by hand' : ''}
      </span>
    </span>
  );
}

export function QrCode({ text, label, testid }: { text: string; label: string; testid: string }) {
  const { size, path } = qrModules(text);
  const quiet = 4; // the quiet zone the standard asks for, in modules
  const box = size + 2 * quiet;
  return (
    <svg
      class="qr"
      data-testid={testid}
      role="img"
      aria-label={label}
      viewBox={`${-quiet} ${-quiet} ${box} ${box}`}
      shape-rendering="crispEdges"
      xmlns="http://www.w3.org/2000/svg"
    >
      <rect x={-quiet} y={-quiet} width={box} height={box} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}

export function Section({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="card">
      <div class="card-head">
        <h2>{title}</h2>
        {actions ? <div class="card-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

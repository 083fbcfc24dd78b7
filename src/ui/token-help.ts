// What the web UI answers a browser that asks for the page without its token (a bookmark, a
// reload, a URL typed by hand): one fixed page saying how to open the UI, instead of raw JSON.
// It is a constant — nothing from the request is in it, so nothing can be reflected — and it
// needs no script: its only inline style is allowed by its hash, everything else by nothing.
import { createHash } from 'node:crypto';

const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}code{font-size:.95em}';

export const TOKEN_HELP_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="color-scheme" content="light dark">
    <title>p2pfx: open the web UI from its link</title>
    <style>${STYLE}</style>
  </head>
  <body>
    <h1>Open p2pfx from its link</h1>
    <p>This is the p2pfx web UI of this machine. It opens only through the link that
      <code>p2pfx ui</code> (or <code>p2pfx serve --ui</code>) prints when it starts: the link
      carries a secret token, made anew each time it starts, so that no other web page or
      program can use the UI.</p>
    <p>The token leaves the address bar once the page is open, so a reload, a bookmark or an
      address typed by hand lands here.</p>
    <h2>What to do</h2>
    <ul>
      <li>Look at the terminal where <code>p2pfx ui</code> runs and open the link it printed,
        <code>http://127.0.0.1:PORT/?token=…</code>.</li>
      <li>If it no longer runs, or its terminal is gone, start it again: <code>p2pfx ui</code>
        prints a new link and opens it in the browser.</li>
    </ul>
  </body>
</html>
`;

/** The headers of the page above: no script, no request of any kind, never framed or cached. */
export const TOKEN_HELP_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

// GET /docs: the node API described for a person, as one HTML page made from the same OpenAPI
// document as /openapi.json (so from the route schemas). No scripts, no assets to serve: the
// page lists each route with its summary, parameters, body and answers.

interface Operation {
  summary?: string;
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: { type?: unknown; pattern?: string; maximum?: number } }>;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
}

interface OpenApiDocument {
  info?: { title?: string; version?: string; description?: string };
  paths?: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'head', 'post', 'put', 'delete', 'patch'];

function esc(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function parameters(op: Operation): string {
  return (op.parameters ?? []).map((p) => {
    const rule = p.schema?.pattern !== undefined ? ` ${p.schema.pattern}` : p.schema?.maximum !== undefined ? ` ≤ ${p.schema.maximum}` : '';
    return `<code>${esc(p.name)}</code> (${esc(p.in)}${p.required === true ? ', required' : ''}${esc(rule)})`;
  }).join('<br>');
}

function body(op: Operation): string {
  const types = Object.keys(op.requestBody?.content ?? {});
  return types.map((t) => `<code>${esc(t)}</code>`).join(' ');
}

export function renderApiDocs(doc: OpenApiDocument): string {
  const rows: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (op === undefined) continue;
      rows.push(`<tr><td><b>${method.toUpperCase()}</b></td><td><code>${esc(path)}</code></td><td>${esc(op.summary ?? '')}</td>`
        + `<td>${parameters(op)}</td><td>${body(op)}</td><td>${Object.keys(op.responses ?? {}).map(esc).join(' ')}</td></tr>`);
    }
  }
  const title = esc(doc.info?.title ?? 'API');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;max-width:72rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ccc;padding:.4rem .6rem;text-align:left;vertical-align:top}code{font-size:.9em}</style></head>
<body><h1>${title} <small>${esc(doc.info?.version ?? '')}</small></h1><p>${esc(doc.info?.description ?? '')}</p>
<p>The machine-readable description: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3). Errors are <code>{"error": {"code", "message"}}</code>, codes in docs/errors.md.</p>
<table><thead><tr><th>method</th><th>path</th><th>what</th><th>parameters</th><th>body</th><th>answers</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table></body></html>
`;
}

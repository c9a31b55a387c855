type Operation = {
  summary?: string;
  parameters?: { name: string; in: string; required?: boolean; description?: string }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
  security?: unknown[];
};

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * The OpenAPI document as a page of its own: every route with its parameters, request body schema and answers. No
 * script and no asset from anywhere else: the page is this HTML and its inline style.
 */
export function docsPage(doc: {
  info: { title: string; description: string };
  paths: Record<string, Record<string, Operation>>;
}): string {
  const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const params = (op.parameters ?? [])
        .map(
          (p) =>
            `<li><code>${escape(p.name)}</code> (${p.in}${p.required ? ', required' : ''})${p.description ? `: ${escape(p.description)}` : ''}</li>`,
        )
        .join('');
      const body = Object.entries(op.requestBody?.content ?? {})
        .map(([type, c]) => `<p>Body <code>${type}</code>:</p><pre>${escape(JSON.stringify(c.schema, null, 2))}</pre>`)
        .join('');
      const answers = Object.entries(op.responses ?? {})
        .map(([status, r]) => `<li><code>${status}</code> ${escape(r.description ?? '')}</li>`)
        .join('');
      const open = op.security && op.security.length === 0 ? ' <span class="open">no key</span>' : '';
      return `<section class="route"><h2><span class="method">${method.toUpperCase()}</span> <code>${escape(path)}</code>${open}</h2>
<p>${escape(op.summary ?? '')}</p>${params ? `<ul>${params}</ul>` : ''}${body}<ul>${answers}</ul></section>`;
    }),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(doc.info.title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.route{border-top:1px solid #ddd;padding:.5rem 0}.method{display:inline-block;min-width:4.5rem;font-weight:700}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:12px}.open{font-size:12px;color:#666}
</style></head>
<body><h1>${escape(doc.info.title)}</h1><p>${escape(doc.info.description)}</p>
<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a>.</p>
${routes.join('\n')}
</body></html>`;
}

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { registeredRoutes } from '../../src/openapi/registered-routes';
import { startStack, type Stack } from '../support/stack';

/** `/v1/batches/:id/cancel` and `/v1/batches/{batch_id}/cancel` alike: parameters named the same. */
const normalized = (path: string) => path.replace(/\{[^}]+\}/g, '{}').replace(/:[^/]+/g, '{}');

/**
 * Validates an OpenAPI document with @seriousme/openapi-schema-validator (OpenAPI 3.0 and 3.1). The package is an ES
 * module, which this CommonJS test run cannot load, so it runs in a node process of its own.
 */
function validateOpenApi(doc: unknown): { valid: boolean; errors?: unknown } {
  const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
  try {
    writeFileSync(join(dir, 'doc.json'), JSON.stringify(doc));
    const script =
      "import { Validator } from '@seriousme/openapi-schema-validator';" +
      "import { readFileSync } from 'node:fs';" +
      'const r = await new Validator().validate(JSON.parse(readFileSync(process.argv[1], "utf8")));' +
      'console.log(JSON.stringify({ valid: r.valid, errors: r.errors }));';
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, join(dir, 'doc.json')], {
      cwd: join(__dirname, '..', '..'),
      encoding: 'utf8',
    });
    return JSON.parse(out) as { valid: boolean; errors?: unknown };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Debian's chromium, as a real browser for the docs page (the install puts it at /usr/bin/chromium). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('the OpenAPI document and the docs page', () => {
  let stack: Stack;
  let root: string;
  beforeAll(async () => {
    stack = await startStack({ API_KEYS: 'k:team' }, { worker: false });
    root = stack.baseURL.replace(/\/v1$/, '');
  });
  afterAll(() => stack.close());

  const documentPaths = async () => {
    const doc = (await (await fetch(`${root}/openapi.json`)).json()) as { paths: Record<string, object> };
    return Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${normalized(path)}`),
    );
  };

  it('is a valid OpenAPI 3.1 document, open without a key', async () => {
    const res = await fetch(`${root}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string };
    expect(doc.openapi).toBe('3.1.0');
    const result = validateOpenApi(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    // The validator does refuse a broken document.
    expect(validateOpenApi({ ...doc, openapi: undefined }).valid).toBe(false);
  });

  it('describes every registered route, and nothing that is not one', async () => {
    const registered = registeredRoutes(stack.app.getHttpAdapter().getInstance())
      .filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS')
      .map((r) => `${r.method} ${normalized(r.url)}`);
    expect(registered.length).toBeGreaterThan(10);
    const documented = await documentPaths();
    expect([...new Set(registered)].sort()).toEqual([...new Set(documented)].sort());
  });

  it('takes its request schemas from the validating zod schemas (a limit the API enforces is in the document)', async () => {
    const doc = (await (await fetch(`${root}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: never }> } }>>;
    };
    const create = doc.paths['/v1/batches'].post.requestBody!.content['application/json'].schema as {
      properties: { endpoint: { enum: string[] }; completion_window: { const: string } };
      required: string[];
    };
    expect(create.properties.endpoint.enum).toContain('/v1/chat/completions');
    expect(create.properties.completion_window.const).toBe('24h');
    expect(create.required).toEqual(expect.arrayContaining(['input_file_id', 'endpoint', 'completion_window']));
    const rerun = doc.paths['/v1/batches/{batch_id}/rerun'].post.requestBody!.content['application/json'].schema as {
      properties: { lines: { enum: string[] } };
    };
    expect(rerun.properties.lines.enum).toEqual(['failed', 'unfinished']);
  });

  describe('in a real browser', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    });
    afterAll(() => browser?.close());

    it('/docs lists every route, with nothing loaded from elsewhere', async () => {
      const page = await browser.newPage();
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));
      const res = await page.goto(`${root}/docs`);
      expect(res?.status()).toBe(200);
      const headings = await page.locator('section.route h2').allInnerTexts();
      const shown = headings.map((h) =>
        normalized(
          h
            .replace(/\s+no key$/, '')
            .replace(/\s+/, ' ')
            .trim(),
        ),
      );
      expect(shown.sort()).toEqual((await documentPaths()).sort());
      expect(await page.locator('body').innerText()).toContain('POST /v1/batches/{batch_id}/rerun');
      expect(requested.every((u) => u.startsWith(root))).toBe(true);
      await page.close();
    });
  });
});

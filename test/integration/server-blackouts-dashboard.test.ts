/**
 * The dashboard's #/blackouts in real Chromium against a real server: the empty state, creating a
 * window that is in force at once (the page says so and the API refuses runs), a refused form showing
 * the field the server named, deleting it, and no sideways scroll on a phone. The dashboard is bundled
 * from the checkout's sources into a temp dir (as scripts/build-dashboard.mjs does), so the test does
 * not depend on an earlier `npm run build`; its page is served beside the real server's API.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { build } from 'esbuild';
import { Hono } from 'hono';
import { mountDashboard } from '../../src/server/dashboard.js';
import { chromiumMissing, guardedContext, launchChromium, overflow } from '../helpers/chromium.js';
import { markerExperiment, startTestServer } from '../helpers/serve.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-artifacts', 'dashboard');

/** The dashboard bundled into `dir` (index.html + assets/), as the build script lays it out. */
async function bundle(dir: string): Promise<void> {
  const assets = join(dir, 'assets');
  await mkdir(assets, { recursive: true });
  const result = await build({
    entryPoints: [join(ROOT, 'dashboard', 'src', 'main.tsx')],
    bundle: true,
    format: 'esm',
    target: ['chrome110'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    outdir: assets,
    metafile: true,
    logLevel: 'error',
  });
  const outputs = Object.keys(result.metafile.outputs);
  const script = outputs.find((p) => p.endsWith('.js'));
  const style = outputs.find((p) => p.endsWith('.css'));
  assert.ok(script && style, `one script and one stylesheet: ${outputs.join(', ')}`);
  await copyFile(join(ROOT, 'dashboard', 'favicon.svg'), join(assets, 'favicon.svg'));
  const html = (await readFile(join(ROOT, 'dashboard', 'index.html'), 'utf8'))
    .replace('%SCRIPT%', `/assets/${basename(script)}`)
    .replace('%STYLE%', `/assets/${basename(style)}`)
    .replace('%ICON%', '/assets/favicon.svg');
  await writeFile(join(dir, 'index.html'), html);
}

test('#/blackouts: empty, create (in force at once), a refused form, delete; fits a phone', {
  skip: chromiumMissing,
}, async () => {
  const t = await startTestServer({ serve: { blackoutPollMs: 200 } });
  const dir = await mkdtemp(join(tmpdir(), 'faultline-blackouts-dashboard-'));
  const problems: string[] = [];
  let front: ReturnType<typeof serve> | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  try {
    await bundle(dir);
    await mkdir(ARTIFACTS, { recursive: true });
    // The page from the temp bundle, the API from the real server (same request, loopback origin).
    const app = new Hono();
    app.all('/api/*', async (c) => {
      const u = new URL(c.req.url);
      const headers = new Headers(c.req.raw.headers);
      headers.delete('host');
      const body = c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : await c.req.arrayBuffer();
      const res = await fetch(`${t.url}${u.pathname}${u.search}`, { method: c.req.method, headers, body });
      return new Response(res.status === 204 ? null : await res.arrayBuffer(), {
        status: res.status,
        headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' },
      });
    });
    mountDashboard(app, { dir });
    front = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    const up = await t.api('POST', '/api/experiments', {
      name: 'target',
      format: 'yaml',
      source: markerExperiment(join(t.dir, 'never.marker')),
    });
    assert.equal(up.status, 201, up.text);

    browser = await launchChromium();
    const context = await guardedContext(browser, url, problems);
    const page = await context.newPage();
    await page.goto(`${url}/#/blackouts`);
    await page.getByRole('heading', { name: 'Blackout windows' }).waitFor();
    await page.getByText('No blackout is in force: runs may start.').waitFor();
    await page.getByText('No blackout window: create one below.').waitFor();

    const form = page.locator('form.blackout-form');
    // A refused form shows the server's message and the field it names.
    await form.getByLabel('Name').fill('bad name');
    await form.getByRole('button', { name: 'Create' }).click();
    await form
      .getByRole('alert')
      .getByText(/^Error 400/)
      .waitFor();
    await page.locator('.issues code', { hasText: 'name' }).first().waitFor();

    const minute = (ms: number) => new Date(ms).toISOString().slice(0, 16);
    await form.getByLabel('Name').fill('release-night');
    await form.getByLabel('Time zone').fill('UTC');
    await form.getByLabel(/^From/).fill(minute(Date.now() - 60_000));
    await form.getByLabel(/^To/).fill(minute(Date.now() + 3_600_000));
    await form.getByLabel(/^Reason/).fill('v4 release');
    await form.getByRole('button', { name: 'Create' }).click();
    await page.getByText('release-night created.').waitFor();
    await page.locator('.blackout-now.active', { hasText: 'blackout release-night' }).waitFor();
    await page.locator('tr.in-force', { hasText: 'release-night' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'blackouts.png'), fullPage: true });
    const refused = await t.api('POST', '/api/runs', { experiment: 'target' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'blackout');

    await page.setViewportSize({ width: 390, height: 844 });
    const o = await overflow(page);
    assert.ok(o.scroll <= o.width, `no sideways scroll on a phone: ${o.wide.join('; ')}`);
    await page.screenshot({ path: join(ARTIFACTS, 'blackouts-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });

    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete release-night' }).click();
    await page.getByText('No blackout is in force: runs may start.').waitFor();
    assert.equal((await t.api('GET', '/api/blackouts')).body.windows.length, 0);
    assert.deepEqual(problems, []);
  } finally {
    await browser?.close();
    if (front) {
      const s = front;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        if ('closeAllConnections' in s) s.closeAllConnections();
      });
    }
    await t.close();
    await rm(dir, { recursive: true, force: true });
  }
});

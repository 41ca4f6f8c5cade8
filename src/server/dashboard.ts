/**
 * The dashboard's files on the API's port: dist/dashboard/ as scripts/build-dashboard.mjs builds it (an
 * index.html and content-hashed assets), read once when mounted and served from memory. The folder is
 * found from this module (dist/server/ when built, src/server/ under tsx: both are two levels below the
 * package), so the package serves what it ships and nothing is fetched from elsewhere.
 *
 * Assets are named by their content, so browsers may keep them for good; the index is revalidated every
 * time, so a new build is picked up. Every response carries a Content-Security-Policy that lets the page
 * load only its own files and talk only to its own server: no inline script, no other origin, no frames.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';

/** Where the built dashboard is, whether this module runs from dist/ or from src/. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));

/** Only the server's own files and API; `data:` images for the icon a browser may inline. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';

interface Files {
  index: Buffer;
  assets: Map<string, { body: Buffer; type: string }>;
}

function load(dir: string): Files | undefined {
  let index: Buffer;
  try {
    index = readFileSync(join(dir, 'index.html'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const assets = new Map<string, { body: Buffer; type: string }>();
  let names: string[] = [];
  try {
    names = readdirSync(join(dir, 'assets'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { body: readFileSync(join(dir, 'assets', name)), type });
  }
  return { index, assets };
}

const mounted = new WeakSet<object>();

export interface DashboardOptions {
  /** The built dashboard (default DASHBOARD_DIR); tests may point elsewhere. */
  dir?: string;
}

/**
 * Serves the dashboard at `/` (and its assets at `/assets/*`) on `app`. Mounting twice is harmless.
 * Without a build (a checkout where `npm run build` has not run) `/` answers 503 saying so.
 *
 * @example
 * const app = createApp({ store, runner, serverId });
 * mountDashboard(app);
 */
export function mountDashboard(app: Hono<any, any, any>, options: DashboardOptions = {}): void {
  if (mounted.has(app)) return;
  mounted.add(app);
  const files = load(options.dir ?? DASHBOARD_DIR);

  const send = (c: Context, body: Buffer | string, type: string, cache: string, status: 200 | 503 = 200) => {
    c.header('Content-Security-Policy', DASHBOARD_CSP);
    c.header('Content-Type', type);
    c.header('Cache-Control', cache);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    return c.body(typeof body === 'string' ? body : new Uint8Array(body), status);
  };

  const index = (c: Context) =>
    files
      ? send(c, files.index, 'text/html; charset=utf-8', 'no-cache')
      : send(
          c,
          'The dashboard is not built: run `npm run build` (it builds dist/dashboard/). The API is at /api.\n',
          'text/plain; charset=utf-8',
          'no-store',
          503,
        );
  app.get('/', index);
  app.get('/index.html', index);
  app.get('/assets/:name', (c) => {
    // Only files of the build, by exact name: a path cannot reach anything else.
    const asset = files?.assets.get(c.req.param('name'));
    if (!asset) return c.notFound();
    return send(c, asset.body, asset.type, IMMUTABLE);
  });
}

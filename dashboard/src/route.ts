/**
 * Routing by the URL's hash (`#/runs/ID`, `#/runs?verdict=failed`): the server serves one page and every
 * view is a link that can be bookmarked, opened in a new tab or reached with the browser's back button.
 */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** The path's segments: `#/runs/abc` is ['runs', 'abc']. */
  parts: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = raw.split('?', 2);
  return {
    parts: path
      .split('/')
      .filter((p) => p !== '')
      .map((p) => decodeURIComponent(p)),
    query: new URLSearchParams(search),
  };
}

export function href(parts: readonly string[], query?: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#/${parts.map(encodeURIComponent).join('/')}${s === '' ? '' : `?${s}`}`;
}

export function navigate(to: string): void {
  window.location.hash = to.replace(/^#/, '');
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

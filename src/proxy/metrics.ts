/**
 * Prometheus text exposition of the proxies' counters. The counters are plain
 * numbers bumped on the hot path; everything here happens at scrape time.
 * Byte counters keep Toxiproxy's names and labels, so its dashboards work.
 */
import { Exposition, labels } from '../core/prom-text.js';
import type { ProxyServer } from './proxy.js';

/** Renders every proxy's metrics (proxies in name order). */
export function renderMetrics(proxies: readonly ProxyServer[]): string {
  const out = new Exposition();
  const family = (name: string, type: 'counter' | 'gauge', help: string, rows: [string, number][]) =>
    out.family(name, type, help, rows);
  const byteRows = (kind: 'received' | 'sent') =>
    proxies.flatMap((p) =>
      (['downstream', 'upstream'] as const).map((direction): [string, number] => [
        labels({ direction, listener: p.listen, proxy: p.name, upstream: p.upstream }),
        p.bytes[direction][kind],
      ]),
    );
  family(
    'toxiproxy_proxy_received_bytes_total',
    'counter',
    'The total bytes received from the source, per proxy and direction.',
    byteRows('received'),
  );
  family(
    'toxiproxy_proxy_sent_bytes_total',
    'counter',
    'The total bytes sent to the destination, per proxy and direction.',
    byteRows('sent'),
  );
  family(
    'faultline_proxy_connections_open',
    'gauge',
    'Connections currently open through the proxy.',
    proxies.map((p) => [labels({ proxy: p.name }), p.connections.size]),
  );
  family(
    'faultline_proxy_connections_total',
    'counter',
    'Connections accepted by the proxy.',
    proxies.map((p) => [labels({ proxy: p.name }), p.connectionsTotal]),
  );
  family(
    'faultline_proxy_toxics_active',
    'gauge',
    'Toxics currently configured on the proxy.',
    proxies.map((p) => [labels({ proxy: p.name }), p.toxics.upstream.length + p.toxics.downstream.length]),
  );
  family(
    'faultline_proxy_toxic_applied_total',
    'counter',
    'Connection directions a toxic was applied to (its toxicity roll succeeded).',
    proxies.flatMap((p) =>
      [...p.toxics.upstream, ...p.toxics.downstream].map((t): [string, number] => [
        labels({ proxy: p.name, toxic: t.name, type: t.kind.type }),
        t.applied,
      ]),
    ),
  );
  return out.toString();
}

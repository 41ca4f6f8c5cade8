/** `network.latency`: delays outgoing packets (netem), with optional jitter. */
import { z } from 'zod';
import { CorrelationField, MillisField, netemKind, netemScopeShape } from './netem.js';

export const LatencyArgsSchema = z.strictObject({
  ...netemScopeShape,
  delay: MillisField("delay added to every outgoing packet (ms, or '100ms', '0.5s')", 60_000),
  jitter: MillisField(
    "random variation of the delay, normally distributed (ms, or '10ms'); default 0",
    60_000,
  ).optional(),
  correlation: CorrelationField(
    "how much (0-100 %) each packet's jitter follows the previous one's (tc's delay correlation); acts with jitter only",
  ).optional(),
});

export const latencyKind = netemKind({
  kind: 'network-latency',
  name: 'latency',
  doc: 'Delays outgoing packets on an interface (netem), with optional jitter. Needs sch_netem; without it, use the proxy latency toxic.',
  args: LatencyArgsSchema,
  label: (a) => `latency ${a.delay}ms${a.jitter ? ` +/- ${a.jitter}ms` : ''}`,
  spec: (a) => ({ delayMs: a.delay, jitterMs: a.jitter, delayCorrelation: a.correlation }),
});

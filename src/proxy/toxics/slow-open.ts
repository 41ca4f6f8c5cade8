import { z } from 'zod';
import { attr, type ConnectGate, defineToxic } from '../toxic.js';

const attributes = z.object({
  delay: attr.int('milliseconds between the accept and the upstream dial; no data flows meanwhile'),
});

/**
 * Faultline: a slow connection open. The client's connection is accepted but
 * the upstream is dialled `delay` ms later, and no data flows either way until
 * then (client bytes wait in the kernel). Live connections are not affected.
 * Removing the toxic (a DELETE, /reset, a halt) ends the wait of connections
 * still held by it at once: they dial then.
 */
export const slowOpen = defineToxic({
  type: 'slow_open',
  goName: 'SlowOpenToxic',
  summary: 'delays the upstream dial (and all data) of new connections by delay ms',
  attributes,
  create(initial, link) {
    // Aborted when the toxic leaves this link (flush: removed or rolled off; dispose: connection gone).
    const released = new AbortController();
    return {
      write: (chunk, at) => link.push(chunk, at),
      onConnect: (gate: ConnectGate) => gate.delay(initial.delay, released.signal),
      flush: () => released.abort(),
      dispose: () => released.abort(),
    };
  },
});

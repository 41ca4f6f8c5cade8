import { z } from 'zod';
import { attr, type ConnectGate, defineToxic } from '../toxic.js';

const attributes = z.object({
  delay: attr.int('milliseconds between the accept and the upstream dial; no data flows meanwhile'),
});

/**
 * Faultline: a slow connection open. The client's connection is accepted but
 * the upstream is dialled `delay` ms later, and no data flows either way until
 * then (client bytes wait in the kernel). Live connections are not affected.
 */
export const slowOpen = defineToxic({
  type: 'slow_open',
  goName: 'SlowOpenToxic',
  summary: 'delays the upstream dial (and all data) of new connections by delay ms',
  attributes,
  create(initial, link) {
    return {
      write: (chunk, at) => link.push(chunk, at),
      onConnect: (gate: ConnectGate) => gate.delay(initial.delay),
    };
  },
});

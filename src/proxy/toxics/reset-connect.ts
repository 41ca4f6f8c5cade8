import { z } from 'zod';
import { type ConnectGate, defineToxic } from '../toxic.js';

/**
 * Faultline: refuses new connections. A connection opened while the toxic
 * exists (and its toxicity roll succeeds: toxicity is the probability) is reset
 * (RST) right after the accept, before the upstream is dialled; the client sees
 * ECONNRESET. A true ECONNREFUSED is impossible on a listening socket (the
 * kernel completes the handshake); take the proxy down (`enabled: false`) for
 * that. Live connections are not affected.
 */
export const resetConnect = defineToxic({
  type: 'reset_connect',
  goName: 'ResetConnectToxic',
  summary: 'resets new connections at connect (toxicity = probability)',
  attributes: z.object({}),
  create: (_attributes, link) => ({
    write: (chunk, at) => link.push(chunk, at),
    onConnect: (gate: ConnectGate) => gate.reset(),
  }),
});

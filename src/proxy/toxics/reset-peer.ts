import { z } from 'zod';
import { attr, defineToxic } from '../toxic.js';

const attributes = z.object({
  timeout: attr.int(
    'milliseconds between the first data (or end) on the link and the reset (0 or less: at once)',
    { negative: true },
  ),
});

/**
 * Waits for the first chunk or end-of-stream on the link, then `timeout` ms,
 * then resets the connection: a real RST to both peers (`resetAndDestroy`),
 * whether the toxic was there when the connection opened or added later.
 * Data arriving meanwhile is dropped. An idle link is never reset.
 */
export const resetPeer = defineToxic({
  type: 'reset_peer',
  goName: 'ResetToxic',
  summary: 'resets the connection (RST) timeout ms after the first data',
  attributes,
  create(initial, link) {
    let ms = initial.timeout;
    let timer: unknown = null;
    let triggered = false;
    const trigger = () => {
      if (triggered) return;
      triggered = true;
      if (ms <= 0) link.reset();
      else timer = link.clock.setTimeout(() => link.reset(), ms);
    };
    const stop = () => {
      if (timer !== null) link.clock.clearTimeout(timer);
      timer = null;
    };
    return {
      write: trigger,
      end: trigger,
      update: (next) => {
        ms = next.timeout;
      },
      flush: stop,
      dispose: stop,
    };
  },
});

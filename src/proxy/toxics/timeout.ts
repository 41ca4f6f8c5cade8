import { z } from 'zod';
import { attr, defineToxic } from '../toxic.js';

const attributes = z.object({
  timeout: attr.int(
    'milliseconds after which the connection is closed; 0 (or less) = never. All data is dropped meanwhile',
    { negative: true },
  ),
});

/**
 * Drops all data (a black hole) and closes the connection `timeout` ms after
 * the toxic started on the link (connection open, toxic added or updated), not
 * after the last byte; 0 never closes. Removing it closes the connections it
 * was active on, as in Toxiproxy: the data it dropped is gone for good.
 */
export const timeout = defineToxic({
  type: 'timeout',
  goName: 'TimeoutToxic',
  summary: 'drops data and closes the connection after timeout ms (0 = never)',
  attributes,
  create(initial, link) {
    let timer: unknown = null;
    const stop = () => {
      if (timer !== null) link.clock.clearTimeout(timer);
      timer = null;
    };
    const arm = (ms: number) => {
      stop();
      if (ms > 0) timer = link.clock.setTimeout(() => link.close(), ms);
    };
    arm(initial.timeout);
    return {
      write() {},
      end() {},
      update: (next) => arm(next.timeout),
      flush() {
        stop();
        link.close();
      },
      dispose: stop,
    };
  },
});

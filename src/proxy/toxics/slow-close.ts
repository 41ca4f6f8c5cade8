import { z } from 'zod';
import { attr, defineToxic } from '../toxic.js';

const attributes = z.object({
  delay: attr.int('milliseconds the close (FIN) is held after the source closed (0 or less: none)', {
    negative: true,
  }),
});

/** Data passes; the source's end-of-stream is forwarded `delay` ms late. */
export const slowClose = defineToxic({
  type: 'slow_close',
  goName: 'SlowCloseToxic',
  summary: 'delays the close (FIN) by delay ms',
  attributes,
  create(initial, link) {
    let delay = initial.delay;
    let timer: unknown = null;
    const stop = () => {
      if (timer !== null) link.clock.clearTimeout(timer);
      timer = null;
    };
    return {
      write: (chunk, at) => link.push(chunk, at),
      end() {
        if (delay <= 0) link.end();
        else
          timer = link.clock.setTimeout(() => {
            timer = null;
            link.end();
          }, delay);
      },
      update: (next) => {
        delay = next.delay;
      },
      flush: stop,
      dispose: stop,
    };
  },
});

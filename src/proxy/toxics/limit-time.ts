import { z } from 'zod';
import { attr, defineToxic } from '../toxic.js';

const attributes = z.object({
  time: attr.int(
    'milliseconds after which the connection is closed (from the toxic starting on the link; 0 or less: at once)',
    { negative: true },
  ),
});

/**
 * Faultline: cuts connections after a while. Data flows normally; `time` ms
 * after the toxic started on the link (connection open, or toxic added) the
 * connection is closed with FIN both ways. An update moves the deadline
 * (start + new time); 0 closes at once.
 */
export const limitTime = defineToxic({
  type: 'limit_time',
  goName: 'LimitTimeToxic',
  summary: 'closes the connection time ms after it opened',
  attributes,
  create(initial, link) {
    const start = link.clock.now();
    let timer: unknown = null;
    const stop = () => {
      if (timer !== null) link.clock.clearTimeout(timer);
      timer = null;
    };
    const arm = (time: number) => {
      stop();
      const left = start + time - link.clock.now();
      if (left <= 0) link.close();
      else timer = link.clock.setTimeout(() => link.close(), left);
    };
    arm(initial.time);
    return {
      write: (chunk, at) => link.push(chunk, at),
      update: (next) => arm(next.time),
      flush: stop,
      dispose: stop,
    };
  },
});

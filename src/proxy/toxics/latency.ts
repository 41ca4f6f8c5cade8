import { z } from 'zod';
import { TimedQueue } from '../queue.js';
import { attr, defineToxic } from '../toxic.js';

const attributes = z.object({
  latency: attr.int('milliseconds added to every chunk, measured from its arrival (negative: none)', {
    negative: true,
  }),
  jitter: attr.int(
    'milliseconds; each chunk is delayed by a whole number of ms in [latency - jitter, latency + jitter) (0 or less: none)',
    { negative: true },
  ),
});

/**
 * Holds every chunk until arrival + delay (one way, in the toxic's direction).
 * Back-to-back chunks do not add up; order is kept; two latency toxics add up
 * because each moves the chunk's timestamp, as in Toxiproxy. An update re-times
 * the chunks already held (arrival + new delay); removal releases them at once.
 */
export const latency = defineToxic({
  type: 'latency',
  goName: 'LatencyToxic',
  summary: 'delays data by latency ± jitter ms',
  attributes,
  create(initial, link) {
    let a = initial;
    const queue = new TimedQueue(link, true);
    // Toxiproxy: latency + rand.Int63n(2 * jitter) - jitter, in whole milliseconds.
    const delay = () =>
      a.jitter > 0 ? a.latency + Math.floor(link.random() * 2 * a.jitter) - a.jitter : a.latency;
    return {
      write: (chunk, at) => {
        const due = at + delay();
        queue.add(chunk, at, due);
      },
      end: () => queue.add(null, link.clock.now(), Number.NEGATIVE_INFINITY),
      update(next) {
        a = next;
        queue.retime((chunk, at) => (chunk === null ? Number.NEGATIVE_INFINITY : at + delay()));
      },
      flush: () => queue.flush(),
      dispose: () => queue.dispose(),
    };
  },
});

/**
 * http_delay: holds a percentage of matching HTTP/1.1 requests for `delay` ms
 * (± `jitter`) before forwarding them (Istio's `fault.delay`). Requests after
 * a delayed one on the same connection wait behind it, as they would behind a
 * slow network: order is kept. Acts on the upstream stream.
 */
import { z } from 'zod';
import { compileMatch, requestMatchAttributes } from '../http/match.js';
import { RequestFramer } from '../http/request-framer.js';
import { TimedQueue } from '../queue.js';
import { attr, defineToxic } from '../toxic.js';

export const httpDelay = defineToxic({
  type: 'http_delay',
  goName: 'HttpDelayToxic',
  streams: ['upstream'],
  summary: 'delays a percentage of matching HTTP requests',
  attributes: z.object({
    delay: attr.int('milliseconds each affected request is held'),
    jitter: attr.int('random extra milliseconds, uniformly in [-jitter, +jitter]'),
    ...requestMatchAttributes,
  }),
  create(attributes, link) {
    let a = attributes;
    let matches = compileMatch(a);
    const framer = new RequestFramer();
    const queue = new TimedQueue(link);
    let due = Number.NEGATIVE_INFINITY;
    return {
      update(next) {
        a = next;
        matches = compileMatch(a);
      },
      write(chunk, at) {
        const now = link.clock.now();
        for (const seg of framer.push(chunk)) {
          if (seg.first && seg.request) {
            const hit = matches(seg.request) && link.random() * 100 < a.percentage;
            const jitter = a.jitter > 0 ? (link.random() * 2 - 1) * a.jitter : 0;
            due = hit ? now + Math.max(0, a.delay + jitter) : now;
          }
          queue.add(seg.data, at, seg.request ? Math.max(due, now) : now);
        }
      },
      end() {
        queue.add(null, link.clock.now(), link.clock.now());
      },
      flush() {
        queue.flush();
      },
      dispose() {
        queue.dispose();
      },
    };
  },
});

import { z } from 'zod';
import { attr, defineToxic } from '../toxic.js';

const attributes = z.object({
  bytes: attr.int('bytes forwarded on the link before the connection is closed (0 or less: none)', {
    negative: true,
  }),
});

/**
 * Forwards up to `bytes` in total on the link (the last chunk cut short), then
 * closes the connection. 0 closes on the first data, not at connect. The count
 * survives updates and restarts when the toxic is removed and added again.
 */
export const limitData = defineToxic({
  type: 'limit_data',
  goName: 'LimitDataToxic',
  summary: 'closes the connection after bytes bytes',
  attributes,
  create(initial, link) {
    let limit = initial.bytes;
    let sent = 0;
    let done = false;
    return {
      write(chunk, at) {
        if (done) return;
        const room = limit - sent;
        if (chunk.length < room) {
          sent += chunk.length;
          link.push(chunk, at);
          return;
        }
        if (room > 0) {
          sent += room;
          link.push(chunk.subarray(0, room), at);
        }
        done = true;
        link.close();
      },
      update: (next) => {
        limit = next.bytes;
      },
    };
  },
});

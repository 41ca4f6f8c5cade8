import { z } from 'zod';
import { TimedQueue } from '../queue.js';
import { attr, defineToxic } from '../toxic.js';

const attributes = z.object({
  rate: attr.int(
    'KB/s (1 KB = 1000 bytes), per connection and direction; 0 stalls all data until the toxic is removed',
  ),
});

/** Milliseconds to send `bytes` at `rate` KB/s (1 KB = 1000 bytes, so KB/s = bytes/ms). */
export const transmitMs = (bytes: number, rate: number): number =>
  rate > 0 ? bytes / rate : Number.POSITIVE_INFINITY;

/**
 * Splits a chunk the way Toxiproxy paces it: pieces of at most `rate * 100`
 * bytes (100 ms each at that rate), the last one shorter. Pure, for tests.
 */
export function paceChunk(length: number, rate: number): number[] {
  if (rate <= 0) return [length];
  const slice = rate * 100;
  const out: number[] = [];
  let left = length;
  while (left > slice) {
    out.push(slice);
    left -= slice;
  }
  out.push(left);
  return out;
}

/**
 * Limits throughput: each chunk leaves `len / rate` ms after the previous one
 * left (or after it arrived, if the link was idle), so idle time earns no
 * credit. Due times are absolute, so timer error does not accumulate. Rate 0
 * holds everything (the "half-open" trick); removing the toxic lets it flow.
 */
export const bandwidth = defineToxic({
  type: 'bandwidth',
  goName: 'BandwidthToxic',
  summary: 'limits throughput to rate KB/s',
  attributes,
  create(initial, link) {
    let rate = initial.rate;
    const queue = new TimedQueue(link);
    return {
      write(chunk, at) {
        if (rate <= 0) {
          queue.add(chunk, at, Number.POSITIVE_INFINITY);
          return;
        }
        let due = Math.max(link.clock.now(), queue.lastDue);
        let offset = 0;
        for (const size of paceChunk(chunk.length, rate)) {
          due += transmitMs(size, rate);
          queue.add(size === chunk.length ? chunk : chunk.subarray(offset, offset + size), at, due);
          offset += size;
        }
      },
      end: () => queue.add(null, link.clock.now(), Number.NEGATIVE_INFINITY),
      update(next) {
        rate = next.rate;
        let due = link.clock.now();
        queue.retime((chunk) => {
          if (chunk !== null) due += transmitMs(chunk.length, rate);
          return due;
        });
      },
      flush: () => queue.flush(),
      dispose: () => queue.dispose(),
    };
  },
});

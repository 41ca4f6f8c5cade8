import { z } from 'zod';
import { TimedQueue } from '../queue.js';
import { attr, defineToxic } from '../toxic.js';

const attributes = z
  .object({
    average_size: attr.int('average size of the pieces, in bytes (at least 1)', { min: 1, goType: 'int' }),
    size_variation: attr.int('pieces are average_size ± size_variation bytes (at most average_size)', {
      goType: 'int',
    }),
    delay: attr.int('microseconds between pieces (0 or less: none)', { goType: 'int', negative: true }),
  })
  // Toxiproxy's split panics only when the variation exceeds the average (a piece could start
  // before the chunk): equal is accepted there and by its clients' own tests.
  .refine((a) => a.size_variation <= a.average_size, {
    path: ['size_variation'],
    message: 'must be at most average_size',
  });

/**
 * Sizes of the pieces a chunk of `length` bytes is cut into: each uniform in
 * [average - variation, average + variation] (the last one what is left).
 * Pure and iterative: Toxiproxy's recursive split crashes on average 0 and
 * panics when variation > average; both are refused by the schema here.
 */
export function slicePlan(
  length: number,
  average: number,
  variation: number,
  random: () => number,
): number[] {
  const out: number[] = [];
  let left = length;
  while (left > 0) {
    const size = variation > 0 ? average - variation + Math.floor(random() * (2 * variation + 1)) : average;
    const piece = Math.min(left, Math.max(1, size));
    out.push(piece);
    left -= piece;
  }
  return out;
}

/** Cuts every chunk into small pieces, `delay` µs apart: exercises readers that assume whole messages. */
export const slicer = defineToxic({
  type: 'slicer',
  goName: 'SlicerToxic',
  summary: 'slices data into average_size ± size_variation byte pieces, delay µs apart',
  attributes,
  create(initial, link) {
    let a = initial;
    const queue = new TimedQueue(link);
    return {
      write(chunk, at) {
        const sizes = slicePlan(chunk.length, a.average_size, a.size_variation, () => link.random());
        let due = Math.max(link.clock.now(), queue.lastDue);
        let offset = 0;
        for (const size of sizes) {
          due += Math.max(0, a.delay) / 1000;
          queue.add(chunk.subarray(offset, offset + size), at, due);
          offset += size;
        }
      },
      end: () => queue.add(null, link.clock.now(), Number.NEGATIVE_INFINITY),
      update(next) {
        a = next;
        let due = link.clock.now();
        queue.retime(() => {
          due += Math.max(0, a.delay) / 1000;
          return due;
        });
      },
      flush: () => queue.flush(),
      dispose: () => queue.dispose(),
    };
  },
});

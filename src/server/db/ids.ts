/**
 * Run ids are UUIDv7 (RFC 9562): the millisecond they were made, then a counter within that millisecond,
 * then random bits. Runs order by (requestedAt, id), so two runs requested in one millisecond by this
 * process still list and claim in the order they were created (random v4 ids would order them by chance),
 * and ids from two servers never collide (62 random bits each).
 */
import { randomBytes } from 'node:crypto';

let lastMs = 0;
let seq = 0;
const SEQ_MAX = 0xfff;

/** A new run's id and its requestedAt, from one clock reading. */
export function newRunKey(): { id: string; requestedAt: string } {
  let ms = Date.now();
  if (ms <= lastMs) {
    ms = lastMs;
    seq++;
    // 4,096 ids in one millisecond: borrow the next one rather than repeat or reorder.
    if (seq > SEQ_MAX) {
      ms++;
      seq = 0;
    }
  } else {
    seq = 0;
  }
  lastMs = ms;
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (seq >> 8);
  b[7] = seq & 0xff;
  b[8] = 0x80 | ((b[8] as number) & 0x3f);
  const hex = b.toString('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { id, requestedAt: new Date(ms).toISOString() };
}

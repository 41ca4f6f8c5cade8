import { z } from 'zod';
import { TimedQueue } from '../queue.js';
import { attr, defineToxic } from '../toxic.js';

const attributes = z.object({
  loss_rate: attr.probability('probability that a chunk is "lost" and must be retransmitted'),
  correlation: attr.probability("how much each loss decision follows the previous one (netem's correlation)"),
  stall: attr.int('milliseconds a lost chunk is held, like a retransmission timeout (Linux: at least 200)', {
    default: 200,
  }),
});

/**
 * Loss decisions with netem's correlation: the random value is
 * `(1 - correlation) * U + correlation * previous` and the chunk is lost when
 * it is below `loss_rate`. Pure, for tests.
 */
export function lossRoller(random: () => number): (lossRate: number, correlation: number) => boolean {
  let last = random();
  return (lossRate, correlation) => {
    last = (1 - correlation) * random() + correlation * last;
    return last < lossRate;
  };
}

/**
 * Faultline: packet loss as TCP shows it. TCP never loses bytes, it stalls: a
 * lost segment is retransmitted after a timeout and everything behind it waits
 * (head-of-line blocking). So each chunk, with probability `loss_rate`, is held
 * `stall` ms and every later chunk queues behind it. Decided per chunk read
 * from the socket (up to 64 KiB), not per TCP segment.
 */
export const packetLoss = defineToxic({
  type: 'packet_loss',
  goName: 'PacketLossToxic',
  summary: 'stalls the stream stall ms on a "lost" chunk (probability loss_rate), like a retransmission',
  attributes,
  create(initial, link) {
    let a = initial;
    const lost = lossRoller(() => link.random());
    const queue = new TimedQueue(link);
    return {
      write(chunk, at) {
        const base = Math.max(at, queue.lastDue);
        queue.add(chunk, at, lost(a.loss_rate, a.correlation) ? base + a.stall : base);
      },
      end: () => queue.add(null, link.clock.now(), Number.NEGATIVE_INFINITY),
      update: (next) => {
        a = next;
      },
      flush: () => queue.flush(),
      dispose: () => queue.dispose(),
    };
  },
});

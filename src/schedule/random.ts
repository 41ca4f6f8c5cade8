/**
 * Seeded dice for schedules: the jitter of a firing, the Chaos Monkey's daily coin and time, the targets
 * a firing picks. Every server (and every restart) must compute the same numbers from the same seed, so
 * the generator is ours: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, which passes
 * PractRand and BigCrush) seeded with the first 128 bits of SHA-256 of the seed text. A library's
 * generator could change its stream in a minor release and move every plan while old and new servers
 * run side by side; these twenty lines never will, and the tests pin their output.
 */
import { createHash } from 'node:crypto';

/** A generator of uniform numbers in [0, 1), the same sequence for the same `seed` everywhere. */
export function seededRandom(seed: string): () => number {
  const h = createHash('sha256').update(seed).digest();
  // SHA-256 mixes the seed fully, so sfc32 needs none of the warm-up rounds a weak seed would.
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/**
 * `count` of `candidates` picked at random, seeded by `seed` (the firing), without repeats: the first
 * `count` steps of a Fisher-Yates shuffle. `count` is clamped to [0, candidates.length].
 * @example pickTargets(['a', 'b', 'c'], 2, 'schedule-1@2026-01-05T09:00:00.000Z') // the same two every time
 */
export function pickTargets<T>(candidates: readonly T[], count: number, seed: string): T[] {
  const n = candidates.length;
  const k = Number.isFinite(count) ? Math.max(0, Math.min(n, Math.floor(count))) : count > 0 ? n : 0;
  const pool = [...candidates];
  const random = seededRandom(seed);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    [pool[i], pool[j]] = [pool[j] as T, pool[i] as T];
  }
  return pool.slice(0, k);
}

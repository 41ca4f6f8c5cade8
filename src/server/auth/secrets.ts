/**
 * Passwords, session ids and API tokens. Passwords are hashed with scrypt
 * (memory-hard, node:crypto) with a salt of their own and compared in
 * constant time; the hash records its parameters, so they can grow later
 * without invalidating what is stored. Session ids and tokens are 256 random
 * bits: a fast hash (sha256) is enough to store them, since nothing can be
 * guessed from it, and lets the server find a row by its hash.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * N = 2^15, r = 8, p = 1: 32 MiB and about 50-100 ms per hash on one core, OWASP's scrypt floor
 * with headroom. A sign-in costs one hash; failed ones are rate limited (rate-limit.ts).
 */
export const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const;
/** scrypt needs 128 * N * r bytes; node's default cap is exactly 32 MiB, so it is raised. */
const MAXMEM = 64 * 1024 * 1024;

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number, len: number) {
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, len, { N, r, p, maxmem: MAXMEM }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash` (salt and hash base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLength);
  const { N, r, p, keyLength } = SCRYPT;
  const key = await scryptAsync(password, salt, N, r, p, keyLength);
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

const ENCODED = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{8,128})\$([A-Za-z0-9_-]{16,256})$/;

/** Whether `password` matches `encoded`; false (never a throw) for a hash it cannot read. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const m = ENCODED.exec(encoded);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Parameters from the database are bounded before they size an allocation.
  if (N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const expected = Buffer.from(m[5] as string, 'base64url');
  const key = await scryptAsync(password, Buffer.from(m[4] as string, 'base64url'), N, r, p, expected.length);
  return timingSafeEqual(key, expected);
}

/**
 * A hash of a random password, made once: a sign-in for a name that does not exist is checked against
 * it, so it costs what a real check costs and its answer cannot tell the two apart by time.
 */
let dummy: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(32).toString('base64url'));
  return dummy;
}

/** Prefix of API tokens: recognisable in a leaked file and by secret scanners. */
export const TOKEN_PREFIX = 'flt_';

/** A new API token as shown to its creator, once. */
export function newToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** A new session id (the cookie's value) or CSRF token. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** What the store keeps of a token or session id. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time equality of two strings (a CSRF header against the session's). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

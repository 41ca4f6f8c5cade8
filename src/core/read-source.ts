/**
 * The one bounded reader of user-given text files (experiments, var files,
 * proxy configs): size checked before and during the read, so a file that
 * grows after stat() cannot make it unbounded, then decoded as UTF-8 by
 * parse.ts's rules. Like safe-write.ts, the file I/O core allows itself,
 * so that layers above (experiment/, proxy/) share it without importing
 * each other.
 */
import { open, stat } from 'node:fs/promises';
import { FaultlineError } from './errors.js';
import { decodeText, MAX_SOURCE_BYTES } from './parse.js';

/** Exposed for var files, which follow the same extension rules for JSON/YAML. */
export async function readSourceFile(path: string, what = 'Path'): Promise<string> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FaultlineError('FAULTLINE_ERR_LOAD', `${what} "${path}" does not exist`, { cause: err });
    }
    throw new FaultlineError('FAULTLINE_ERR_LOAD', `Cannot read "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!info.isFile()) throw new FaultlineError('FAULTLINE_ERR_LOAD', `"${path}" is not a file`);
  if (info.size > MAX_SOURCE_BYTES) throw tooLarge(path, info.size);
  let bytes: Buffer;
  try {
    bytes = await readAtMost(path, MAX_SOURCE_BYTES + 1, Number(info.size));
  } catch (err) {
    throw new FaultlineError('FAULTLINE_ERR_LOAD', `Cannot read "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (bytes.byteLength > MAX_SOURCE_BYTES) throw tooLarge(path, bytes.byteLength);
  return decodeText(bytes, path);
}

/**
 * Reads no more than `max` bytes: a file that grows after stat() cannot make the read unbounded.
 * The first buffer is sized from the size stat() gave, so a small file is one read into a buffer
 * of its size plus one byte (a short read is its end; the byte more sees growth); a fixed 1 MiB
 * buffer per read made validating 1,000 small files mostly garbage collection (bench/validate.mjs).
 */
async function readAtMost(path: string, max: number, size: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    let next = size + 1;
    while (total < max) {
      const buf = Buffer.allocUnsafe(Math.min(next, max - total));
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (bytesRead < buf.length) break;
      next = 1024 * 1024;
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  } finally {
    await handle.close();
  }
}

export function tooLarge(source: string, size: number): FaultlineError {
  const mb = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MB`;
  return new FaultlineError(
    'FAULTLINE_ERR_LOAD',
    `"${source}" is ${mb(size)}; experiment files are limited to ${mb(MAX_SOURCE_BYTES)}`,
  );
}

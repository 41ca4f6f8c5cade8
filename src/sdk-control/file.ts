/**
 * File control mode: for services that cannot reach a control server, the SDK
 * reads an SdkControlDocument from a file instead (docs/sdk-control.md). This
 * writes one atomically (temporary file + rename, so a reader never sees half
 * a document), validated against the shared schema, with a version newer than
 * the file's current one.
 *
 * @example
 * await writeControlFile('/etc/checkout/faults.json', {
 *   service: 'checkout',
 *   faults: [{ id: 'drill-1', type: 'http_error', status: 503, percentage: 40, expires_at: inTwoMinutes }],
 * });
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { FaultlineError } from '../core/errors.js';
import { type SdkControlDocument, SdkControlDocumentSchema } from '../sdk/rules.js';

/** The document in `path`, or undefined when there is none or it is not a valid document. */
export async function readControlFile(path: string): Promise<SdkControlDocument | undefined> {
  try {
    const r = SdkControlDocumentSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes `doc` to `path`. Without a version, the version is one more than the
 * file's (or the current time in ms, whichever is larger), so the SDK applies it.
 */
export async function writeControlFile(
  path: string,
  doc: Omit<SdkControlDocument, 'version'> & { version?: number },
): Promise<SdkControlDocument> {
  const previous = await readControlFile(path);
  const version = doc.version ?? Math.max(Date.now(), (previous?.version ?? 0) + 1);
  const parsed = SdkControlDocumentSchema.safeParse({ ...doc, version });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `SDK control file ${path}: ${issue.path.join('.') || 'document'}: ${issue.message}`,
    );
  }
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(parsed.data, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return parsed.data;
}

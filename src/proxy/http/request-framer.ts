/**
 * Splits an HTTP/1.1 client byte stream into requests, incrementally, so that
 * HTTP-level toxics can act per request on a keep-alive connection: each byte
 * is attributed to the request it belongs to (head, then body framed by
 * Content-Length or chunked encoding). Traffic that is not HTTP/1.x, an
 * upgrade (WebSocket, CONNECT), or a head over the size limit switches the
 * framer to pass-through for the rest of the connection: bytes are never lost,
 * only no longer attributed.
 */

export interface RequestHead {
  method: string;
  /** The request target as sent (`/path?query`). */
  target: string;
  /** The path without the query string. */
  path: string;
  version: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
}

export interface Segment {
  /** The request these bytes belong to; undefined in pass-through mode. */
  request: RequestHead | undefined;
  data: Buffer;
  /** These are the first bytes of the request (its head starts here). */
  first: boolean;
  /** The request is complete after these bytes. */
  last: boolean;
}

export const MAX_HEAD_BYTES = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const REQUEST_LINE = /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/;

type BodyState =
  | { kind: 'none' }
  | { kind: 'length'; remaining: number }
  | { kind: 'chunked'; phase: 'size' | 'data' | 'data-crlf' | 'trailer'; remaining: number; line: string };

export class RequestFramer {
  #passthrough = false;
  #head: Buffer[] = [];
  #headBytes = 0;
  #request: RequestHead | undefined;
  #body: BodyState = { kind: 'none' };
  #inBody = false;

  get passthrough(): boolean {
    return this.#passthrough;
  }

  /** Attributes a chunk's bytes to requests, in order. */
  push(chunk: Buffer): Segment[] {
    const out: Segment[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#passthrough) {
        out.push({ request: undefined, data: chunk.subarray(offset), first: false, last: false });
        break;
      }
      if (!this.#inBody) {
        const used = this.#readHead(chunk, offset, out);
        if (used < 0) break;
        offset = used;
      } else {
        offset = this.#readBody(chunk, offset, out);
      }
    }
    return out;
  }

  /** Returns the offset after the head, or -1 when more bytes are needed (or pass-through began). */
  #readHead(chunk: Buffer, offset: number, out: Segment[]): number {
    const rest = chunk.subarray(offset);
    const held = this.#headBytes;
    // Look for the end of the head across what is held and what arrived.
    const joined = held > 0 ? Buffer.concat([...this.#head, rest]) : rest;
    const end = joined.indexOf(CRLFCRLF, Math.max(0, held - 3));
    if (end < 0) {
      // Give up at once on what cannot become a request line, so non-HTTP traffic is never held.
      if (joined.length > MAX_HEAD_BYTES || !couldBeRequest(joined)) return this.#giveUp(joined, out);
      this.#head = [joined];
      this.#headBytes = joined.length;
      return -1;
    }
    const headBuf = joined.subarray(0, end + 4);
    const head = parseHead(headBuf.toString('latin1', 0, end));
    this.#head = [];
    this.#headBytes = 0;
    if (!head) return this.#giveUp(joined, out);
    const upgrade = head.method === 'CONNECT' || head.headers.upgrade !== undefined;
    const body = upgrade ? undefined : bodyOf(head);
    if (body === undefined) {
      // Not something we can frame (an upgrade, or conflicting lengths): hand it all through.
      return this.#giveUp(joined, out);
    }
    this.#request = head;
    this.#body = body;
    const headDone = body.kind === 'none';
    out.push({ request: head, data: headBuf, first: true, last: headDone });
    this.#inBody = !headDone;
    // Bytes after the head that belong to this chunk: continue from there.
    const consumedFromRest = headBuf.length - held;
    return offset + consumedFromRest;
  }

  #giveUp(bytes: Buffer, out: Segment[]): number {
    this.#passthrough = true;
    this.#head = [];
    this.#headBytes = 0;
    out.push({ request: undefined, data: bytes, first: false, last: false });
    return -1;
  }

  #readBody(chunk: Buffer, offset: number, out: Segment[]): number {
    const request = this.#request!;
    const body = this.#body;
    let pos = offset;
    if (body.kind === 'length') {
      const take = Math.min(body.remaining, chunk.length - pos);
      body.remaining -= take;
      pos += take;
    } else if (body.kind === 'chunked') {
      try {
        pos = scanChunked(body, chunk, pos);
      } catch {
        // Malformed chunked encoding: stop attributing, lose nothing.
        this.#inBody = false;
        this.#request = undefined;
        this.#giveUp(chunk.subarray(offset), out);
        return chunk.length;
      }
    }
    const done =
      body.kind === 'none' ||
      (body.kind === 'length' && body.remaining === 0) ||
      (body.kind === 'chunked' && body.phase === 'trailer' && body.remaining === -1);
    out.push({ request, data: chunk.subarray(offset, pos), first: false, last: done });
    if (done) {
      this.#inBody = false;
      this.#request = undefined;
      this.#body = { kind: 'none' };
    }
    return pos;
  }
}

/** Whether the bytes so far can still be the start of an HTTP/1.x request. */
function couldBeRequest(bytes: Buffer): boolean {
  const lineEnd = bytes.indexOf(13);
  const first = bytes.toString('latin1', 0, lineEnd < 0 ? Math.min(bytes.length, 8192) : lineEnd);
  if (lineEnd >= 0) return REQUEST_LINE.test(first);
  return (
    /^[A-Z]{0,16}$/.test(first) || /^[A-Z]{1,16} \S*( (H(T(T(P(\/(1(\.[01]?)?)?)?)?)?)?)?)?$/.test(first)
  );
}

export function parseHead(text: string): RequestHead | undefined {
  const lines = text.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const target = m[2]!;
  const q = target.indexOf('?');
  return { method: m[1]!, target, path: q < 0 ? target : target.slice(0, q), version: m[3]!, headers };
}

function bodyOf(head: RequestHead): BodyState | undefined {
  const te = head.headers['transfer-encoding'];
  const cl = head.headers['content-length'];
  if (te !== undefined) {
    if (cl !== undefined || !/(^|,)\s*chunked\s*$/i.test(te)) return undefined;
    return { kind: 'chunked', phase: 'size', remaining: 0, line: '' };
  }
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) return undefined;
    const n = Number(cl);
    return n === 0 ? { kind: 'none' } : { kind: 'length', remaining: n };
  }
  return { kind: 'none' };
}

/**
 * Advances through chunked encoding; returns the offset reached. The body is
 * complete when phase is 'trailer' and remaining is -1 (the blank line after
 * the last chunk and its trailers was read).
 */
function scanChunked(s: Extract<BodyState, { kind: 'chunked' }>, chunk: Buffer, pos: number): number {
  while (pos < chunk.length) {
    if (s.phase === 'data') {
      const take = Math.min(s.remaining, chunk.length - pos);
      s.remaining -= take;
      pos += take;
      if (s.remaining === 0) {
        s.phase = 'data-crlf';
        s.line = '';
      }
      continue;
    }
    // size line, CRLF after data, or trailer lines: read one line.
    const nl = chunk.indexOf(10, pos);
    const end = nl < 0 ? chunk.length : nl + 1;
    s.line += chunk.toString('latin1', pos, end);
    pos = end;
    if (nl < 0) {
      if (s.line.length > 8192) throw new Error('chunk line too long');
      break;
    }
    const line = s.line.replace(/\r?\n$/, '');
    s.line = '';
    if (s.phase === 'data-crlf') {
      s.phase = 'size';
    } else if (s.phase === 'size') {
      const size = Number.parseInt(line.split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw new Error('bad chunk size');
      if (size === 0) {
        s.phase = 'trailer';
        s.remaining = 0;
      } else {
        s.phase = 'data';
        s.remaining = size;
      }
    } else if (line === '') {
      s.remaining = -1;
      return pos;
    }
  }
  return pos;
}

/**
 * http_abort: answers a percentage of matching HTTP/1.1 requests itself, with
 * a given status, body and headers, without contacting the upstream (Istio's
 * `fault.abort`; the seeds' "HTTP 503 for 40% of requests"). The other
 * requests go through untouched on the same keep-alive connection.
 *
 * It acts on requests, so it lives on the upstream stream. Limitation: with
 * HTTP pipelining (several requests sent before the first answer, which
 * browsers, Node and undici do not do by default) an aborted request's answer
 * can overtake the answer to an earlier forwarded one.
 */
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { compileMatch, requestMatchAttributes } from '../http/match.js';
import { RequestFramer, type RequestHead } from '../http/request-framer.js';
import { attr, defineToxic, type PeerPort } from '../toxic.js';

/** RFC 9110 token characters: what a header name may contain. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible characters, spaces, tabs and obs-text: no CR, LF, NUL or other controls (no response splitting). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const show = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 37)}...` : s);

function headerProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name))
    return `header name ${show(name)} is not an HTTP token (letters, digits, !#$%&'*+-.^_\`|~)`;
  if (!FIELD_VALUE.test(value))
    return `value of header ${show(name)} contains CR, LF, NUL or another control character`;
  return undefined;
}

export function abortResponse(
  req: RequestHead,
  a: { status: number; body: string; content_type: string; headers: Record<string, string> },
): { bytes: Buffer; close: boolean } {
  const body = Buffer.from(a.body, 'utf8');
  const close =
    req.headers.connection?.toLowerCase() === 'close' ||
    (req.version === 'HTTP/1.0' && req.headers.connection?.toLowerCase() !== 'keep-alive');
  const lines = [`HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? 'Unknown'}`];
  const extra = Object.entries(a.headers).filter(
    ([k]) => !/^(content-length|connection|transfer-encoding)$/i.test(k),
  );
  if (!extra.some(([k]) => k.toLowerCase() === 'content-type')) lines.push(`Content-Type: ${a.content_type}`);
  for (const [k, v] of extra) lines.push(`${k}: ${v}`);
  lines.push(
    `Content-Length: ${body.length}`,
    `Connection: ${close ? 'close' : 'keep-alive'}`,
    'X-Faultline-Fault: http_abort',
  );
  // A HEAD request gets the headers only.
  const payload = req.method === 'HEAD' ? Buffer.alloc(0) : body;
  return { bytes: Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]), close };
}

export const httpAbort = defineToxic({
  type: 'http_abort',
  goName: 'HttpAbortToxic',
  streams: ['upstream'],
  summary:
    'answers a percentage of matching HTTP requests with a status and body, without contacting the upstream',
  attributes: z.object({
    status: attr.int('HTTP status to answer with (100-599)', {
      min: 100,
      max: 599,
      default: 503,
      goType: 'int',
    }),
    body: attr.string('response body'),
    // Both end up in the response head: checked as HTTP header values, or CR/LF would split the response.
    content_type: attr.string('response Content-Type', {
      default: 'text/plain; charset=utf-8',
      check: (v) => FIELD_VALUE.test(v),
      message: 'must not contain CR, LF, NUL or another control character',
    }),
    headers: attr.stringMap('extra response headers', { check: headerProblem }),
    ...requestMatchAttributes,
  }),
  create(attributes, link) {
    let a = attributes;
    let matches = compileMatch(a);
    const framer = new RequestFramer();
    let peer: PeerPort | undefined;
    let swallowing: RequestHead | undefined;
    return {
      attachPeer(p: PeerPort) {
        peer = p;
      },
      update(next) {
        a = next;
        matches = compileMatch(a);
      },
      write(chunk, at) {
        for (const seg of framer.push(chunk)) {
          if (seg.first && seg.request) {
            swallowing =
              peer && matches(seg.request) && link.random() * 100 < a.percentage ? seg.request : undefined;
          }
          if (swallowing && seg.request === swallowing) {
            if (seg.last) {
              const { bytes, close } = abortResponse(swallowing, a);
              swallowing = undefined;
              peer!.write(bytes);
              if (close) link.close();
            }
            continue;
          }
          link.push(seg.data, at);
        }
      },
    };
  },
});

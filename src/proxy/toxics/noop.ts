import { z } from 'zod';
import { defineToxic } from '../toxic.js';

/** Passes data through unchanged (Toxiproxy registers it too; its API test adds one). */
export const noop = defineToxic({
  type: 'noop',
  goName: 'NoopToxic',
  summary: 'passes data through unchanged',
  attributes: z.object({}),
  create: (_attributes, link) => ({ write: (chunk, at) => link.push(chunk, at) }),
});

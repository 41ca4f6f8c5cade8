/**
 * The SDK finds `@opentelemetry/api` by itself (an optional peer; a dev
 * dependency here) and adds a span event to the span active where the fault
 * is injected. The active span is set through the real API, with a context
 * manager on AsyncLocalStorage (what @opentelemetry/context-async-hooks does).
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Context,
  type ContextManager,
  context,
  ROOT_CONTEXT,
  type Span,
  trace,
} from '@opentelemetry/api';
import { FaultRegistry } from '../../src/sdk/core.js';

class AlsContextManager implements ContextManager {
  readonly #als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

test('with @opentelemetry/api installed, an injected fault is a span event on the active span', async () => {
  assert.ok(context.setGlobalContextManager(new AlsContextManager()), 'context manager registered');
  const events: { name: string; attrs: Record<string, unknown> | undefined }[] = [];
  const span = trace.wrapSpanContext({
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 1,
  });
  (span as Span).addEvent = (name: string, attrs?: unknown) => {
    events.push({ name, attrs: attrs as Record<string, unknown> | undefined });
    return span;
  };
  const core = new FaultRegistry({ env: {} }).enable();
  core.addRule({ id: 'found-by-import', type: 'exception', match: { point: 'payments.*' } });
  // The API is imported in the background when the SDK is enabled.
  for (let i = 0; i < 50 && events.length === 0; i++) {
    await context.with(trace.setSpan(context.active(), span), async () => {
      await assert.rejects(core.point('payments.charge'));
    });
    if (events.length === 0) await sleep(10);
  }
  assert.ok(events.length >= 1, 'a span event was added');
  assert.equal(events[0]?.name, 'faultline.fault');
  assert.equal(events[0]?.attrs?.['faultline.rule_id'], 'found-by-import');
  // Outside any span: the fault still fires, no event is added anywhere.
  const before = events.length;
  await assert.rejects(core.point('payments.charge'));
  assert.equal(events.length, before);
  context.disable();
});

/**
 * Istio VirtualService faults -> faultline.http fault (the proxy in front of the workload faults
 * the requests to it, as Envoy does): the seed, Istio's Bookinfo
 * examples (test/fixtures/manifests/istio/, each with its URL), and malformed ones refused naming
 * the field. Translated experiments are checked against ExperimentSchema.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ExperimentSchema } from '../../src/core/schema.js';
import { type ManifestSet, translateManifests } from '../../src/manifests/index.js';
import { DEFAULT_DURATION_S } from '../../src/manifests/istio.js';

const FIX = new URL('../fixtures/manifests/', import.meta.url);
const fromText = (text: string): ManifestSet =>
  translateManifests(parseAllDocuments(text).map((d) => d.toJS()));
const load = (name: string) => fromText(readFileSync(new URL(name, FIX), 'utf8'));
type Act = {
  name: string;
  provider: { arguments?: Record<string, unknown> };
  targets?: unknown;
  pauses?: { after?: number };
};
const method = (s: ManifestSet) => s.experiment.method as Act[];

test('seed 003 (Istio): 10% delayed 5 s and 5% aborted with 503 on payment-service, 60 s', () => {
  const s = load('seeds/003-istio-fault.yaml');
  assert.deepEqual(s.refused, []);
  assert.ok(ExperimentSchema.safeParse(s.experiment).success);
  const m = method(s);
  assert.deepEqual(
    m.map((a) => a.provider.arguments),
    [
      { type: 'latency', latency_ms: 5000, percentage: 10, duration: DEFAULT_DURATION_S },
      { type: 'http_error', status: 503, percentage: 5, duration: DEFAULT_DURATION_S },
    ],
  );
  for (const a of m) {
    assert.deepEqual(a.targets, { on: 'workloads', names: ['payment-service'], selector: {}, mode: 'all' });
    assert.deepEqual(
      [(a.provider as { module?: string }).module, (a.provider as { func?: string }).func],
      ['faultline.http', 'fault'],
    );
  }
  assert.equal(m[1]!.pauses?.after, DEFAULT_DURATION_S);
  assert.equal(s.notes.find((n) => n.path === 'spec.http[0].route')?.fate, 'ignored');
});

test("Istio's Bookinfo delay for user jason: 7 s on every request carrying end-user: jason", () => {
  const s = load('istio/ratings-delay.yaml');
  assert.deepEqual(s.refused, []);
  assert.ok(ExperimentSchema.safeParse(s.experiment).success);
  const m = method(s);
  assert.equal(m.length, 1);
  assert.deepEqual(m[0]!.provider.arguments, {
    type: 'latency',
    latency_ms: 7000,
    percentage: 100,
    match: { header: { name: 'end-user', value: '^jason$' } },
    duration: DEFAULT_DURATION_S,
  });
});

test('abort with a prefix and method match, an FQDN host and the duration annotation', () => {
  const s = load('istio/ratings-abort-all.yaml');
  assert.deepEqual(s.refused, []);
  const [a] = method(s);
  assert.deepEqual(a!.provider.arguments, {
    type: 'http_error',
    status: 500,
    percentage: 100,
    match: { path_prefix: '/ratings', method: 'GET' },
    duration: 120,
  });
  assert.deepEqual((a!.targets as { names: string[] }).names, ['bookinfo/ratings']);
});

const vs = (fault: string, extra = '') => `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: x}
spec:
  hosts: [svc]
  http:
  - ${extra}fault:
${fault}`;

test('malformed VirtualServices are refused naming the field', () => {
  const cases: [string, string, string, RegExp][] = [
    [
      'percentage 120',
      vs('      delay: {percentage: {value: 120}, fixedDelay: 1s}'),
      'spec.http[0].fault.delay.percentage.value',
      /0 to 100/,
    ],
    [
      'bad delay',
      vs('      delay: {percentage: {value: 5}, fixedDelay: soon}'),
      'spec.http[0].fault.delay.fixedDelay',
      /duration/,
    ],
    [
      'grpcStatus',
      vs('      abort: {percentage: {value: 5}, grpcStatus: UNAVAILABLE}'),
      'spec.http[0].fault.abort.grpcStatus',
      /gRPC/,
    ],
    [
      'two headers',
      vs(
        '      abort: {percentage: {value: 5}, httpStatus: 503}',
        'match: [{headers: {a: {exact: x}, b: {exact: y}}}]\n    ',
      ),
      'spec.http[0].match[0].headers',
      /one request header/,
    ],
    [
      'query parameters',
      vs(
        '      abort: {percentage: {value: 5}, httpStatus: 503}',
        'match: [{queryParams: {a: {exact: x}}}]\n    ',
      ),
      'spec.http[0].match[0].queryParams',
      /cannot match on queryParams/,
    ],
    [
      'external host',
      vs('      abort: {percentage: {value: 5}, httpStatus: 503}').replace('[svc]', '[api.example.com]'),
      'spec.hosts[0]',
      /not a workload name/,
    ],
    ['unknown fault field', vs('      crash: {}'), 'spec.http[0].fault.crash', /unknown field/],
  ];
  const re = fromText(
    vs('      abort: {percentage: {value: 5}, httpStatus: 503}', 'match: [{uri: {regex: "/a.*"}}]\n    '),
  );
  assert.deepEqual(re.refused, []);
  assert.deepEqual((method(re)[0]!.provider.arguments as { match: unknown }).match, {
    path_regex: '^(?:/a.*)$',
  });
  for (const [what, text, path, why] of cases) {
    const s = fromText(text);
    const n = s.refused.find((x) => x.path === path);
    assert.ok(n, `${what}: ${path} refused (got ${JSON.stringify(s.refused)})`);
    assert.match(n.why!, why, what);
  }
});

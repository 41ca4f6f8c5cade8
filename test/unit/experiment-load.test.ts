// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} strings are the Chaos Toolkit syntax under test
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import { loadExperimentSource, MAX_SOURCE_BYTES } from '../../src/experiment/index.js';
import { validateExperiment } from '../../src/lib/validate.js';
import { startServer, type TestServer } from '../helpers/server.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'experiment');
const fixture = (name: string) => join(fixtures, name);

function expectError(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof FaultlineError, `expected a FaultlineError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.exitCode, 2);
    assert.match(err.message, pattern);
    return true;
  };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-load-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function temp(name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describe('loading local files', () => {
  test('JSON: parsed, with format, source and baseDir', async () => {
    const loaded = await loadExperimentSource(fixture('valid.json'));
    assert.equal(loaded.format, 'json');
    assert.equal(loaded.source, fixture('valid.json'));
    assert.equal(loaded.baseDir, resolve(fixtures));
    assert.equal((loaded.raw as { title: string }).title, 'Service stays healthy while ${service} restarts');
  });

  test('YAML (.yaml and .yml) is read like PyYAML safe_load', async () => {
    const loaded = await loadExperimentSource(fixture('valid.yaml'));
    assert.equal(loaded.format, 'yaml');
    const raw = loaded.raw as any;
    assert.equal(raw.method[0].provider.arguments[1], '${service}');
    const yml = await temp(
      'x.yml',
      'title: t\ndescription: d\nflags: [yes, no, on, off]\nwhen: 2024-01-01\nbase: &b {a: 1}\nderived:\n  <<: *b\n  c: 2\nmethod: []\n',
    );
    const r = (await loadExperimentSource(yml)).raw as any;
    assert.deepEqual(r.flags, [true, false, true, false]);
    assert.equal(r.when, '2024-01-01');
    assert.deepEqual(r.derived, { a: 1, c: 2 });
  });

  test('YAML tags cannot construct anything but data', async () => {
    const p = await temp('tags.yaml', 'title: !!js/function "function(){}"\ndescription: d\nmethod: []\n');
    const loaded = await loadExperimentSource(p).catch((e) => e);
    // Either refused or kept as plain data; never code.
    if (!(loaded instanceof FaultlineError)) assert.equal(typeof (loaded.raw as any).title, 'string');
  });

  test('TypeScript modules load through tsx; the default export is the experiment', async () => {
    const loaded = await loadExperimentSource(fixture('experiment.ts'));
    assert.equal(loaded.format, 'module');
    assert.equal((loaded.raw as any).title, 'Written in TypeScript');
    assert.equal(
      (loaded.raw as any)['steady-state-hypothesis'].probes[0].provider.url,
      'http://127.0.0.1:8080/',
    );
    assert.equal(loaded.positionOf(['title']), undefined);
    const { issues } = await validateExperiment(loaded);
    assert.deepEqual(issues, []);
  });

  test('JavaScript modules load with import(); a default-exported factory is called', async () => {
    assert.equal(
      ((await loadExperimentSource(fixture('experiment.mjs'))).raw as any).title,
      'Written in JavaScript',
    );
    assert.equal(((await loadExperimentSource(fixture('factory.mjs'))).raw as any).title, 'From a factory');
  });

  test('module problems: no default export, syntax errors, a throwing module', async () => {
    await assert.rejects(
      loadExperimentSource(fixture('no-default.mjs')),
      expectError('FAULTLINE_ERR_LOAD', /no default export/),
    );
    const broken = await temp('broken.ts', 'export default {\n  title: "x"\n  description: \n');
    await assert.rejects(loadExperimentSource(broken), expectError('FAULTLINE_ERR_PARSE', /broken\.ts/));
    const throws = await temp('throws.mjs', 'throw new Error("boom at import");\n');
    await assert.rejects(loadExperimentSource(throws), expectError('FAULTLINE_ERR_LOAD', /boom at import/));
  });

  test('unsupported extensions name the file and the supported extensions', async () => {
    const p = await temp('exp.txt', '{}');
    await assert.rejects(
      loadExperimentSource(p),
      expectError('FAULTLINE_ERR_LOAD', /exp\.txt.*\.json, \.yaml, \.yml/),
    );
  });

  test('a missing file: Path "<p>" does not exist', async () => {
    await assert.rejects(
      loadExperimentSource('no/such/experiment.json'),
      expectError('FAULTLINE_ERR_LOAD', /^Path "no\/such\/experiment\.json" does not exist$/),
    );
    await assert.rejects(
      loadExperimentSource('no/such/experiment.ts'),
      expectError('FAULTLINE_ERR_LOAD', /does not exist/),
    );
    await assert.rejects(
      loadExperimentSource(dir + '/dir.json'),
      expectError('FAULTLINE_ERR_LOAD', /does not exist/),
    );
  });

  test('JSON syntax errors carry line and column', async () => {
    const p = await temp('bad.json', '{\n  "title": "t",\n  "method": [1,, 2]\n}\n');
    await assert.rejects(loadExperimentSource(p), (err: unknown) => {
      expectError('FAULTLINE_ERR_PARSE', /bad\.json.*line 3, column 16/)(err);
      assert.deepEqual((err as FaultlineError).issues[0], {
        path: '',
        message: 'expected a value, found character ","',
        line: 3,
        column: 16,
      });
      return true;
    });
    const truncated = await temp('trunc.json', '{"title": "t", "method": [');
    await assert.rejects(
      loadExperimentSource(truncated),
      expectError('FAULTLINE_ERR_PARSE', /end of input at line 1/),
    );
  });

  test('YAML syntax errors carry line and column', async () => {
    const p = await temp('bad.yaml', 'title: t\nmethod:\n  - a: [1, 2\n  - b\n');
    await assert.rejects(loadExperimentSource(p), (err: unknown) => {
      expectError('FAULTLINE_ERR_PARSE', /bad\.yaml.*line \d+, column \d+/)(err);
      const issue = (err as FaultlineError).issues[0]!;
      assert.ok(issue.line && issue.line >= 3, JSON.stringify(issue));
      return true;
    });
  });

  test('empty documents and non-objects are not experiments', async () => {
    for (const [name, content, pattern] of [
      ['empty.yaml', '', /an empty experiment is not an experiment/],
      ['comment.yaml', '# nothing\n', /an empty experiment is not an experiment/],
      ['null.json', 'null', /an empty experiment is not an experiment/],
      ['obj.json', '{}', /an empty experiment is not an experiment/],
      ['list.json', '[1]', /expected an object.*got a list/],
      ['scalar.yaml', 'just a string', /expected an object.*got a string/],
    ] as const) {
      await assert.rejects(
        loadExperimentSource(await temp(name, content)),
        expectError('FAULTLINE_ERR_VALIDATION', pattern),
      );
    }
  });

  test('files over the size limit are refused before parsing', async () => {
    const p = await temp('huge.json', Buffer.alloc(MAX_SOURCE_BYTES + 1, 0x20));
    await assert.rejects(loadExperimentSource(p), expectError('FAULTLINE_ERR_LOAD', /huge\.json.*10\.0 MB/));
  });

  test('invalid UTF-8 is a parse error', async () => {
    const p = await temp('bytes.yaml', Buffer.from([0x74, 0x3a, 0x20, 0xc3, 0x28, 0x0a]));
    await assert.rejects(
      loadExperimentSource(p),
      expectError('FAULTLINE_ERR_PARSE', /UTF-8.*line 1, column 4/),
    );
  });

  test('hostile YAML: alias bombs, cycles and deep nesting', async () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      bomb.push(
        `${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10)
          .fill(`*${'abcdefgh'[i - 1]}`)
          .join(', ')}]`,
      );
    await assert.rejects(
      loadExperimentSource(await temp('bomb.yaml', bomb.join('\n'))),
      expectError('FAULTLINE_ERR_PARSE', /alias/),
    );
    await assert.rejects(
      loadExperimentSource(await temp('cycle.yaml', 'a: &a [*a]\n')),
      expectError('FAULTLINE_ERR_PARSE', /circular/),
    );
    const deep = `a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
    await assert.rejects(
      loadExperimentSource(await temp('deep.yaml', deep)),
      expectError('FAULTLINE_ERR_PARSE', /nested/),
    );
    const deepJson = `{"a": ${'['.repeat(300)}${']'.repeat(300)}}`;
    await assert.rejects(
      loadExperimentSource(await temp('deep.json', deepJson)),
      expectError('FAULTLINE_ERR_PARSE', /nested/),
    );
  });

  test('positionOf resolves values and falls back to the nearest ancestor', async () => {
    const json = await loadExperimentSource(fixture('invalid.json'));
    assert.deepEqual(json.positionOf(['method', 1, 'provider', 'url']), { line: 23, column: 44 });
    assert.deepEqual(json.positionOf(['method', 0, 'provider', 'url']), { line: 18, column: 19 });
    assert.deepEqual(json.positionOf(['method', 99]), { line: 14, column: 13 });
    assert.deepEqual(json.positionOf([]), { line: 1, column: 1 });
    const yaml = await loadExperimentSource(fixture('invalid.yaml'));
    assert.deepEqual(yaml.positionOf(['method', 1, 'provider', 'url']), { line: 20, column: 12 });
    assert.deepEqual(yaml.positionOf(['method', 0, 'provider', 'url']), { line: 15, column: 7 });
  });
});

describe('loading from a URL', () => {
  let server: TestServer;
  const json = readFileSync(fixture('valid.json'), 'utf8');
  const yaml = readFileSync(fixture('valid.yaml'), 'utf8');

  before(async () => {
    server = await startServer((req, res) => {
      const send = (status: number, type: string | undefined, body: string) => {
        res.writeHead(status, type ? { 'content-type': type } : {});
        res.end(body);
      };
      switch (req.url) {
        case '/exp':
          return send(200, 'application/json; charset=utf-8', json);
        case '/exp-yaml':
          return send(200, 'application/x-yaml', yaml);
        case '/exp-text-yaml':
          return send(200, 'text/yaml', yaml);
        case '/plain-json':
          return send(200, 'text/plain', json);
        case '/plain-yaml':
          return send(200, 'text/plain; charset=utf-8', yaml);
        case '/octet.yaml':
          return send(200, 'application/octet-stream', yaml);
        case '/octet':
          return send(200, 'application/octet-stream', yaml);
        case '/bad-json':
          return send(200, 'application/json', '{\n "title": }');
        case '/missing':
          return send(404, 'text/plain', 'not found');
        case '/created':
          return send(201, 'application/json', json);
        case '/redirect':
          res.writeHead(302, { location: '/exp' });
          return res.end();
        case '/auth':
          return req.headers.authorization === 'Bearer s3cret'
            ? send(200, 'application/json', json)
            : send(401, 'text/plain', 'no');
        case '/huge':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"title": "');
          // Streams past the limit without announcing a length.
          for (let i = 0; i < 11; i++) res.write('x'.repeat(1024 * 1024));
          return res.end('"}');
        default:
          return send(500, 'text/plain', 'boom');
      }
    });
  });
  after(async () => {
    await server.close();
  });

  test('Content-Type picks the parser: JSON, YAML, text/plain (JSON then YAML)', async () => {
    for (const [path, format] of [
      ['/exp', 'json'],
      ['/exp-yaml', 'yaml'],
      ['/exp-text-yaml', 'yaml'],
      ['/plain-json', 'json'],
      ['/plain-yaml', 'yaml'],
      ['/octet.yaml', 'yaml'],
    ] as const) {
      const loaded = await loadExperimentSource(server.url + path, { env: {} });
      assert.equal(loaded.format, format, path);
      assert.equal(loaded.source, server.url + path);
      assert.equal(loaded.baseDir, process.cwd());
      assert.match((loaded.raw as any).title, /Service stays healthy/);
    }
    const req = server.requests.find((r) => r.url === '/exp')!;
    assert.equal(req.headers.accept, 'application/json, application/x-yaml');
    assert.equal(req.headers.authorization, undefined);
  });

  test('an unknown Content-Type without a telling extension fails', async () => {
    await assert.rejects(
      loadExperimentSource(`${server.url}/octet`, { env: {} }),
      expectError('FAULTLINE_ERR_LOAD', /application\/octet-stream/),
    );
  });

  test('any status but 200 fails; redirects are followed', async () => {
    await assert.rejects(
      loadExperimentSource(`${server.url}/missing`, { env: {} }),
      expectError('FAULTLINE_ERR_LOAD', /HTTP 404/),
    );
    await assert.rejects(
      loadExperimentSource(`${server.url}/created`, { env: {} }),
      expectError('FAULTLINE_ERR_LOAD', /HTTP 201/),
    );
    assert.equal((await loadExperimentSource(`${server.url}/redirect`, { env: {} })).format, 'json');
  });

  test('the bearer token comes from CHAOSTOOLKIT_ or FAULTLINE_LOADER_AUTH_BEARER_TOKEN', async () => {
    await assert.rejects(
      loadExperimentSource(`${server.url}/auth`, { env: {} }),
      expectError('FAULTLINE_ERR_LOAD', /HTTP 401/),
    );
    for (const name of ['CHAOSTOOLKIT_LOADER_AUTH_BEARER_TOKEN', 'FAULTLINE_LOADER_AUTH_BEARER_TOKEN']) {
      const loaded = await loadExperimentSource(`${server.url}/auth`, { env: { [name]: 's3cret' } });
      assert.equal(loaded.format, 'json');
    }
  });

  test('parse errors in fetched documents carry positions; positions work for URLs', async () => {
    await assert.rejects(
      loadExperimentSource(`${server.url}/bad-json`, { env: {} }),
      expectError('FAULTLINE_ERR_PARSE', /bad-json.*line 2, column 11/),
    );
    const loaded = await loadExperimentSource(`${server.url}/exp-yaml`, { env: {} });
    assert.deepEqual(loaded.positionOf(['method', 0, 'name']), { line: 22, column: 11 });
  });

  test('bodies over the size limit are cut off', async () => {
    await assert.rejects(
      loadExperimentSource(`${server.url}/huge`, { env: {} }),
      expectError('FAULTLINE_ERR_LOAD', /limited to 10\.0 MB/),
    );
  });

  test('connection failures are load errors', async () => {
    const closed = await startServer((_q, r) => r.end());
    const url = `${closed.url}/exp`;
    await closed.close();
    await assert.rejects(
      loadExperimentSource(url, { env: {} }),
      expectError('FAULTLINE_ERR_LOAD', /Cannot fetch/),
    );
  });
});

describe('loading over HTTPS', () => {
  let certDir: string | undefined;
  let url = '';
  let close: () => Promise<void> = async () => {};
  before(async () => {
    try {
      certDir = await mkdtemp(join(tmpdir(), 'faultline-tls-'));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-subj',
          '/CN=127.0.0.1',
          '-days',
          '1',
          '-keyout',
          'key.pem',
          '-out',
          'cert.pem',
        ],
        { cwd: certDir, stdio: 'ignore' },
      );
    } catch {
      certDir = undefined;
      return;
    }
    const server = createServer(
      { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) },
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(readFileSync(fixture('valid.json')));
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/exp`;
    close = () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
  });
  after(async () => {
    await close();
    if (certDir) await rm(certDir, { recursive: true, force: true });
  });

  test('self-signed certificates fail unless verifyTls is false', async (t) => {
    if (!certDir) return t.skip('openssl is not available');
    await assert.rejects(
      loadExperimentSource(url, { env: {} }),
      expectError('FAULTLINE_ERR_LOAD', /Cannot fetch/),
    );
    const loaded = await loadExperimentSource(url, { env: {}, verifyTls: false });
    assert.equal(loaded.format, 'json');
  });
});

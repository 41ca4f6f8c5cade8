import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, FaultlineError, formatIssue, issuePath } from '../../src/core/errors.js';
import { INJECTED_CODES } from '../../src/sdk/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const srcDir = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/**
 * The codes src/ raises: every quoted FAULTLINE_ERR_* literal outside the table
 * itself (a FaultlineError's first argument, or a code handed to a helper that
 * builds one), plus the code of each error class in core/errors.ts that some
 * other file constructs. Comments name codes without quotes and do not count.
 */
function codesRaisedInSrc(): Map<string, string[]> {
  const raised = new Map<string, string[]>();
  const note = (code: string, file: string) => raised.set(code, [...(raised.get(code) ?? []), file]);
  const errorsFile = join(srcDir, 'core', 'errors.ts');
  const errorsText = readFileSync(errorsFile, 'utf8');
  const classes = [
    ...errorsText.matchAll(/class (\w+) extends Error \{\s*readonly code = '(FAULTLINE_ERR_\w+)'/g),
  ];
  assert.ok(classes.length > 0, 'core/errors.ts declares error classes with a fixed code');
  for (const file of sourceFiles(srcDir)) {
    if (file === errorsFile) continue;
    const text = readFileSync(file, 'utf8');
    const rel = file.slice(srcDir.length);
    for (const m of text.matchAll(/'(FAULTLINE_ERR_\w+)'/g)) note(m[1] as string, rel);
    for (const [, name, code] of classes) if (text.includes(`new ${name}(`)) note(code as string, rel);
  }
  return raised;
}

test('docs/errors.md lists every error code with its exit status', () => {
  for (const code of Object.keys(ERROR_CODES)) {
    const exit = new FaultlineError(code as keyof typeof ERROR_CODES, 'x').exitCode;
    assert.match(doc, new RegExp(`\`${code}\` \\|[^|]+\\| ${exit}`), `${code} documented with exit ${exit}`);
  }
  const documented = [...doc.matchAll(/^\| `(FAULTLINE_ERR_\w+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(
    documented.sort(),
    Object.keys(ERROR_CODES).sort(),
    'the doc table holds exactly the codes',
  );
});

test('every code is raised somewhere in src/, and src/ raises no code the table lacks', () => {
  const raised = codesRaisedInSrc();
  const unraised = Object.keys(ERROR_CODES).filter((code) => !raised.has(code));
  assert.deepEqual(unraised, [], `codes nothing in src/ raises (remove them from ERROR_CODES and the doc)`);
  const unknown = [...raised]
    .filter(([code]) => !(code in ERROR_CODES))
    .map(([c, files]) => `${c} (${files})`);
  assert.deepEqual(unknown, [], 'codes raised in src/ that ERROR_CODES and docs/errors.md lack');
});

test("docs/errors.md lists the SDK's injected fault codes beside the FAULTLINE_ERR_* table", () => {
  const section = doc.slice(doc.indexOf('## Injected faults'));
  assert.ok(section.length < doc.length, 'an "Injected faults" section');
  for (const [type, code] of Object.entries(INJECTED_CODES)) {
    // latency delays the call and raises nothing: its code in the table is never seen.
    const expected = type === 'latency' ? '| `latency` | none' : `| \`${type}\` | \`${code}\``;
    assert.ok(section.includes(expected), `${type}: ${expected}`);
  }
});

test('issues format with path and position', () => {
  assert.equal(
    formatIssue({ path: 'method[0].provider.url', message: 'required', line: 7, column: 3 }, 'x.yaml'),
    'method[0].provider.url: required (x.yaml:7:3)',
  );
  assert.equal(formatIssue({ path: '', message: 'bad' }), 'bad');
});

test('schema issue paths are spelled as Issue.path', () => {
  assert.equal(issuePath(['requests', 0, 'url']), 'requests[0].url');
  assert.equal(issuePath(['requests', 0, 'url'], 'load'), 'load.requests[0].url');
  assert.equal(issuePath([0, 'status']), '[0].status');
  assert.equal(issuePath([], 'load'), 'load');
  assert.equal(issuePath([]), '');
});

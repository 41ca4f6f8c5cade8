// A test reporter that prints nothing until the run ends, then one block naming every failed test
// with its file and the first lines of its error. The TAP of a full run is over 40,000 lines and
// CI logs are often read from their end; without this, a single failure there is a search.
const MAX_LINES = 12;

function firstLines(error) {
  const cause = error?.cause ?? error;
  const text = String(cause?.stack ?? cause?.message ?? cause ?? 'failed');
  // Node's own frames say nothing about the test.
  const own = (line) => !/\(node:|^\s+at node:|^\s+at (new )?\S*Promise/.test(line);
  return text.split('\n').filter(own).slice(0, MAX_LINES);
}

export default async function* failures(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    // A suite fails when a test in it fails; the test itself is the one worth naming.
    if (details?.error?.failureType === 'subtestsFailed') continue;
    failed.push({ name, file, lines: firstLines(details?.error) });
  }
  if (failed.length === 0) return;
  yield `\n# ${failed.length} failing test${failed.length === 1 ? '' : 's'}:\n`;
  for (const f of failed) {
    yield `# not ok: ${f.name}${f.file ? ` (${f.file})` : ''}\n`;
    for (const line of f.lines) yield `#     ${line}\n`;
  }
}

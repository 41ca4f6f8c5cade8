// Sends `count` requests to `url` and counts the answers by status: a small
// probe to observe what an HTTP fault does to callers.
export async function sample({ url, count = 50 }, { signal }) {
  const statuses = {};
  for (let i = 0; i < count; i++) {
    const res = await fetch(url, { signal });
    await res.arrayBuffer();
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
  }
  return { count, statuses, failure_ratio: 1 - (statuses[200] ?? 0) / count };
}

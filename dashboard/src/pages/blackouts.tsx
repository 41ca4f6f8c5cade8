/** SCAFFOLD (issue #18, being written): the blackouts page. */
export function BlackoutsPage() {
  return <p>blackouts</p>;
}

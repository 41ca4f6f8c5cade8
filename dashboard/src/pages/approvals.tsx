/** SCAFFOLD (issue #18, being written): the approvals page. */
export function ApprovalsPage({ query }: { query: URLSearchParams }) {
  return <p>approvals</p>;
}

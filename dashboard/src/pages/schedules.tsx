/** SCAFFOLD (issue #18, being written): the schedules page. */
export function SchedulesPage({ id }: { id: string | undefined }) {
  return <p>schedules</p>;
}

/** SCAFFOLD (issue #18, being written): the gamedays page. */
export function GameDaysPage({ id }: { id: string | undefined }) {
  return <p>gamedays</p>;
}

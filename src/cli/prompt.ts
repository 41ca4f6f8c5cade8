/** Yes/no questions on the terminal, for commands that confirm before they act. */

/** Asks `question` on stderr and reads the answer from stdin: true for y or yes, false otherwise (and on EOF). */
export async function askYes(question: string): Promise<boolean> {
  // Loaded here: `run` imports this module, and most runs ask nothing.
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } catch {
    return false;
  } finally {
    rl.close();
  }
}

/**
 * How the CLI prints a FaultlineError: its message, then the issues the
 * message does not already state. Messages are complete for library users
 * (a parse error says the reason and the line); the issues carry the same
 * facts as data, so printing both showed one problem twice.
 */
import { type FaultlineError, formatIssue, type Issue } from '../core/errors.js';

/**
 * Whether the message already says this issue. Its position alone is not worth a second
 * line: parse errors put the line in the message, and the top-level ones are at 1:1.
 */
function stated(message: string, issue: Issue): boolean {
  const said = issue.path ? `${issue.path}: ${issue.message}` : issue.message;
  return issue.message !== '' && message.includes(said);
}

/** The lines to print for an error: its message, then each issue not already in it, indented. */
export function errorLines(err: FaultlineError, source?: string): string[] {
  return [
    err.message,
    ...err.issues.filter((i) => !stated(err.message, i)).map((i) => `  ${formatIssue(i, source)}`),
  ];
}

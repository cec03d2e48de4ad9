/** One problem found in a spec, located at the YAML node of the offending value (1-based line and column). */
export interface SpecIssue {
  file: string;
  line: number;
  column: number;
  /** Where in the spec, e.g. `model.resolution` or `sweep["model.resolution"][1]`; empty for the whole file. */
  path: string;
  message: string;
}

export function formatIssue(issue: SpecIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** Thrown by `parseSpec` and `loadSpec`; the message lists every issue, one per line. */
export class SpecError extends Error {
  readonly issues: SpecIssue[];

  constructor(issues: SpecIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'SpecError';
    this.issues = issues;
  }
}

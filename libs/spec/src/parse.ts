import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { SpecError, type SpecIssue } from './errors';
import { describeSchemaErrors, type Finding } from './messages';
import { formatPath, type Segment } from './paths';
import { resolvedSettingsErrors, specDocumentErrors } from './schema';
import { DEFAULT_SETTINGS, type Settings } from './settings';
import { datasetFindings } from './sources';
import { expandSweep, type Expansion, type Variant } from './variants';
import { YamlLocator } from './yaml-locator';

/** A parsed, validated spec and its variants. */
export interface LoadedSpec {
  file: string;
  text: string;
  /** sha256 (hex) of `text`. */
  hash: string;
  /** The `experiment` name. */
  name: string;
  /** '' when the spec has none. */
  description: string;
  /** The spec's settings over DEFAULT_SETTINGS, before the sweep. */
  base: Settings;
  /** Setting path → values, in the spec's key order; `{}` when nothing is swept. */
  sweep: Record<string, unknown[]>;
  variants: Variant[];
}

/** The shape a spec has once it passed the schema. */
interface SpecDocument {
  experiment: string;
  description?: string;
  dataset?: Partial<Settings['dataset']>;
  model?: Partial<Settings['model']>;
  train?: Partial<Settings['train']>;
  engine?: Partial<Settings['engine']>;
  judge?: Partial<Settings['judge']>;
  sweep?: Record<string, unknown[]> | null;
}

/** Reads and parses a spec file; an unreadable file is a SpecError too. */
export function loadSpec(file: string): LoadedSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String(error);
    throw new SpecError([{ file, line: 1, column: 1, path: '', message: `cannot read the spec file: ${reason}` }]);
  }
  return parseSpec(text, file);
}

/** Parses, validates and expands a spec; `file` only names it in issues. Throws SpecError listing every issue. */
export function parseSpec(text: string, file: string): LoadedSpec {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const locator = new YamlLocator(document, lineCounter);
  if (document.errors.length) {
    throw new SpecError(
      document.errors.map((error) => ({
        file,
        ...locator.position(error.pos[0]),
        path: '',
        message:
          error.code === 'MULTIPLE_DOCS'
            ? 'YAML syntax error: a spec file holds one document, but a second one starts here'
            : `YAML syntax error: ${error.message}`,
      })),
    );
  }

  const data: unknown = document.toJS();
  const issueAt = (finding: Finding): SpecIssue => ({
    file,
    ...(finding.at === 'key'
      ? locator.keyAt(finding.path)
      : locator.valueAt(finding.at === 'parent' ? finding.path.slice(0, -1) : finding.path)),
    path: formatPath(finding.path),
    message: finding.message,
  });

  const schemaFindings = describeSchemaErrors(specDocumentErrors(data), data);
  if (schemaFindings.length) throw new SpecError(inFileOrder(schemaFindings.map(issueAt)));

  const spec = data as SpecDocument;
  const base = resolveBase(spec);
  const sweep = spec.sweep ?? {};
  const overlapping = overlappingSweepPaths(Object.keys(sweep));
  if (overlapping.length) throw new SpecError(overlapping.map(issueAt));

  const expansions = expandSweep(base, sweep);
  const variantFindings = checkVariants(expansions, sweep, (path) => locator.has(path));
  if (variantFindings.length) throw new SpecError(inFileOrder(dedupe(variantFindings.map(issueAt))));

  return {
    file,
    text,
    hash: createHash('sha256').update(text).digest('hex'),
    name: spec.experiment,
    description: spec.description ?? '',
    base,
    sweep,
    variants: expansions.map((expansion) => expansion.variant),
  };
}

function resolveBase(spec: SpecDocument): Settings {
  return structuredClone({
    dataset: { ...DEFAULT_SETTINGS.dataset, ...spec.dataset },
    model: { ...DEFAULT_SETTINGS.model, ...spec.model },
    train: { ...DEFAULT_SETTINGS.train, ...spec.train },
    engine: { ...DEFAULT_SETTINGS.engine, ...spec.engine },
    judge: { ...DEFAULT_SETTINGS.judge, ...spec.judge },
  });
}

/** `dataset.where` and `dataset.where.gender` cannot both be swept: one would silently undo the other. */
function overlappingSweepPaths(paths: readonly string[]): Finding[] {
  return paths.flatMap((path, index) => {
    const earlier = paths.slice(0, index).find((other) => path.startsWith(`${other}.`) || other.startsWith(`${path}.`));
    if (!earlier) return [];
    const message = `"${path}" overlaps "${earlier}", which is swept too: sweep only one of them`;
    return [{ path: ['sweep', path], at: 'key' as const, message }];
  });
}

/** Checks every resolved variant: the schema again, the dataset against its source, batchSize against the dataset size, no two alike. */
function checkVariants(
  expansions: readonly Expansion[],
  sweep: Record<string, readonly unknown[]>,
  written: (path: Segment[]) => boolean,
): Finding[] {
  const paths = Object.keys(sweep);
  /** Where the spec sets a setting for this variant: its sweep item, else the base section. */
  const sourceOf = (settingPath: Segment[], choices: number[]): { path: Segment[]; swept: boolean } => {
    const dotted = settingPath.join('.');
    for (const [position, sweepPath] of paths.entries()) {
      const item: Segment[] = ['sweep', sweepPath, choices[position]];
      if (dotted === sweepPath) return { path: item, swept: true };
      if (dotted.startsWith(`${sweepPath}.`)) {
        const rest = dotted
          .slice(sweepPath.length + 1)
          .split('.')
          .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
        const value = sweep[sweepPath][choices[position]];
        // A swept section only sets the keys it names; `where` filters are replaced whole.
        if (sweepPath === 'dataset.where' || (value as Record<string | number, unknown>)[rest[0]] !== undefined) {
          return { path: [...item, ...rest], swept: true };
        }
      }
    }
    return { path: settingPath, swept: false };
  };

  const findings: Finding[] = [];
  const seen = new Map<string, Expansion>();
  for (const expansion of expansions) {
    const { settings } = expansion.variant;
    const schemaFindings = describeSchemaErrors(resolvedSettingsErrors(settings), settings);
    // The dataset checks assume a well-formed section.
    const sourceFindings = schemaFindings.length ? [] : datasetFindings(settings.dataset);
    for (const finding of [...schemaFindings, ...sourceFindings]) {
      findings.push({ ...finding, path: sourceOf(finding.path, expansion.choices).path });
    }

    const { batchSize } = settings.train;
    const { size } = settings.dataset;
    if (batchSize > size) {
      // Point at whichever of the two the spec sets, preferring a sweep item (it is what differs per variant).
      const candidates = [sourceOf(['train', 'batchSize'], expansion.choices), sourceOf(['dataset', 'size'], expansion.choices)];
      const source =
        candidates.find((candidate) => candidate.swept) ??
        candidates.find((candidate) => written(candidate.path)) ??
        candidates[0];
      findings.push({
        path: source.path,
        at: 'value',
        message: `batchSize ${batchSize} is larger than dataset.size ${size}: a batch cannot hold more images than the dataset`,
      });
    }

    const twin = seen.get(expansion.variant.id);
    if (twin) {
      const position = expansion.choices.findIndex((choice, index) => choice !== twin.choices[index]);
      const item = expansion.choices[position];
      const value = JSON.stringify(sweep[paths[position]][item]);
      findings.push({
        path: ['sweep', paths[position], item],
        at: 'value',
        message:
          `${value} gives the same variant as item ${twin.choices[position]} (${expansion.variant.id}): ` +
          'each sweep value must change something',
      });
    } else {
      seen.set(expansion.variant.id, expansion);
    }
  }
  return findings;
}

function dedupe(issues: readonly SpecIssue[]): SpecIssue[] {
  const unique = new Map<string, SpecIssue>();
  for (const issue of issues) unique.set(`${issue.line}:${issue.column}:${issue.path}:${issue.message}`, issue);
  return [...unique.values()];
}

function inFileOrder(issues: SpecIssue[]): SpecIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Leaf settings by dotted path (`model.dropout`), values as text: strings as they are, the rest as JSON. */
export function flattenSettings(settings: Record<string, unknown>, prefix = ''): Map<string, string> {
  const flat = new Map<string, string>();
  for (const [key, value] of Object.entries(settings)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
      for (const [p, v] of flattenSettings(value as Record<string, unknown>, path)) flat.set(p, v);
    } else {
      flat.set(path, settingText(value));
    }
  }
  return flat;
}

export function settingText(value: unknown): string {
  if (value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The setting at a dotted path, or undefined. */
export function settingAt(settings: Record<string, unknown>, path: string): unknown {
  let value: unknown = settings;
  for (const key of path.split('.')) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * The settings in which the runs differ, with each run's value. Where some runs lack a setting (`dataset.where` is
 * `{gender: male}` in one run and `{}` in another), the difference is shown one level up, as the whole object.
 */
export function differingSettings(runs: Record<string, unknown>[]): { path: string; values: string[] }[] {
  const flat = runs.map((settings) => flattenSettings(settings));
  const paths = [...new Set(flat.flatMap((f) => [...f.keys()]))].sort();
  const shown = new Set<string>();
  for (const path of paths) {
    const values = flat.map((f) => f.get(path));
    if (new Set(values).size === 1) continue;
    let shownPath = path;
    const someLack = () => runs.some((settings) => settingAt(settings, shownPath) === undefined);
    while (someLack() && shownPath.includes('.')) shownPath = shownPath.slice(0, shownPath.lastIndexOf('.'));
    shown.add(shownPath);
  }
  return [...shown]
    .filter((path) => ![...shown].some((other) => path.startsWith(`${other}.`)))
    .sort()
    .map((path) => ({ path, values: runs.map((settings) => settingText(settingAt(settings, path))) }));
}

/** How many settings are the same in every run: those not in, or under, a differing one. */
export function countSameSettings(runs: Record<string, unknown>[], differing: { path: string }[]): number {
  const paths = new Set(runs.flatMap((settings) => [...flattenSettings(settings).keys()]));
  return [...paths].filter((path) => !differing.some((d) => path === d.path || path.startsWith(`${d.path}.`))).length;
}

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => entities[c]);
}

export const sweepCommand = 'npx nx run runner:sweep --spec experiments/quickstart.yaml';

function page(title: string, body: string, { refreshSeconds }: { refreshSeconds?: number } = {}): string {
  const refresh = refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refresh}
<title>${escapeHtml(title)}</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; color: #1f2933; background: #f5f7fa; margin: 0; }
  main { max-width: 46rem; margin: 4rem auto; padding: 2rem 2.5rem; background: #fff; border: 1px solid #d9e2ec; border-radius: 8px; }
  h1 { font-size: 1.4rem; margin-top: 0; }
  code { background: #eef2f7; padding: 0.15rem 0.4rem; border-radius: 4px; font-size: 0.92em; word-break: break-all; }
  .muted { color: #627d98; font-size: 0.9em; }
</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}

/** Shown instead of the app while there is nothing to report; reloads itself so a sweep started later appears. */
export function noRunsPage(dbPath: string, reason: 'missing' | 'empty'): string {
  const what = reason === 'missing' ? 'No database at' : 'The database has no runs:';
  return page(
    'facegan report — no runs yet',
    `<h1>No runs yet</h1>
<p>${what} <code>${escapeHtml(dbPath)}</code></p>
<p>Start a sweep, then this page picks it up by itself:</p>
<p><code>${escapeHtml(sweepCommand)}</code></p>
<p class="muted">Or point the report at another database: <code>npx nx run report:serve --db path/to/facegan.db</code></p>`,
    { refreshSeconds: 5 },
  );
}

export function bundleMissingPage(): string {
  return page(
    'facegan report — client not built',
    `<h1>The report's client is not built</h1>
<p>Run <code>npx nx run report:build</code> (or start the report with <code>npx nx run report:serve</code>, which builds it first).</p>`,
  );
}

/** The database exists but cannot be read, e.g. written by a newer facegan (the store's message says what to do). */
export function storeErrorPage(dbPath: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return page(
    'facegan report — cannot read the database',
    `<h1>Cannot read the database</h1>
<p><code>${escapeHtml(dbPath)}</code></p>
<p>${escapeHtml(message)}</p>`,
  );
}

/**
 * How fast is the runs table with 5,000 runs and 1,000,000 metric rows? Builds such a database in a temp folder,
 * serves it with the real report server and times the runs-table API (over HTTP) and, if Debian's chromium is there,
 * the page until the table shows. Run: `npx nx run report:bench` (prints a Markdown table).
 */
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { openStore } from '@facegan/store';
import { buildReportApp } from '../src/server/app';
import { readonlyStoreSource } from '../src/server/readonly-store';

const experiments = 50;
const runsPerExperiment = 100;
const epochs = 10;
/** Per run: 10 epochs x 7 summary rows + 26 steps x 5 step rows = 200 rows; 5,000 runs: 1,000,000 rows. */
const steps = 26;
const summaryNames = ['d_loss_real', 'd_loss_fake', 'g_loss', 'd_acc_real', 'd_acc_fake', 'img_per_s', 'epoch_seconds'];
const stepNames = ['d_loss_real', 'd_loss_fake', 'g_loss', 'd_acc_real', 'd_acc_fake'];
const repeats = 15;
const chromiumPath = '/usr/bin/chromium';

/** A pseudo-random but repeatable number in [0, 1). */
function noise(seed: number): number {
  const x = Math.sin(seed * 12.9898) * 43758.5453;
  return x - Math.floor(x);
}

async function buildDatabase(path: string): Promise<number> {
  await (await openStore(path)).close(); // creates and migrates the schema
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  const nameIds = new Map<string, number>();
  for (const name of summaryNames) {
    nameIds.set(name, Number(db.prepare('INSERT INTO metric_names (name) VALUES (?)').run(name).lastInsertRowid));
  }
  const insertExperiment = db.prepare(
    `INSERT INTO experiments (name, description, spec_text, spec_hash, spec_file, created_at) VALUES (?, '', 'experiment: x', ?, 'x.yaml', ?)`,
  );
  const insertRun = db.prepare(
    `INSERT INTO runs (experiment_id, variant_id, label, settings_json, status, backend, device, created_at, started_at, finished_at, epochs_done)
     VALUES (?, ?, ?, ?, ?, 'wasm', 'bench box', ?, ?, ?, ?)`,
  );
  const insertMetric = db.prepare('INSERT INTO metrics (run_id, name_id, epoch, step, value, time) VALUES (?, ?, ?, ?, ?, ?)');
  let metricRows = 0;
  db.transaction(() => {
    const now = new Date().toISOString();
    for (let e = 0; e < experiments; e++) {
      const experimentId = Number(insertExperiment.run(`sweep-${e}`, `hash-${e}`, now).lastInsertRowid);
      for (let v = 0; v < runsPerExperiment; v++) {
        const where = [{ gender: 'male' }, { gender: 'female' }, {}][v % 3];
        const dropout = [0, 0.1, 0.25, 0.5][Math.floor(v / 3) % 4];
        const batchSize = [16, 32, 64][Math.floor(v / 12) % 3];
        const learningRate = [0.0001, 0.0002, 0.0004][Math.floor(v / 36) % 3];
        const settings = {
          dataset: { source: 'cartoon', size: 1024, where, seed: e },
          model: { resolution: 64, width: 0.5, dropout, latentDim: 100 },
          train: { epochs, batchSize, learningRate, beta1: 0.5, seed: v },
          engine: { backend: 'wasm' },
        };
        const status = v % 50 === 7 ? 'failed' : 'done';
        const label = `where=${JSON.stringify(where)} dropout=${dropout} batch=${batchSize} lr=${learningRate}`;
        const runId = Number(
          insertRun.run(experimentId, `e${e}v${v}`, label, JSON.stringify(settings), status, now, now, now, epochs).lastInsertRowid,
        );
        for (let epoch = 1; epoch <= epochs; epoch++) {
          for (const name of summaryNames) {
            insertMetric.run(runId, nameIds.get(name), epoch, -1, noise(runId * 131 + epoch * 7 + name.length), 0);
            metricRows++;
          }
        }
        for (let step = 0; step < steps; step++) {
          const epoch = Math.floor((step * epochs) / steps) + 1;
          for (const name of stepNames) {
            insertMetric.run(runId, nameIds.get(name), epoch, step, noise(runId * 17 + step + name.length), 0);
            metricRows++;
          }
        }
      }
    }
  })();
  db.close();
  return metricRows;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timeRequest(url: string): Promise<{ first: number; median: number; max: number; total: number }> {
  const times: number[] = [];
  let total = 0;
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    const response = await fetch(url);
    const body = (await response.json()) as { total?: number; error?: string };
    times.push(performance.now() - started);
    if (!response.ok) throw new Error(`${url}: ${response.status} ${body.error}`);
    total = body.total ?? 0;
  }
  return { first: times[0], median: median(times.slice(1)), max: Math.max(...times.slice(1)), total };
}

async function timePage(baseUrl: string): Promise<{ load: number; sort: number } | null> {
  const bundle = fileURLToPath(new URL('../public/build/main.js', import.meta.url));
  if (!existsSync(chromiumPath) || !existsSync(bundle)) return null;
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const rows = page.locator('.runs-table tbody tr[data-run]');
    await page.goto(`${baseUrl}/#/runs`); // warm: the browser's first start is not the table's speed
    await rows.first().waitFor();
    await page.goto('about:blank');
    const loads: number[] = [];
    const sorts: number[] = [];
    for (let i = 0; i < 5; i++) {
      let started = performance.now();
      await page.goto(`${baseUrl}/#/runs`);
      await page.waitForFunction(() => document.querySelectorAll('.runs-table tbody tr[data-run]').length === 50);
      loads.push(performance.now() - started);
      const firstRun = await rows.first().getAttribute('data-run');
      started = performance.now();
      await page.locator('button.sort[data-sort="metrics.g_loss"]').click();
      await page.waitForFunction((before) => document.querySelector('.runs-table tbody tr[data-run]')?.getAttribute('data-run') !== before, firstRun);
      sorts.push(performance.now() - started);
      await page.goto('about:blank');
    }
    return { load: median(loads), sort: median(sorts) };
  } finally {
    await browser.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'report-bench-'));
try {
  const dbPath = join(dir, 'facegan.db');
  let started = performance.now();
  const metricRows = await buildDatabase(dbPath);
  const buildSeconds = (performance.now() - started) / 1000;
  const megabytes = statSync(dbPath).size / 2 ** 20;
  console.log(`built ${experiments * runsPerExperiment} runs, ${metricRows.toLocaleString('en')} metric rows, ${megabytes.toFixed(0)} MiB in ${buildSeconds.toFixed(1)} s`);

  const store = readonlyStoreSource(dbPath);
  const app = buildReportApp({ store: store.source, dbPath, publicDir: fileURLToPath(new URL('../public', import.meta.url)) });
  const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    started = performance.now();
    await fetch(`${baseUrl}/api/fields`);
    const fieldsMs = performance.now() - started;
    const cases: [string, string][] = [
      ['first page (50 runs)', 'limit=50'],
      ['page 81 of 100', 'offset=4000&limit=50'],
      ['sort by final G loss, descending', 'sort=g_loss&order=desc'],
      ['filter by two settings and status, sort by final D acc', `q=${encodeURIComponent('gender=male dropout<0.3 status=done')}&sort=d_acc_real`],
      ['filter by a final metric', `q=${encodeURIComponent('g_loss<0.2')}`],
      ['text search', 'q=sweep-42'],
      ['group by a setting, sort by final G loss', 'group=model.dropout&sort=g_loss'],
      ['200 runs per page', 'limit=200&sort=g_loss'],
    ];
    const results: string[] = [];
    for (const [name, query] of cases) {
      const t = await timeRequest(`${baseUrl}/api/runs?${query}`);
      results.push(`| ${name} | ${t.total} | ${t.first.toFixed(0)} | ${t.median.toFixed(0)} | ${t.max.toFixed(0)} |`);
    }
    console.log(`\nGET /api/fields (settings paths of every run, first call, then cached): ${fieldsMs.toFixed(0)} ms\n`);
    console.log('| runs-table API request | matching runs | first (ms) | median (ms) | max (ms) |');
    console.log('|---|---:|---:|---:|---:|');
    for (const line of results) console.log(line);
    const page = await timePage(baseUrl);
    console.log(
      page
        ? `\nbrowser: runs page shows its first 50 rows ${page.load.toFixed(0)} ms after navigation; sorting by final G loss ${page.sort.toFixed(0)} ms (medians of 5)`
        : `\nbrowser timing skipped: needs ${chromiumPath} and the client bundle (npx nx run report:build)`,
    );
  } finally {
    await app.close();
    await store.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

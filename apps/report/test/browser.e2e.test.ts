import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promisify } from 'node:util';
import { openStore } from '@facegan/store';
import { gridPng, hostileExperimentName } from './seed-database';

const chromiumPath = '/usr/bin/chromium';
const appRoot = fileURLToPath(new URL('..', import.meta.url));
const workspaceRoot = resolve(appRoot, '../..');
const artifacts = join(appRoot, '.artifacts');
const hasChromium = existsSync(chromiumPath);

if (!hasChromium) {
  console.warn(`Skipping the report's browser test: no ${chromiumPath} (install it: apt-get install -y chromium).`);
}

/** The runner's smoke sweep: men only against mixed, tiny enough to train in seconds on wasm. */
const smokeSpec = `
experiment: smoke
description: "<b>tiny</b> men only against mixed"
dataset: { source: cartoon, size: 16, seed: 3 }
model: { resolution: 32, width: 0.125 }
train: { epochs: 2, batchSize: 8, logEvery: 1 }
engine: { backend: wasm }
judge: { enabled: false }
sweep:
  dataset.where: [ { gender: male }, {} ]
`;

/** Trains the smoke sweep with the real runner CLI (as `nx run runner:sweep` does) into `dir`. */
async function runSmokeSweep(dir: string): Promise<string> {
  const specPath = join(dir, 'smoke.yaml');
  const dbPath = join(dir, 'facegan.db');
  writeFileSync(specPath, smokeSpec);
  const tsx = join(workspaceRoot, 'node_modules/.bin/tsx');
  const args = ['--tsconfig', 'tsconfig.base.json', 'apps/runner/src/main.ts', 'sweep', '--spec', specPath, '--db', dbPath, '--cache', join(dir, 'cache')];
  await promisify(execFile)(tsx, args, { cwd: workspaceRoot, timeout: 110_000 });
  return dbPath;
}

/** Starts the real server (src/main.ts, as `nx run report:serve` does) on a free port and returns its address. */
async function startServer(dbPath: string): Promise<{ url: string; server: ChildProcess }> {
  const tsx = join(workspaceRoot, 'node_modules/.bin/tsx');
  const server = spawn(tsx, ['--tsconfig', 'apps/report/tsconfig.json', 'apps/report/src/main.ts', '--port', '0', '--db', dbPath], {
    cwd: workspaceRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /report on (http:\/\/\S+)/.exec(output);
      if (match) resolveUrl(match[1]);
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', onData);
    server.once('exit', (code) => reject(new Error(`report server exited with ${code}:\n${output}`)));
  });
  return { url, server };
}

describe.skipIf(!hasChromium)('report in a real browser, over a real smoke sweep', () => {
  let browser: Browser;
  let server: ChildProcess;
  let baseUrl: string;
  let page: Page;
  let dir: string;
  let dbPath: string;
  /** Run ids by label: `gender=male` and `where=all`. */
  const runIds: Record<string, number> = {};
  const pageErrors: string[] = [];
  const rows = () => page.locator('.runs-table tbody tr[data-run]');
  const shot = (name: string) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    if (!existsSync(join(appRoot, 'public/build/main.js'))) {
      throw new Error('The client bundle is missing: run `npx nx run report:build` (nx run report:test does it first).');
    }
    mkdirSync(artifacts, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'report-e2e-'));
    dbPath = await runSmokeSweep(dir);
    const store = await openStore(dbPath, { readonly: true });
    for (const run of await store.listRuns()) runIds[run.label] = run.id;
    await store.close();
    expect(Object.keys(runIds).sort()).toEqual(['gender=male', 'where=all']);
    ({ url: baseUrl, server } = await startServer(dbPath));
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`${message.text()} (${message.location().url})`);
    });
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolveExit) => server.once('exit', resolveExit));
      server.kill('SIGTERM');
      const forceKill = setTimeout(() => server.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(forceKill);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lists the sweep, with the varying setting and final metrics as columns', async () => {
    await page.goto(baseUrl);
    await expect.poll(() => rows().count()).toBe(2);
    expect(await page.locator('.runs-table thead th').allTextContents()).toEqual(
      expect.arrayContaining(['#', 'Experiment', 'Variant', 'Status', 'dataset.where.gender', 'G loss', 'D acc real']),
    );
    expect(await rows().first().locator('.badge').textContent()).toBe('done');
    expect(await page.locator('.pager .count').textContent()).toBe('1–2 of 2 runs');
    await shot('runs');
  });

  it('filters by a setting, groups by it, and sorts by a final metric, keeping the state in the URL', async () => {
    await page.getByLabel('Filter runs').fill('gender=male');
    await expect.poll(() => rows().count()).toBe(1);
    expect(await rows().first().getAttribute('data-run')).toBe(String(runIds['gender=male']));
    expect(page.url()).toContain('q=gender%3Dmale');
    await shot('runs-filtered');
    await page.getByLabel('Filter runs').fill('nosuchsetting=1');
    await expect.poll(() => page.locator('.error-box').textContent()).toContain('Unknown field');
    await page.getByLabel('Filter runs').fill('');
    await expect.poll(() => rows().count()).toBe(2);
    expect(await page.locator('.error-box').count()).toBe(0);
    // The browser logs the 400 answer to the bad filter; nothing else may be in the console.
    expect(pageErrors.splice(0)).toEqual([expect.stringContaining('400 (Bad Request)')]);

    await page.getByLabel('Group by').selectOption('settings.dataset.where.gender');
    await expect.poll(() => page.locator('tr.group-row').allTextContents()).toEqual([
      'dataset.where.gender = male · 1 run',
      'dataset.where.gender = (none) · 1 run',
    ]);
    await shot('runs-grouped');
    await page.getByLabel('Group by').selectOption('');
    await expect.poll(() => page.locator('tr.group-row').count()).toBe(0);

    const store = await openStore(dbPath, { readonly: true });
    const byGLoss = (await store.listRuns()).sort((a, b) => a.lastMetrics.g_loss - b.lastMetrics.g_loss).map((run) => String(run.id));
    await store.close();
    await page.locator('button.sort[data-sort="metrics.g_loss"]').click();
    await expect.poll(() => rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run')))).toEqual(byGLoss);
    await page.locator('button.sort[data-sort="metrics.g_loss"]').click();
    await expect.poll(() => rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run')))).toEqual([...byGLoss].reverse());
    expect(page.url()).toContain('sort=metrics.g_loss&order=desc');
  });

  it('opens a run: curves with optional smoothing, dataset, settings, spec, and grids by slider, number and play', async () => {
    await page.locator(`.runs-table tr[data-run="${runIds['gender=male']}"] a.run-link`).click();
    await page.waitForURL(`**/#/runs/${runIds['gender=male']}`);
    await expect.poll(() => page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(3);
    const legend = page.locator('.chart[data-chart="Losses per step"] .u-legend');
    expect(await legend.textContent()).not.toContain('smoothed');
    await page.getByLabel('Smoothing').fill('0.6');
    await expect.poll(() => legend.textContent()).toContain('G loss (smoothed)');
    expect(await legend.textContent()).toContain('G loss (raw)');

    expect(await page.locator('.dataset table.counts').textContent()).toContain('male 16');
    expect(await page.locator('table.settings-table').textContent()).toContain('model.resolution32');
    expect(await page.locator('pre.spec-text').textContent()).toContain('dataset.where: [ { gender: male }, {} ]');
    // The description carries HTML: shown as text.
    const facts = await page.locator('.facts').first().textContent();
    expect(facts).toContain('<b>tiny</b> men only against mixed');
    expect(facts).toContain('wasm simd');

    const image = page.locator('img.sample-grid');
    await expect.poll(() => image.getAttribute('data-epoch')).toBe('2'); // opens on the latest epoch
    const latestSrc = await image.getAttribute('src');
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(7 * 32);
    const latestPixels = await image.screenshot();
    expect(await page.locator('a.download').getAttribute('download')).toBe(`facegan-run-${runIds['gender=male']}-epoch-2.png`);
    await shot('run');

    await page.getByLabel('Epoch', { exact: true }).fill('1');
    await expect.poll(() => image.getAttribute('data-epoch')).toBe('1');
    expect(await image.getAttribute('src')).not.toBe(latestSrc);
    expect(await page.getByLabel('Epoch number').inputValue()).toBe('1');
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
    expect((await image.screenshot()).equals(latestPixels)).toBe(false);
    await shot('run-epoch-1');

    await page.getByLabel('Epoch number').fill('2');
    await page.getByLabel('Epoch number').press('Enter');
    await expect.poll(() => image.getAttribute('data-epoch')).toBe('2');
    await page.getByLabel('Epoch', { exact: true }).fill('1');
    await page.getByRole('button', { name: 'Play' }).click();
    await expect.poll(() => image.getAttribute('data-epoch'), { timeout: 5000 }).toBe('2');
    await expect.poll(() => page.locator('button.play').textContent()).toBe('Play'); // stops at the last epoch

    const csv = await page.request.get(`${baseUrl}${await page.locator('.exports a', { hasText: 'CSV' }).getAttribute('href')}`);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('run_id,experiment,variant_id,label,epoch,step,name,value,time');
    expect(lines.filter((line) => line.includes(',2,-1,g_loss,'))).toHaveLength(1);
  });

  it('selects two runs and compares them: differing settings, bars, curves and grids on one slider', async () => {
    await page.locator('a', { hasText: 'Runs' }).first().click();
    for (const id of Object.values(runIds)) await page.getByLabel(`Select run ${id}`).check();
    await page.getByRole('button', { name: /Compare/ }).click();
    const ids = Object.values(runIds).sort((a, b) => a - b);
    await page.waitForURL(`**/#/compare?runs=${ids.join(',')}`);
    await expect.poll(() => page.locator('.chart canvas').count()).toBe(5);
    expect(await page.locator('table.diff-table tbody tr').allTextContents()).toEqual(['dataset.where{"gender":"male"}{}']);
    expect(await page.locator('.bars[data-metric="g_loss"] .bar').count()).toBe(2);

    const images = page.locator('.grid-row img.sample-grid');
    await expect.poll(() => images.count()).toBe(2);
    const epochs = () => images.evaluateAll((imgs) => imgs.map((img) => img.getAttribute('data-epoch')));
    await expect.poll(epochs).toEqual(['2', '2']);
    await page.getByLabel('Epoch', { exact: true }).fill('1');
    await expect.poll(epochs).toEqual(['1', '1']);
    await expect
      .poll(() => images.evaluateAll((imgs) => (imgs as HTMLImageElement[]).every((img) => img.complete && img.naturalWidth > 0)))
      .toBe(true);
    await shot('compare');

    // The address is the comparison: opened afresh, it shows the same runs.
    await page.goto('about:blank');
    await page.goto(`${baseUrl}/#/compare?runs=${ids.join(',')}`);
    await expect.poll(() => page.locator('.legend-list li').count()).toBe(2);
  });

  it('follows a sweep without a reload: new runs in the table, new epochs on the run page', async () => {
    await page.goto(`${baseUrl}/#/runs`);
    await expect.poll(() => rows().count()).toBe(2);
    const writer = await openStore(dbPath);
    try {
      const experiment = await writer.upsertExperiment({
        name: hostileExperimentName,
        description: '',
        specText: 'experiment: live\n',
        specHash: 'live',
        specFile: 'experiments/live.yaml',
      });
      const run = await writer.ensureRun({ experimentId: experiment.id, variantId: 'live01', label: 'live run', settings: {} });
      await writer.startRun(run.id, { backend: 'cpu', device: 'test machine' });
      await expect.poll(() => rows().count(), { timeout: 10_000 }).toBe(3);
      await expect.poll(() => page.locator(`tr[data-run="${run.id}"] td`).nth(2).textContent()).toBe(hostileExperimentName);
      expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
      expect(await page.locator('.runs-table img').count()).toBe(0);
      expect(await page.locator('h1 .live-note').count()).toBe(1);

      const epochRows = (epoch: number) => [{ epoch, step: -1, name: 'g_loss', value: 2 - epoch * 0.1, time: Date.now() }];
      await writer.commitEpoch(run.id, 1, epochRows(1), await gridPng(5, 1));
      await page.goto(`${baseUrl}/#/runs/${run.id}`);
      const image = page.locator('img.sample-grid');
      await expect.poll(() => image.getAttribute('data-epoch')).toBe('1');

      await writer.commitEpoch(run.id, 2, epochRows(2), await gridPng(5, 2));
      await expect.poll(() => image.getAttribute('data-epoch'), { timeout: 10_000 }).toBe('2');
      await writer.finishRun(run.id, 'done');
      await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 10_000 }).toBe('done');
      expect(await page.locator('.live-note').count()).toBe(0);
    } finally {
      await writer.close();
    }
    expect(pageErrors).toEqual([]);
  });
});

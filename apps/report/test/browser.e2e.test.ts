import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '@facegan/store';
import { gridPng, hostileExperimentName, seedDatabase } from './seed-database';

const chromiumPath = '/usr/bin/chromium';
const appRoot = fileURLToPath(new URL('..', import.meta.url));
const workspaceRoot = resolve(appRoot, '../..');
const artifacts = join(appRoot, '.artifacts');
const hasChromium = existsSync(chromiumPath);

if (!hasChromium) {
  console.warn(`Skipping the report's browser test: no ${chromiumPath} (install it: apt-get install -y chromium).`);
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

describe.skipIf(!hasChromium)('report in a real browser', () => {
  let browser: Browser;
  let server: ChildProcess;
  let baseUrl: string;
  let page: Page;
  let runIds: number[];
  let dbPath: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(appRoot, 'public/build/main.js'))) {
      throw new Error('The client bundle is missing: run `npx nx run report:build` (nx run report:test does it first).');
    }
    mkdirSync(artifacts, { recursive: true });
    dbPath = join(mkdtempSync(join(tmpdir(), 'report-e2e-')), 'facegan.db');
    ({ runIds } = await seedDatabase(dbPath));
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
  });

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolveExit) => server.once('exit', resolveExit));
      server.kill('SIGTERM');
      const forceKill = setTimeout(() => server.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(forceKill);
    }
  });

  it('lists the runs, with HTML in names shown as text', async () => {
    await page.goto(baseUrl);
    const rows = page.locator('.runs-table tbody tr[data-run]');
    await expect.poll(() => rows.count()).toBe(2);
    await expect.poll(() => rows.first().locator('td').nth(2).textContent()).toBe(hostileExperimentName);
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator('.runs-table img').count()).toBe(0);
    await page.screenshot({ path: join(artifacts, 'runs.png'), fullPage: true });
  });

  it('filters rows with the text box and sorts by a column', async () => {
    const rows = page.locator('.runs-table tbody tr[data-run]');
    await page.getByLabel('Filter runs').fill('female');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().getAttribute('data-run')).toBe(String(runIds[1]));
    await page.screenshot({ path: join(artifacts, 'runs-filtered.png'), fullPage: true });
    await page.getByLabel('Filter runs').fill('');
    await expect.poll(() => rows.count()).toBe(2);

    await page.locator('button.sort[data-sort="id"]').click(); // already ascending by id: now descending
    expect(await rows.first().getAttribute('data-run')).toBe(String(runIds[1]));
    await page.locator('button.sort[data-sort="id"]').click();
    expect(await rows.first().getAttribute('data-run')).toBe(String(runIds[0]));
  });

  it('opens a run: charts, and the epoch slider, number and play button change the grid image', async () => {
    await page.locator(`.runs-table tr[data-run="${runIds[0]}"] a.run-link`).click();
    await page.waitForURL(`**/#/runs/${runIds[0]}`);
    // Losses and accuracy per epoch, losses per step (the seed logs step rows), throughput.
    await expect.poll(() => page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator('pre.json').textContent()).toContain('"lr": 0.0002');

    const image = page.locator('img.sample-grid');
    await expect.poll(() => image.getAttribute('data-epoch')).toBe('3'); // opens on the latest epoch
    const latestSrc = await image.getAttribute('src');
    expect(latestSrc).toMatch(/^\/api\/grids\/\d+\.png$/);
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(64);
    const latestPixels = await image.screenshot();
    await page.screenshot({ path: join(artifacts, 'run.png'), fullPage: true });

    await page.getByLabel('Epoch', { exact: true }).fill('1');
    await expect.poll(() => image.getAttribute('data-epoch')).toBe('1');
    expect(await image.getAttribute('src')).not.toBe(latestSrc);
    expect(await page.getByLabel('Epoch number').inputValue()).toBe('1');
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(64);
    expect((await image.screenshot()).equals(latestPixels)).toBe(false);
    await page.screenshot({ path: join(artifacts, 'run-epoch-1.png'), fullPage: true });

    await page.getByLabel('Epoch number').fill('2');
    await page.getByLabel('Epoch number').press('Enter');
    await expect.poll(() => image.getAttribute('data-epoch')).toBe('2');
    expect(await page.getByLabel('Epoch', { exact: true }).inputValue()).toBe('2');

    await page.getByRole('button', { name: 'Play' }).click();
    await expect.poll(() => image.getAttribute('data-epoch'), { timeout: 5000 }).toBe('3');
    await expect.poll(() => page.locator('button.play').textContent()).toBe('Play'); // stops at the last epoch
  });

  it('selects two runs and compares them', async () => {
    await page.locator('a', { hasText: 'Runs' }).first().click();
    for (const id of runIds) await page.getByLabel(`Select run ${id}`).check();
    await page.getByRole('button', { name: /Compare/ }).click();
    await page.waitForURL(`**/#/compare?runs=${runIds.join(',')}`);
    await expect.poll(() => page.locator('.chart canvas').count()).toBe(5);
    const images = page.locator('.grid-row img.sample-grid');
    await expect.poll(() => images.count()).toBe(2);
    await page.getByLabel('Epoch', { exact: true }).fill('2');
    await expect.poll(() => images.evaluateAll((imgs) => imgs.map((img) => img.getAttribute('data-epoch')))).toEqual(['2', '2']);
    await expect
      .poll(() => images.evaluateAll((imgs) => (imgs as HTMLImageElement[]).every((img) => img.complete && img.naturalWidth > 0)))
      .toBe(true);
    await page.screenshot({ path: join(artifacts, 'compare.png'), fullPage: true });
  });

  it('follows a running run without a reload', async () => {
    const writer = await openStore(dbPath);
    try {
      const [experiment] = await writer.listExperiments();
      const run = await writer.ensureRun({ experimentId: experiment.id, variantId: 'live01', label: 'live run', settings: {} });
      await writer.startRun(run.id, { backend: 'cpu', device: 'test machine' });
      const epochRows = (epoch: number) => [{ epoch, step: -1, name: 'g_loss', value: 2 - epoch * 0.1, time: Date.now() }];
      await writer.commitEpoch(run.id, 1, epochRows(1), await gridPng(5, 1));

      await page.goto(`${baseUrl}/#/runs/${run.id}`);
      const image = page.locator('img.sample-grid');
      await expect.poll(() => image.getAttribute('data-epoch')).toBe('1');
      expect(await page.locator('.live-note').count()).toBe(1);

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

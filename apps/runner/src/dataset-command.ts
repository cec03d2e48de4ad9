import { mixSeed, seededRandom } from '@facegan/random';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import sharp from 'sharp';
import { encodePreviewPng, loadDataset, type Dataset } from '@facegan/data';
import { DEFAULT_SETTINGS, loadSpec, type DatasetSettings, type Variant } from '@facegan/spec';

export interface DatasetCommandOptions {
  spec?: string;
  variant?: string;
  preview?: string;
  cache: string;
  bench?: boolean;
  count: number;
  quiet?: boolean;
}

const BENCH_SIDE = 200;
const BENCH_RESOLUTION = 96;

/** `dataset`: loads a variant's training set and says what is in it; `--bench` times preparation instead. Resolves to the exit code. */
export async function runDatasetCommand(options: DatasetCommandOptions): Promise<number> {
  if (options.bench) return runBenchmark(options);
  if (!options.spec) {
    process.stderr.write('dataset: --spec <file> is needed (or --bench)\n');
    return 2;
  }
  const spec = loadSpec(options.spec);
  const variant = pickVariant(spec.variants, options.variant);
  if (!variant) {
    process.stderr.write(`dataset: no variant "${options.variant}" in ${spec.file} (variants: ${spec.variants.map((v) => `${v.index} ${v.id} ${v.label}`).join('; ')})\n`);
    return 2;
  }
  const others = options.variant || spec.variants.length === 1 ? '' : ` (the first of ${spec.variants.length}; --variant <id|index> picks another)`;
  say(options, `${spec.name}: variant ${variant.id} ${variant.label}${others}`);

  const { dataset, seconds } = await timedLoad(variant.settings.dataset, {
    resolution: variant.settings.model.resolution,
    cacheDir: options.cache,
    baseDir: dirname(resolve(spec.file)),
    quiet: options.quiet,
  });
  process.stdout.write(`${describeDataset(dataset, seconds)}\n`);
  if (options.preview) {
    await mkdir(dirname(resolve(options.preview)), { recursive: true });
    await writeFile(options.preview, await encodePreviewPng(dataset));
    process.stdout.write(`preview: ${options.preview} (top: raw images; below: as the model sees them)\n`);
  }
  return 0;
}

/** By index, id, id prefix or label; the first variant when none is asked for. */
function pickVariant(variants: readonly Variant[], wanted: string | undefined): Variant | undefined {
  if (wanted === undefined) return variants[0];
  if (/^\d+$/.test(wanted) && Number(wanted) < variants.length) return variants[Number(wanted)];
  const matching = variants.filter((variant) => variant.id.startsWith(wanted) || variant.label === wanted);
  return matching.length === 1 ? matching[0] : undefined;
}

function describeDataset(dataset: Dataset, seconds: number): string {
  const { summary, cache } = dataset;
  const from = summary.path ?? 'cartoon faces';
  const lines = [
    `${summary.size} images${summary.flip ? ` (+${summary.size} mirrored)` : ''} from ${from}: ${dataset.resolution} px, ` +
      `${summary.channels === 1 ? 'grayscale' : 'RGB'}, crop ${summary.crop}, seed ${summary.seed}`,
    `prepared ${cache.prepared}, from the cache ${cache.reused}, in ${seconds.toFixed(1)} s (cache ${cache.folder})`,
  ];
  if (summary.parts.length > 1) {
    for (const [index, part] of summary.parts.entries()) {
      lines.push(`part ${index} where ${JSON.stringify(part.where)}: ${part.taken} taken of ${part.matched} matching`);
    }
  }
  lines.push('label counts:');
  const width = Math.max(...Object.keys(summary.counts).map((label) => label.length));
  for (const [label, values] of Object.entries(summary.counts)) {
    const text = Object.entries(values).map(([value, count]) => `${value} ${count}`).join(', ');
    lines.push(`  ${label.padEnd(width)}  ${text}`);
  }
  lines.push(`skipped: ${summary.skipped.length} file${summary.skipped.length === 1 ? '' : 's'}`);
  for (const { file, reason } of summary.skipped.slice(0, 10)) lines.push(`  ${file}: ${reason}`);
  if (summary.skipped.length > 10) lines.push(`  … and ${summary.skipped.length - 10} more (all are stored with each run)`);
  lines.push(`items hash: ${summary.itemsHash}`);
  return lines.join('\n');
}

async function timedLoad(
  settings: DatasetSettings,
  options: { resolution: number; cacheDir: string; baseDir?: string; quiet?: boolean; label?: string },
): Promise<{ dataset: Dataset; seconds: number; coresBusy: number }> {
  const bar =
    process.stdout.isTTY && !options.quiet
      ? new SingleBar({ format: `${options.label ?? 'dataset'} |{bar}| {value}/{total} {rate} img/s`, hideCursor: true }, Presets.shades_classic)
      : undefined;
  bar?.start(settings.size, 0, { rate: '-' });
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  try {
    const dataset = await loadDataset(settings, {
      resolution: options.resolution,
      cacheDir: options.cacheDir,
      baseDir: options.baseDir,
      onProgress: (done) => bar?.update(done, { rate: (done / ((performance.now() - started) / 1000)).toFixed(0) }),
    });
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return { dataset, seconds, coresBusy: (cpu.user + cpu.system) / 1e6 / seconds };
  } finally {
    bar?.stop();
  }
}

/**
 * Writes `count` photo-like 200×200 JPEGs to a temporary folder, then times preparing them at 96 px: once cold (every
 * image decoded, cropped, resized and cached) and once warm (all from the cache). Prints images/s and how many cores
 * the process kept busy (CPU time / wall time).
 */
async function runBenchmark(options: DatasetCommandOptions): Promise<number> {
  const folder = await mkdtemp(join(tmpdir(), 'facegan-bench-'));
  try {
    const images = join(folder, 'images');
    await mkdir(images);
    const generated = performance.now();
    let written = 0;
    let bytes = 0;
    const writers = Array.from({ length: 4 }, async () => {
      while (written < options.count) {
        const index = written++;
        const jpeg = await benchJpeg(index);
        bytes += jpeg.length;
        await writeFile(join(images, `${String(index).padStart(6, '0')}.jpg`), jpeg);
      }
    });
    await Promise.all(writers);
    const seconds = ((performance.now() - generated) / 1000).toFixed(1);
    say(options, `wrote ${options.count} ${BENCH_SIDE}×${BENCH_SIDE} JPEGs (${(bytes / options.count / 1024).toFixed(1)} KB each) in ${seconds} s to ${images}`);

    const settings: DatasetSettings = { ...DEFAULT_SETTINGS.dataset, source: 'folder', path: images, size: options.count };
    const load = { resolution: BENCH_RESOLUTION, cacheDir: join(folder, 'cache'), quiet: options.quiet };
    const cold = await timedLoad(settings, { ...load, label: 'cold' });
    const warm = await timedLoad(settings, { ...load, label: 'warm' });
    const rate = (run: { seconds: number }) => (options.count / run.seconds).toFixed(0);
    process.stdout.write(
      `prepared ${options.count} ${BENCH_SIDE}×${BENCH_SIDE} JPEGs at ${BENCH_RESOLUTION} px: ` +
        `${rate(cold)} images/s cold (${cold.seconds.toFixed(1)} s, ${cold.coresBusy.toFixed(1)} cores busy), ` +
        `${rate(warm)} images/s from the cache (${warm.seconds.toFixed(1)} s); ${cold.dataset.cache.prepared} decoded, ${warm.dataset.cache.prepared} the second time\n`,
    );
    return 0;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** A smooth picture with grain, so that it compresses like a photo (about 10 KB), different for every index. */
async function benchJpeg(index: number): Promise<Buffer> {
  const random = seededRandom(mixSeed(index));
  const side = BENCH_SIDE;
  const [from, to, face] = [0, 1, 2].map(() => [random(), random(), random()].map((value) => 40 + value * 180));
  const pixels = Buffer.alloc(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const t = (x + y) / (2 * side);
      const inFace = ((x - side / 2) / 60) ** 2 + ((y - side / 2) / 80) ** 2 < 1;
      for (let c = 0; c < 3; c++) {
        const base = inFace ? face[c] : from[c] * (1 - t) + to[c] * t;
        pixels[(y * side + x) * 3 + c] = Math.max(0, Math.min(255, base + (random() - 0.5) * 24));
      }
    }
  }
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

function say(options: { quiet?: boolean }, line: string): void {
  if (!options.quiet) process.stdout.write(`${line}\n`);
}

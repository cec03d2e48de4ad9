import sharp from 'sharp';
import { openStore, type MetricRow } from '@facegan/store';

export const seededEpochs = 3;
export const hostileExperimentName = '<img src=x onerror="window.__xss=1">faces';

/** A solid-colour PNG, different per run and epoch, so screenshots of different epochs differ. */
export function gridPng(run: number, epoch: number): Promise<Buffer> {
  const hue = ((run * 3 + epoch) * 47) % 360;
  const [r, g, b] = hslToRgb(hue / 360, 0.6, 0.55);
  const tile = 16;
  const size = tile * 4;
  // A 4×4 checker of the colour and a darker shade, like a grid of samples.
  const pixels = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dark = (Math.floor(x / tile) + Math.floor(y / tile)) % 2 === 1 ? 0.6 : 1;
      pixels.set([r * dark, g * dark, b * dark], (y * size + x) * 3);
    }
  }
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 12) % 12;
    return Math.round(255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** Two runs of one experiment, three committed epochs each (metrics, step metrics, grids), through the real store. */
export async function seedDatabase(path: string): Promise<{ runIds: number[] }> {
  const store = await openStore(path);
  try {
    const experiment = await store.upsertExperiment({
      name: hostileExperimentName,
      description: 'Two variants <b>not bold</b>',
      specText: 'name: faces\n',
      specHash: 'e2e',
      specFile: 'experiments/e2e.yaml',
    });
    const variants = [
      { variantId: 'a1b2c3', label: 'dataset.where={"gender":"male"}', lr: 0.0002 },
      { variantId: 'd4e5f6', label: 'dataset.where={"gender":"female"}', lr: 0.0001 },
    ];
    const runIds: number[] = [];
    for (const [index, variant] of variants.entries()) {
      const run = await store.ensureRun({
        experimentId: experiment.id,
        variantId: variant.variantId,
        label: variant.label,
        settings: { training: { epochs: seededEpochs, lr: variant.lr }, dataset: { size: 64 } },
      });
      runIds.push(run.id);
      await store.startRun(run.id, { backend: 'cpu', device: 'test machine' });
      await store.setDatasetSummary(run.id, { source: 'cartoon', size: 64, seed: 1, counts: { gender: { male: 64, female: 0 } } });
      for (let epoch = 1; epoch <= seededEpochs; epoch++) {
        const time = Date.now();
        const stepRows: MetricRow[] = [0, 1].map((i) => ({
          epoch,
          step: (epoch - 1) * 2 + i,
          name: 'g_loss',
          value: 2 - epoch * 0.2 - i * 0.1,
          time,
        }));
        await store.logMetrics(run.id, stepRows);
        const value = (base: number) => base + index * 0.1 - epoch * 0.05;
        const epochRows: MetricRow[] = [
          ['d_loss_real', value(0.7)],
          ['d_loss_fake', value(0.65)],
          ['g_loss', value(1.8)],
          ['d_acc_real', 0.5 + epoch * 0.1],
          ['d_acc_fake', 0.45 + epoch * 0.1],
          ['img_per_s', 120 + epoch],
          ['epoch_seconds', 0.5],
        ].map(([name, v]) => ({ epoch, step: -1, name: name as string, value: v as number, time }));
        await store.commitEpoch(run.id, epoch, epochRows, await gridPng(index, epoch));
      }
      await store.finishRun(run.id, 'done');
    }
    return { runIds };
  } finally {
    await store.close();
  }
}

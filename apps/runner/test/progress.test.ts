import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgress, formatDuration, type ProgressStream } from '../src/progress';

const variant = { id: 'abc123def456', label: 'gender=male' };
const metrics = { d_loss_real: 0.6931, d_loss_fake: 0.7012, g_loss: 0.7204, d_acc_real: 0.5, d_acc_fake: 0.625 };

function recordingStream(isTTY: boolean): ProgressStream & { text: () => string } {
  const chunks: string[] = [];
  return { isTTY, columns: 200, write: (chunk: string) => chunks.push(chunk), text: () => chunks.join('') };
}

/** A clock the test moves: 10 s per epoch. */
function clock() {
  let ms = 0;
  return { now: () => ms, advance: (seconds: number) => (ms += seconds * 1000) };
}

afterEach(() => vi.restoreAllMocks());

describe('progress without a terminal', () => {
  it('prints one plain line per epoch: epoch, img/s, D and G losses, accuracies, ETA', () => {
    const stream = recordingStream(false);
    const time = clock();
    const progress = createProgress({ quiet: false, variants: 2, epochs: 3, stream, now: time.now });
    progress.variantSkipped({ id: 'fff000fff000', label: 'base' }, 'done');
    progress.variantStarted(variant, { epochs: 3, startEpoch: 1, device: 'wasm simd, 1 thread' });
    for (let epoch = 1; epoch <= 3; epoch++) {
      for (let step = 1; step <= 4; step++) progress.step({ epoch, step, stepsPerEpoch: 4, metrics, imagesPerSecond: 40 });
      time.advance(10);
      progress.epoch(epoch, { ...metrics, img_per_s: 41.25 });
    }
    progress.variantFinished(variant, 'done');
    progress.stop();

    expect(stream.text().split('\n')).toEqual([
      'skip fff000fff000 base: done',
      'train abc123def456 gender=male: 3 epochs on wasm simd, 1 thread',
      '  abc123def456 epoch 1/3 41.3 img/s D real 0.693 D fake 0.701 G 0.720 acc 0.50/0.63 ETA 0m20s',
      '  abc123def456 epoch 2/3 41.3 img/s D real 0.693 D fake 0.701 G 0.720 acc 0.50/0.63 ETA 0m10s',
      '  abc123def456 epoch 3/3 41.3 img/s D real 0.693 D fake 0.701 G 0.720 acc 0.50/0.63 ETA 0m00s',
      '  abc123def456 done after 0m30s',
      '',
    ]);
  });

  it('says where a resumed variant starts, bases its ETA on the epochs trained now, and shows NaN losses as -', () => {
    const stream = recordingStream(false);
    const time = clock();
    const progress = createProgress({ quiet: false, variants: 1, epochs: 6, stream, now: time.now });
    progress.log('resuming abc123def456 gender=male from epoch 4 (its last checkpoint)');
    progress.variantStarted(variant, { epochs: 10, startEpoch: 5, device: 'cpu' });
    time.advance(30);
    progress.epoch(5, { ...metrics, g_loss: Number.NaN, img_per_s: 12 });
    const lines = stream.text().split('\n');
    expect(lines[1]).toBe('train abc123def456 gender=male: 10 epochs from epoch 5 on cpu');
    // one epoch in 30 s, five to go
    expect(lines[2]).toBe('  abc123def456 epoch 5/10 12.0 img/s D real 0.693 D fake 0.701 G - acc 0.50/0.63 ETA 2m30s');
  });

  it('prints nothing with quiet but failures, on stderr', () => {
    const stream = recordingStream(false);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const progress = createProgress({ quiet: true, variants: 1, epochs: 1, stream });
    progress.log('backend wasm on wasm simd, 1 thread');
    progress.variantStarted(variant, { epochs: 1, startEpoch: 1, device: 'wasm' });
    progress.epoch(1, metrics);
    progress.variantFinished(variant, 'failed: out of memory', true);
    progress.stop();
    expect(stream.text()).toBe('');
    expect(stderr.mock.calls.map(([text]) => String(text))).toEqual([expect.stringMatching(/^ {2}abc123def456 failed: out of memory after/)]);
  });
});

describe('progress on a terminal', () => {
  it('draws a sweep bar and a variant bar with epoch/step, img/s, D/G losses and ETA, and logs above them', () => {
    const stream = recordingStream(true);
    const time = clock();
    const progress = createProgress({ quiet: false, variants: 2, epochs: 4, stream, now: time.now });
    progress.log('backend wasm on wasm simd, 1 thread');
    progress.variantStarted(variant, { epochs: 4, startEpoch: 1, device: 'wasm' });
    time.advance(5);
    progress.step({ epoch: 1, step: 2, stepsPerEpoch: 4, metrics, imagesPerSecond: 38.5 });
    progress.stop();

    const text = stream.text();
    expect(text).toContain('backend wasm on wasm simd, 1 thread\n');
    // half an epoch in 5 s: 3.5 epochs to go for the variant and for the sweep
    expect(text).toMatch(/sweep +\|░+\| 0\/2 variants ETA 0m35s/);
    expect(text).toMatch(
      /abc123def456 \|█+░+\| epoch 1\/4 step 2\/4 38\.5 img\/s D real 0\.693 D fake 0\.701 G 0\.720 acc 0\.50\/0\.63 ETA 0m35s/,
    );
    // no plain lines besides the bars
    expect(text).not.toMatch(/train abc123def456/);
  });

  it('ends a variant with a line above the bars and moves the sweep bar', () => {
    const stream = recordingStream(true);
    const time = clock();
    const progress = createProgress({ quiet: false, variants: 2, epochs: 2, stream, now: time.now });
    progress.variantStarted(variant, { epochs: 2, startEpoch: 1, device: 'wasm' });
    time.advance(10);
    progress.epoch(1, { ...metrics, img_per_s: 40 });
    time.advance(10);
    progress.epoch(2, { ...metrics, img_per_s: 40 });
    progress.variantFinished(variant, 'done');
    progress.stop();
    const text = stream.text();
    expect(text).toContain('  abc123def456 done after 0m20s\n');
    expect(text).toMatch(/sweep +\|█+░+\| 1\/2 variants ETA 0m00s/);
  });
});

describe('formatDuration', () => {
  it('writes minutes and seconds, or hours and minutes', () => {
    expect(formatDuration(0)).toBe('0m00s');
    expect(formatDuration(95.4)).toBe('1m35s');
    expect(formatDuration(3 * 3600 + 7 * 60 + 59)).toBe('3h07m');
    expect(formatDuration(Number.NaN)).toBe('?');
  });
});

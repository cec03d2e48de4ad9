import { describe, expect, it } from 'vitest';
import { formatFindings, type FindingsRun } from './findings';

const judgedCartoon = (male: number, low: number, high: number) => ({
  share_male: male,
  share_male_low: low,
  share_male_high: high,
  share_glasses: 0.3,
  share_glasses_low: 0.26,
  share_glasses_high: 0.34,
  swd_mean: 42.25,
  msssim_fake: 0.2512,
  msssim_real: 0.1204,
});

const menOnly: FindingsRun = {
  label: 'dataset.where={"gender":"male"}',
  status: 'done',
  epochsDone: 10,
  counts: { gender: { male: 256, female: 0 }, glasses: { true: 80, false: 176 } },
  lastMetrics: { d_acc_real: 0.61, d_acc_fake: 0.55 },
  judged: { epoch: 10, metrics: judgedCartoon(0.973, 0.955, 0.984) },
};

describe('formatFindings', () => {
  it('sets the data composition against the judged composition, per variant', () => {
    const mixed: FindingsRun = {
      ...menOnly,
      label: '',
      counts: { gender: { male: 128, female: 128 }, glasses: { true: 77, false: 179 } },
      judged: { epoch: 10, metrics: judgedCartoon(0.52, 0.476, 0.563) },
    };
    const table = formatFindings('quickstart', [menOnly, mixed]).split('\n');
    expect(table[0]).toBe('## quickstart');
    expect(table[2]).toBe(
      '| variant | status | judged at | men: data | men: generated | glasses: data | glasses: generated | SWD | MS-SSIM fake / real | D acc real / fake |',
    );
    expect(table[4]).toBe(
      '| dataset.where={"gender":"male"} | done | epoch 10 of 10 | 100% | 97% [96–98] | 31% | 30% [26–34] | 42.3 | 0.251 / 0.120 | 61% / 55% |',
    );
    expect(table[5]).toContain('| (all) | done | epoch 10 of 10 | 50% | 52% [48–56] |');
  });

  it('shows face rates for photo datasets, and runs that were never judged or found no face', () => {
    const photo: FindingsRun = {
      label: 'model.dropout=0.5',
      status: 'done',
      epochsDone: 20,
      counts: { gender: { male: 30, female: 70 } },
      lastMetrics: { d_acc_real: 0.9, d_acc_fake: 0.95 },
      judged: { epoch: 20, metrics: { face_rate: 0, face_rate_low: 0, face_rate_high: 0.01, face_rate_real: 0.97, share_male: NaN, share_male_low: 0, share_male_high: 1, swd_mean: 300 } },
    };
    const unjudged: FindingsRun = { ...photo, label: 'model.dropout=0', status: 'diverged', judged: null, lastMetrics: {} };
    const table = formatFindings('utkface', [photo, unjudged]);
    expect(table).toContain('| face rate (real) |');
    expect(table).toContain('| model.dropout=0.5 | done | epoch 20 of 20 | 30% | no faces | 0% [0–1] (97%) | 300.0 | – / – | 90% / 95% |');
    expect(table).toContain('| model.dropout=0 | diverged | not judged | 30% | – | – (–) | – | – / – | – / – |');
    expect(table).not.toContain('glasses');
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { MetricRow } from '../src/index';
import { EPOCH_SUMMARY_STEP } from '../src/index';

/** A fresh temporary folder per test; `removeAll` deletes every one made so far. */
export function tempDirs() {
  const made: string[] = [];
  return {
    make(): string {
      const dir = mkdtempSync(join(tmpdir(), 'facegan-store-'));
      made.push(dir);
      return dir;
    },
    removeAll(): void {
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const experimentInput = {
  name: 'quickstart',
  description: 'cartoon faces, small DCGAN',
  specText: 'name: quickstart\nepochs: 3\n',
  specHash: 'sha256:abc',
  specFile: 'experiments/quickstart.yaml',
};

/** What fixtures/crash-writer.ts commits each epoch. */
export const CRASH_WRITER = { SUMMARY_NAMES: ['loss_d', 'loss_g', 'd_real', 'd_fake'], STEPS_PER_EPOCH: 500 } as const;

/** The epoch summary rows of one epoch, as the trainer writes them. */
export function summaryRows(epoch: number, values: Record<string, number>, time = 1_700_000_000_000): MetricRow[] {
  return Object.entries(values).map(([name, value]) => ({ epoch, step: EPOCH_SUMMARY_STEP, name, value, time }));
}

/** A valid grayscale PNG of the given size (one zlib stream of zero-filtered, black rows). */
export function makePng(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8); // bit depth 8, grayscale, deflate, adaptive filtering, no interlace
  const pixels = Buffer.alloc((width + 1) * height);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

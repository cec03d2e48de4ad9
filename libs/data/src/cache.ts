import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Prepared } from './prepare';

/** Bump when prepareImage gives other pixels for the same input, so that old entries are not reused. */
const PREPARE_VERSION = 'p1';
const PIXELS = 0x50; // 'P'
const SKIPPED = 0x53; // 'S'

export interface PreparedCacheKey {
  resolution: number;
  channels: 1 | 3;
  crop: 'center' | 'face';
}

/**
 * Prepared images on disk, one file per image: `<cacheDir>/prepared/p1/<res>px-<ch>ch-<crop>/<ab>/<sha256 of key>`,
 * holding either the pixels or why the image was skipped, so that a second load decodes nothing. An image's key names
 * its content (a hash of the file's bytes, or the cartoon version and index) and, for face crops, its box.
 * Entries are written to a temporary file and renamed into place: concurrent builders never see half an entry,
 * and when two write the same entry the last rename wins with the same bytes.
 */
export class PreparedCache {
  readonly folder: string;
  private readonly pixelLength: number;
  private readonly madeFolders = new Set<string>();

  constructor(cacheDir: string, key: PreparedCacheKey) {
    this.folder = join(cacheDir, 'prepared', PREPARE_VERSION, `${key.resolution}px-${key.channels}ch-${key.crop}`);
    this.pixelLength = key.resolution * key.resolution * key.channels;
  }

  /** The cached result for `key`, or undefined when there is none (or only a damaged one). */
  async read(key: string): Promise<Prepared | undefined> {
    let entry: Buffer;
    try {
      entry = await readFile(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    if (entry[0] === PIXELS && entry.length === 1 + this.pixelLength) return { pixels: entry.subarray(1) };
    if (entry[0] === SKIPPED && entry.length > 1) return { skipped: entry.subarray(1).toString('utf8') };
    return undefined;
  }

  async write(key: string, prepared: Prepared): Promise<void> {
    const path = this.pathOf(key);
    if (!this.madeFolders.has(dirname(path))) {
      await mkdir(dirname(path), { recursive: true });
      this.madeFolders.add(dirname(path));
    }
    const entry =
      'pixels' in prepared
        ? Buffer.concat([Buffer.from([PIXELS]), prepared.pixels])
        : Buffer.concat([Buffer.from([SKIPPED]), Buffer.from(prepared.skipped, 'utf8')]);
    await writeFileAtomically(path, entry);
  }

  private pathOf(key: string): string {
    const name = createHash('sha256').update(key).digest('hex');
    return join(this.folder, name.slice(0, 2), name);
  }
}

/** Writes to a unique temporary file and renames it into place, so readers never see half a file, even across processes. */
async function writeFileAtomically(path: string, data: Buffer): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

import { existsSync } from 'node:fs';
import { openStore, StoreMissingError, type Store } from '@facegan/store';
import type { StoreSource } from './store-source';

/**
 * Opens the database read-only on first use, and keeps asking while it does not exist yet, so the
 * report can be started before the first sweep.
 */
export function readonlyStoreSource(dbPath: string): { source: StoreSource; close(): Promise<void> } {
  let opening: Promise<Store | null> | null = null;

  const source: StoreSource = async () => {
    if (!opening) {
      if (!existsSync(dbPath)) return null;
      opening = openStore(dbPath, { readonly: true }).catch((error: unknown) => {
        opening = null;
        if (error instanceof StoreMissingError) return null;
        throw error;
      });
    }
    return opening;
  };

  return {
    source,
    async close() {
      const store = await opening?.catch(() => null);
      await store?.close();
    },
  };
}

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const workspaceRoot = dirname(fileURLToPath(import.meta.url));
const libs = ['spec', 'data', 'model', 'engine', 'judge', 'random', 'store'];

/** One vitest config for every project: the path aliases of tsconfig.base.json, forked workers. */
export function projectConfig(projectRoot: string, options: { timeoutMs?: number } = {}) {
  return defineConfig({
    root: join(workspaceRoot, projectRoot),
    resolve: {
      alias: Object.fromEntries(libs.map((lib) => [`@facegan/${lib}`, join(workspaceRoot, 'libs', lib, 'src', 'index.ts')])),
    },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      pool: 'forks',
      testTimeout: options.timeoutMs ?? 60_000,
      hookTimeout: options.timeoutMs ?? 60_000,
    },
  });
}

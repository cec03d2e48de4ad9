import { projectConfig } from '../../vitest.shared.ts';

export default projectConfig('apps/runner', { timeoutMs: 600_000 });

import { projectConfig } from '../../vitest.shared.ts';

export default projectConfig('apps/report', { timeoutMs: 120_000 });

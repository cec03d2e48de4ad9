import { projectConfig } from '../../vitest.shared';

export default projectConfig('apps/report', { timeoutMs: 120_000 });

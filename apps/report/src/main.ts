import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { buildReportApp } from './server/app';
import { readonlyStoreSource } from './server/readonly-store';

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1']);

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('not a port number');
  return port;
}

const options = new Command('report')
  .description('Web report over a facegan database (read-only)')
  .option('--port <port>', 'port to listen on (0 = any free port)', parsePort, 4200)
  .option('--db <path>', 'SQLite database written by the runner', 'runs/facegan.db')
  .option('--host <host>', 'interface to bind', '127.0.0.1')
  .parse()
  .opts<{ port: number; db: string; host: string }>();

const dbPath = resolve(options.db);
const store = readonlyStoreSource(dbPath);
const app = buildReportApp({
  store: store.source,
  dbPath,
  publicDir: fileURLToPath(new URL('../public', import.meta.url)),
});

if (!loopbackHosts.has(options.host)) {
  console.warn(
    `warning: binding ${options.host}: the report has no authentication, anyone who can reach this address can read every run.`,
  );
}

const address = await app.listen({ port: options.port, host: options.host });
console.log(`facegan report on ${address} (database: ${dbPath})`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app
      .close()
      .then(() => store.close())
      .finally(() => process.exit(0));
  });
}

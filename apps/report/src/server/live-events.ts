import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { StoreSource } from './store-source';

const heartbeatMs = 20_000;

/**
 * `GET /api/events`: a server-sent event stream that says `change` whenever the store's data version moves (a sweep
 * committed something), so open pages refresh what they show without reloading. One timer asks the store, however many
 * pages listen, and only while some do.
 */
export function registerLiveEvents(app: FastifyInstance, source: StoreSource, checkEveryMs: number): void {
  const listeners = new Set<ServerResponse>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let lastVersion: string | undefined;
  let lastHeartbeat = Date.now();

  async function currentVersion(): Promise<string> {
    const store = await source().catch(() => null);
    return store ? store.dataVersion() : 'no database';
  }

  function send(response: ServerResponse, version: string) {
    response.write(`event: change\ndata: ${JSON.stringify(version)}\n\n`);
  }

  async function check() {
    const version = await currentVersion().catch(() => lastVersion);
    if (version === undefined || version === lastVersion) {
      if (Date.now() - lastHeartbeat > heartbeatMs) {
        lastHeartbeat = Date.now();
        for (const response of listeners) response.write(': still here\n\n');
      }
      return;
    }
    lastVersion = version;
    for (const response of listeners) send(response, version);
  }

  function stopTimerIfIdle() {
    if (listeners.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
      lastVersion = undefined;
    }
  }

  app.get('/api/events', async (request, reply) => {
    const version = await currentVersion();
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    // The version the page is at: it refreshes once on connecting, which also covers a reconnect after a restart.
    send(response, version);
    listeners.add(response);
    lastVersion ??= version;
    timer ??= setInterval(() => void check(), checkEveryMs);
    request.raw.once('close', () => {
      listeners.delete(response);
      stopTimerIfIdle();
    });
  });

  // Open streams would keep app.close() waiting forever.
  app.addHook('preClose', async () => {
    for (const response of listeners) response.end();
    listeners.clear();
    stopTimerIfIdle();
  });
}

import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildReportApp } from '../src/server/app';
import { FakeStore } from './fake-store';

/** Reads an event stream and hands over each `change` event's data as it arrives. */
function listen(url: string): { events: string[]; close(): void; headers: Promise<Record<string, unknown>> } {
  const events: string[] = [];
  let buffered = '';
  let close = () => {};
  const headers = new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = request(url, (response) => {
      resolve(response.headers);
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffered += chunk;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const message = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = /^event: change\ndata: (.*)$/m.exec(message);
          if (data) events.push(JSON.parse(data[1]));
        }
      });
    });
    req.on('error', reject);
    req.end();
    close = () => req.destroy();
  });
  return { events, headers, close: () => close() };
}

describe('live events', () => {
  let app: FastifyInstance;
  const publicDir = mkdtempSync(join(tmpdir(), 'report-live-'));
  afterEach(() => app.close());
  afterAll(() => rmSync(publicDir, { recursive: true, force: true }));

  it('tells open pages when the store changed, once per change, and lets the server close', async () => {
    const store = new FakeStore();
    let source: () => Promise<FakeStore | null> = async () => null;
    app = buildReportApp({ store: () => source(), dbPath: 'x.db', publicDir, liveCheckMs: 20 });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });

    const stream = listen(`${address}/api/events`);
    expect((await stream.headers)['content-type']).toMatch(/^text\/event-stream/);
    await expect.poll(() => stream.events).toEqual(['no database']);

    source = async () => store; // the first sweep created the database
    await expect.poll(() => stream.events).toEqual(['no database', '1']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stream.events).toHaveLength(2); // nothing changed: nothing sent

    store.version = 2;
    await expect.poll(() => stream.events).toEqual(['no database', '1', '2']);
    // app.close() in afterEach ends the open stream instead of waiting for it.
  });
});

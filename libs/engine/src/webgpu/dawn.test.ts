import { describe, expect, it } from 'vitest';
import { pacedDawnWait } from './dawn';

/** Event-loop turns (setImmediate callbacks) while `wait` runs. */
async function turnsDuring(wait: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let waiting = true;
  const spin = () => {
    if (!waiting) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  try {
    await wait();
  } finally {
    waiting = false;
  }
  return turns;
}

const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe('pacedDawnWait', () => {
  it('gives the promise its value or its error', async () => {
    await expect(pacedDawnWait(after(5, 42))).resolves.toBe(42);
    await expect(pacedDawnWait(Promise.reject(new Error('lost device')))).rejects.toThrow('lost device');
  });

  it('slows the event loop to about one turn every 0.25 ms while it waits, and no longer', async () => {
    const free = await turnsDuring(() => after(40, 0));
    const paced = await turnsDuring(() => pacedDawnWait(after(40, 0)));
    // 40 ms at one turn per 0.25 ms at most: 160 turns (a spinning loop makes thousands on any machine)
    expect(paced).toBeLessThanOrEqual(170);
    expect(free).toBeGreaterThan(4 * paced);
    // two waits at once share one pacer; after them the loop runs free again
    const both = await turnsDuring(() => Promise.all([pacedDawnWait(after(40, 0)), pacedDawnWait(after(20, 0))]));
    expect(both).toBeLessThanOrEqual(170);
    expect(await turnsDuring(() => after(40, 0))).toBeGreaterThan(4 * paced);
  });
});

/** Maps every item with at most `limit` calls in flight; results keep the items' order. Rejects on the first failure. */
export async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, work: (item: T, position: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const position = next++;
      try {
        results[position] = await work(items[position], position);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

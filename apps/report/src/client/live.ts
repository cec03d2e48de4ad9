/**
 * Follows the server's event stream (`/api/events`), which says `change` whenever the database changed. Views subscribe
 * with a refresh function; one stream serves them all and stays open only while someone listens.
 */
const listeners = new Set<() => void>();
let events: EventSource | null = null;

export function onStoreChange(listener: () => void): () => void {
  listeners.add(listener);
  if (!events) {
    events = new EventSource('/api/events');
    events.addEventListener('change', () => {
      for (const notify of listeners) notify();
    });
  }
  return () => {
    listeners.delete(listener);
    if (!listeners.size) {
      events?.close();
      events = null;
    }
  };
}

/**
 * Serializes a view's loads: `refresh` never runs two at once (a refresh asked for during a load runs once after it),
 * so an older answer cannot overwrite a newer one. Every change of the database asks for a refresh; the first event of
 * a stream does too, so a change between the view's first load and the stream opening is not lost.
 */
export function liveLoader(load: () => Promise<void>, onError: (error: unknown) => void): { refresh(): void; stop(): void } {
  let running = false;
  let again = false;
  const refresh = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await load();
      } while (again);
    } catch (error) {
      onError(error);
    } finally {
      running = false;
    }
  };
  const stop = onStoreChange(() => void refresh());
  return { refresh: () => void refresh(), stop };
}

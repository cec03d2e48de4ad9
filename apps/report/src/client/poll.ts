export const pollIntervalMs = 3000;

/**
 * Calls `refresh` every few seconds for as long as it answers true (something shown is still running).
 * Returns a stop function for when the view goes away.
 */
export function pollWhile(refresh: () => Promise<boolean>, intervalMs = pollIntervalMs): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    let again = true;
    try {
      again = await refresh();
    } catch (error) {
      console.warn('refresh failed, will retry', error);
    }
    if (again && !stopped) timer = setTimeout(tick, intervalMs);
  };
  timer = setTimeout(tick, intervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

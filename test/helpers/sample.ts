/**
 * Reads a value again and again in the background, `intervalMs` after each
 * answer, until `stop()`: e.g. how many pods are ready all through a rollout.
 * `stop()` waits for the read under way and resolves with every value read
 * (reads that answer undefined are left out).
 */
export function sample<T>(read: () => Promise<T | undefined>, intervalMs = 100): { stop(): Promise<T[]> } {
  const values: T[] = [];
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      const value = await read();
      if (value !== undefined) values.push(value);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    stop: async () => {
      sampling = false;
      await loop;
      return values;
    },
  };
}

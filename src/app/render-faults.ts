/**
 * Fault injection for the error-boundary tests (`?testhooks=1` only): a component whose key
 * was marked throws while it renders, as a record or chart with a rendering bug would. The
 * boundaries (components/ErrorBoundary.tsx) must contain it. Without the flag nothing can
 * be marked and the check is a set lookup.
 */
const failing = new Set<string>();

export class RenderFaultError extends Error {
  constructor(key: string) {
    super(`test hook: simulated rendering failure of ${key}`);
    this.name = 'RenderFaultError';
  }
}

/** Marks (or unmarks) a component key: "result:<record id>", "charts:results", "panel:<name>". */
export function setRenderFault(key: string, on: boolean): void {
  if (on) failing.add(key);
  else failing.delete(key);
}

export function throwIfRenderFault(key: string): void {
  if (failing.size > 0 && failing.has(key)) throw new RenderFaultError(key);
}

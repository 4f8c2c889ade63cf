/**
 * Everything a test opens (redis-server, service processes, apps, connections) is tracked here;
 * the root hook (test/hooks.ts) fails the run if anything is still open at the end.
 */
interface Tracked {
  label: string;
  close: () => Promise<void>;
}

const open = new Map<object, Tracked>();

/** Tracks `resource` until {@link untrack}; `close` is used to clean up after a leak. */
export function track<T extends object>(label: string, resource: T, close: () => Promise<void>): T {
  open.set(resource, { label, close });
  return resource;
}

/** Marks `resource` closed. */
export function untrack(resource: object): void {
  open.delete(resource);
}

/** Labels of what is still open. */
export function openResources(): string[] {
  return [...open.values()].map((t) => t.label);
}

/** Closes everything still open (after a leak was reported), newest first. */
export async function closeAll(): Promise<void> {
  for (const [resource, t] of [...open.entries()].reverse()) {
    await t.close().catch(() => undefined);
    open.delete(resource);
  }
}

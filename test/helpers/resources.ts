/**
 * Everything a test opens (redis-server, service processes, apps, connections) is tracked here;
 * the root hooks (test/hooks.ts) fail the test, or the suite, that left something open.
 */
interface Tracked {
  label: string;
  close: () => Promise<void>;
  /** Order of tracking: what was opened after a {@link mark} has a greater seq. */
  seq: number;
}

const open = new Map<object, Tracked>();
let lastSeq = 0;

/** Tracks `resource` until {@link untrack}; `close` is used to clean up after a leak. */
export function track<T extends object>(label: string, resource: T, close: () => Promise<void>): T {
  open.set(resource, { label, close, seq: ++lastSeq });
  return resource;
}

/** Marks `resource` closed. */
export function untrack(resource: object): void {
  open.delete(resource);
}

/** A point in the run: {@link openSince} answers what was opened after it and is still open. */
export function mark(): number {
  return lastSeq;
}

/** Labels of what is still open; with `since`, only what was opened after that {@link mark}. */
export function openResources(since = 0): string[] {
  return [...open.values()].filter((t) => t.seq > since).map((t) => t.label);
}

/** Closes everything still open (after a leak was reported), newest first; with `since`, only what was opened after that mark. */
export async function closeAll(since = 0): Promise<void> {
  for (const [resource, t] of [...open.entries()].reverse()) {
    if (t.seq <= since) continue;
    await t.close().catch(() => undefined);
    open.delete(resource);
  }
}

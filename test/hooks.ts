import { closeAll, mark, openResources } from './helpers/resources.js';

/**
 * Root hooks (graphile/worker's rule): a test that leaves a process, server, queue or connection
 * open (what test/helpers/resources.ts tracks) fails, named: `"<full test title>" left open: ...`.
 * Each test is compared with what was open when it started, so what a suite opens in before() and
 * closes in after() is not counted; a suite whose own hooks leave something open fails in an
 * "after all" hook that names the suite. Untracked child processes are counted per top-level suite
 * (a pool opened in before() starts its children lazily, during the tests) and at the end. What is
 * found is closed, so the next tests run clean and the run can end.
 */

/** What was open at a point: the resources' mark and the number of child process handles. */
interface Baseline {
  mark: number;
  children: number;
}

/** A child's handle closes a moment after its exit event: how long to give it. */
const CHILD_SETTLE_MS = 1_000;

/** Child processes already reported as leaked (they may still run; handles carry no pid to kill them by). */
let reportedChildren = 0;

/** Child process handles open now, not counting those already reported. */
function childHandles(): number {
  const n = process.getActiveResourcesInfo().filter((r) => r === 'ProcessWrap').length;
  reportedChildren = Math.min(reportedChildren, n);
  return n - reportedChildren;
}
const baseline = (): Baseline => ({ mark: mark(), children: childHandles() });

/** What was opened since `since` and is still open (closed now), or undefined; child processes too with `children`. */
async function leakedSince(since: Baseline, children: boolean): Promise<string | undefined> {
  const left = openResources(since.mark);
  if (left.length) await closeAll(since.mark);
  if (!children) return left.length ? left.join(', ') : undefined;
  let extra = childHandles() - since.children;
  for (const until = Date.now() + CHILD_SETTLE_MS; extra > 0 && Date.now() < until; extra = childHandles() - since.children) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (extra > 0) reportedChildren += extra;
  const all = [...left, ...(extra > 0 ? [`${extra} child process(es)`] : [])];
  return all.length ? all.join(', ') : undefined;
}

/** Wraps every suite's own hooks in a baseline (first "before all") and a check (last "after all"). */
function instrument(suite: Mocha.Suite, topLevel: boolean): void {
  for (const child of suite.suites) {
    let start: Baseline = baseline();
    child.beforeAll('leak check: baseline', () => {
      start = baseline();
    });
    // Mocha runs a suite's "before all" hooks in order: the baseline goes first.
    const hooks = (child as unknown as { _beforeAll: unknown[] })._beforeAll;
    if (Array.isArray(hooks)) hooks.unshift(hooks.pop());
    child.afterAll('leak check', async () => {
      const leak = await leakedSince(start, topLevel);
      if (leak) throw new Error(`"${child.fullTitle()}" (its hooks${topLevel ? ', or child processes of its tests' : ''}) left open: ${leak}`);
    });
    instrument(child, false);
  }
}

let testStart: Baseline = baseline();

export const mochaHooks = {
  beforeAll(this: Mocha.Context) {
    const root = this.test?.parent;
    if (root) instrument(root, true);
  },
  beforeEach() {
    testStart = baseline();
  },
  async afterEach(this: Mocha.Context) {
    const leak = await leakedSince(testStart, false);
    // Fails the test itself (not this hook), so mocha goes on with the next tests.
    if (leak) (this.test as Mocha.Hook).error(new Error(`"${this.currentTest?.fullTitle()}" left open: ${leak}`));
  },
  async afterAll() {
    const left = openResources();
    // A child's handle closes a moment after its exit event: give it that moment.
    await new Promise((r) => setTimeout(r, 200));
    const children = childHandles();
    if (left.length) await closeAll();
    if (left.length || children) {
      throw new Error(`left open after the tests: ${[...left, ...(children ? [`${children} child process(es)`] : [])].join(', ')}`);
    }
  },
};

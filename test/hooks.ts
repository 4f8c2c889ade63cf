import { closeAll, openResources } from './helpers/resources.js';

/**
 * Root hooks (graphile/worker's rule): the run fails if a test left a process, server, queue or
 * connection open. What is found is closed so the run can end.
 */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    const left = openResources();
    // A child's handle closes a moment after its exit event: give it that moment.
    await new Promise((r) => setTimeout(r, 200));
    const children = process.getActiveResourcesInfo().filter((r) => r === 'ProcessWrap').length;
    if (left.length) await closeAll();
    if (left.length || children) {
      throw new Error(`left open after the tests: ${[...left, ...(children ? [`${children} child process(es)`] : [])].join(', ')}`);
    }
  },
};

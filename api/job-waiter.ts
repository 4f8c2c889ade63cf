// moved: shim kept for the merge
export * from './services/job-waiter.js';

// moved: shim kept for the merge
export * from '../store/job-store.js';

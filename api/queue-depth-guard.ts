// moved: shim kept for the merge
export * from './services/queue-depth-guard.js';

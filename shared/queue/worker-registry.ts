// moved: shim kept for the merge
export * from '../store/worker-registry.js';

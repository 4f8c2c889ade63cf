// moved: shim kept for the merge
export * from '../algorithms/child-pool.js';

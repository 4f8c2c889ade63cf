// moved: shim kept for the merge
export * from './errors/index.js';

// moved: shim kept for the merge
export * from '../store/function-store.js';

// moved: shim kept for the merge
export * from '../store/api-key-store.js';

// moved: shim kept for the merge
export * from './services/function-service.js';

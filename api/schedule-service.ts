// moved: shim kept for the merge
export * from './services/schedule-service.js';

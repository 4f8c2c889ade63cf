// moved: shim kept for the merge
export * from './services/job-service.js';

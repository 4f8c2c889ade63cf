// moved: shim kept for the merge
export * from './services/project-service.js';

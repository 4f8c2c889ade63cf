// moved: shim kept for the merge
export * from './openapi/document.js';

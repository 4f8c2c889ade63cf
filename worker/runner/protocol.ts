// moved: shim kept for the merge
export * from '../algorithms/protocol.js';

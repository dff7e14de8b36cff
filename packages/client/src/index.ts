export * from './delivery/index.js';
export * from './platform/index.js';

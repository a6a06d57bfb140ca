export { aiSystemLifecycle } from './lifecycle.js';
export { governanceDigest } from './digest.js';

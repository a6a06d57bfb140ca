export { aiSystemLifecycle } from './lifecycle.js';

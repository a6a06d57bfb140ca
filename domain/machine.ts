/**
 * The lifecycle as a pure state machine, one module per part of it. Message
 * handlers and timers call these functions; they change the state and
 * return the effects for the workflow to carry out through activities.
 */
export * from './machine/core.js';
export * from './machine/work.js';
export * from './machine/approvals.js';
export * from './machine/operations.js';
export * from './machine/timers.js';
export * from './machine/corrective-actions.js';

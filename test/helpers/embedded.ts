// The suite's PostgreSQL is the playground's: one implementation, in src/playground/embedded-postgres.ts.
export * from '../../src/playground/embedded-postgres.js';

// The durable state of pgsessions in the state database (schema `pgsessions`), composed from its three
// stores: requests under the two-person rule (request-store.ts), the hash-chained audit log
// (audit-store.ts) and the outbox that carries audit entries to Slack (outbox-store.ts).
import type pg from 'pg';
import { createBinder } from '../domain/binding.js';
import { createAuditStore, type AuditStoreOptions } from './audit-store.js';
import { createOutboxStore } from './outbox-store.js';
import { createRequestStore } from './request-store.js';

export type { CreateRequestInput, DeliverOptions, DeliverResult } from '../domain/state-ports.js';
export type StateStoreOptions = AuditStoreOptions;

export function createStateStore(pool: pg.Pool, options: StateStoreOptions = {}) {
  const audit = createAuditStore(pool, options);
  // The binder holds the same key as the chain (PGSESSIONS_AUDIT_KEY); the rule store gets it from here too.
  const binder = createBinder(options.key ?? null);
  return { ...createRequestStore(pool, audit.appendIn, binder), ...audit, ...createOutboxStore(pool), binder };
}

export type StateStore = ReturnType<typeof createStateStore>;

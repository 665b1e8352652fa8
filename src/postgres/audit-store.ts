// The audit log in PostgreSQL: appends (inside the caller's transaction, so a state change and its entry
// commit together), reads, and verification page by page. With a key, the first append writes a
// `chain_keyed` entry: where keyed hashing began is itself an entry of the chain, posted to the audit channel.
import type pg from 'pg';
import {
  CHAIN_START,
  GENESIS_HASH,
  auditKeyId,
  chainHash,
  chainHead,
  entryHolds,
  finishVerification,
  verifyChainStep,
  type AuditEntry,
  type AuditEntryInput,
  type AuditHashedFields,
  type ChainVerification,
  type HashAlg,
} from '../domain/audit.js';
import type { AuditLogPort } from '../domain/state-ports.js';
import {
  AUDIT_LOCK_KEY,
  SQL_AUDIT_INSERT,
  SQL_AUDIT_DRAW,
  SQL_AUDIT_LOCK,
  SQL_AUDIT_NEWEST,
  SQL_AUDIT_NEXT,
  SQL_AUDIT_POWERS,
  SQL_LAST_AUDIT_ALG,
  SQL_READ_AUDIT,
} from './audit-sql.js';
import { toAuditEntry } from './state-rows.js';
import { inTransaction } from './transaction.js';

/** How far back the chain head is looked for when the newest entry does not hold (rows inserted without the key). */
const HEAD_WINDOW = 200;

/** A seq drawn from the sequence by this session, and the entry's time. */
interface Drawn {
  seq: string;
  at: string;
}

export interface AuditStoreOptions {
  /** PGSESSIONS_AUDIT_KEY: entries are HMAC-SHA256 under it; null keeps the chain unkeyed (SHA-256). */
  key?: Uint8Array | null;
}

/** What the connected role could do to the audit log, in the words start-up and `status` use. */
export interface AuditPowers {
  role: string;
  /** Owner (or member of the owner role) or superuser: it can disable the triggers and rewrite the table. */
  owns: boolean;
  superuser: boolean;
  /** UPDATE, DELETE or TRUNCATE granted (only a trigger stands in the way). */
  mayModify: boolean;
}

export interface AuditChainState {
  keyed: boolean;
  /** The newest entry was hashed with a key (the chain is keyed from some entry on). */
  lastAlg: HashAlg | null;
}

/** What every audit operation works with: the pool, and the key and algorithm new entries are hashed with. */
interface AuditDb {
  pool: pg.Pool;
  key: Uint8Array | null;
  alg: HashAlg;
}

/** The newest entry can be chained on as it is (the usual case): it holds, as far as this instance can tell. */
function headAsIs({ key }: AuditDb, e: AuditEntry): boolean {
  return e.hashAlg === 'hmac-sha256' ? !key || entryHolds(e, key) : !key && entryHolds(e);
}

/**
 * A seq for the next entry and the entry it chains on: the newest that holds (chainHead), not simply the
 * highest seq — a row someone inserted without the key must not become every later entry's predecessor.
 */
async function drawIn(db: AuditDb, client: pg.PoolClient): Promise<{ drawn: Drawn; head: AuditEntry | null }> {
  const row = (await client.query(SQL_AUDIT_DRAW)).rows[0] as
    | (Record<string, unknown> & { next_seq: string; next_at: string })
    | undefined;
  if (!row) throw new Error('pgsessions.audit_log: could not allocate a sequence value');
  const drawn = { seq: row.next_seq, at: row.next_at };
  return { drawn, head: await headFrom(db, client, row.seq === null ? null : toAuditEntry(row)) };
}

/** The head, given the newest entry: itself when it holds, else looked for among the newest HEAD_WINDOW. */
async function headFrom(db: AuditDb, client: pg.PoolClient, newest: AuditEntry | null): Promise<AuditEntry | null> {
  if (!newest || headAsIs(db, newest)) return newest;
  return chainHead((await client.query(SQL_AUDIT_NEWEST, [HEAD_WINDOW])).rows.map(toAuditEntry), db.key);
}

async function drawNext(client: pg.PoolClient): Promise<Drawn> {
  const next = (await client.query<Drawn>(SQL_AUDIT_NEXT)).rows[0];
  if (!next) throw new Error('pgsessions.audit_log: could not allocate a sequence value');
  return next;
}

const chainKeyed = (k: Uint8Array): AuditEntryInput => ({
  event: 'chain_keyed',
  details: { keyId: auditKeyId(k), alg: 'hmac-sha256' },
});

async function insert(
  db: AuditDb,
  client: pg.PoolClient,
  input: AuditEntryInput,
  drawn: Drawn,
  head: AuditEntry | null,
): Promise<AuditEntry> {
  const prevHash = head?.hash ?? GENESIS_HASH;
  // Normalise to what jsonb will give back, so the hash computed now is the hash verification recomputes.
  const details = JSON.parse(JSON.stringify(input.details ?? {})) as AuditEntryInput['details'];
  const fields = {
    seq: Number(drawn.seq),
    at: drawn.at,
    requestId: input.requestId ?? null,
    event: input.event,
    actor: input.actor ?? null,
    cluster: input.cluster ?? null,
    details,
  } as AuditHashedFields;
  const hash = chainHash(prevHash, fields, db.key);
  await client.query(SQL_AUDIT_INSERT, [
    drawn.seq,
    fields.at,
    fields.requestId,
    fields.event,
    fields.actor,
    fields.cluster,
    JSON.stringify(details),
    prevHash,
    hash,
    db.alg,
  ]);
  return { ...fields, prevHash, hash, hashAlg: db.alg } as AuditEntry;
}

/** Appends one entry to the chain inside the caller's transaction (which must commit for it to count). */
async function appendIn(db: AuditDb, client: pg.PoolClient, input: AuditEntryInput): Promise<AuditEntry> {
  await client.query(SQL_AUDIT_LOCK, [AUDIT_LOCK_KEY]);
  let { drawn, head } = await drawIn(db, client);
  // With a key, the first keyed entry is always a `chain_keyed` one: it takes the seq drawn, the entry another.
  if (db.key && head?.hashAlg !== 'hmac-sha256') {
    head = await insert(db, client, chainKeyed(db.key), drawn, head);
    drawn = await drawNext(client);
  }
  return insert(db, client, input, drawn, head);
}

async function readAudit(db: AuditDb, afterSeq = 0, limit = 100): Promise<AuditEntry[]> {
  const { rows } = await db.pool.query(SQL_READ_AUDIT, [afterSeq, limit]);
  return rows.map(toAuditEntry);
}

async function verifyAudit(db: AuditDb): Promise<ChainVerification> {
  const pageSize = 1000;
  let cursor = CHAIN_START;
  let afterSeq = 0;
  for (;;) {
    const page = await readAudit(db, afterSeq, pageSize);
    cursor = verifyChainStep(page, cursor, db.key).cursor;
    const last = page[page.length - 1];
    if (!last || page.length < pageSize) return finishVerification(cursor, db.key);
    afterSeq = last.seq;
  }
}

/**
 * Writes the `chain_keyed` entry now if a key is set and the chain is not keyed yet, so the switch is
 * recorded (and posted) at start-up rather than with the next request. Returns the chain's state.
 */
async function startChain(db: AuditDb): Promise<AuditChainState> {
  const { key } = db;
  if (key) {
    await inTransaction(db.pool, async (client) => {
      await client.query(SQL_AUDIT_LOCK, [AUDIT_LOCK_KEY]);
      const newest = (await client.query(SQL_AUDIT_NEWEST, [1])).rows.map(toAuditEntry)[0] ?? null;
      const head = await headFrom(db, client, newest);
      if (head?.hashAlg !== 'hmac-sha256') await insert(db, client, chainKeyed(key), await drawNext(client), head);
    });
  }
  const { rows } = await db.pool.query<{ hash_alg: HashAlg }>(SQL_LAST_AUDIT_ALG);
  return { keyed: key !== null, lastAlg: rows[0]?.hash_alg ?? null };
}

async function powers(pool: pg.Pool): Promise<AuditPowers> {
  const { rows } = await pool.query<{
    owns: boolean;
    superuser: boolean;
    can_update: boolean;
    can_delete: boolean;
    can_truncate: boolean;
    role: string;
  }>(SQL_AUDIT_POWERS);
  const r = rows[0];
  if (!r) throw new Error('pgsessions.audit_log not found');
  return {
    role: r.role,
    owns: r.owns,
    superuser: r.superuser,
    mayModify: r.can_update || r.can_delete || r.can_truncate,
  };
}

export function createAuditStore(pool: pg.Pool, options: AuditStoreOptions = {}) {
  const key = options.key ?? null;
  const db: AuditDb = { pool, key, alg: key ? 'hmac-sha256' : 'sha256' };
  const port = {
    appendAudit: (entry: AuditEntryInput) => inTransaction(pool, (client) => appendIn(db, client, entry)),
    readAudit: (afterSeq?: number, limit?: number) => readAudit(db, afterSeq, limit),
    verifyAudit: () => verifyAudit(db),
  } satisfies AuditLogPort;
  return {
    ...port,
    appendIn: (client: pg.PoolClient, input: AuditEntryInput) => appendIn(db, client, input),
    startChain: () => startChain(db),
    powers: () => powers(pool),
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;

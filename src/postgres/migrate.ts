// Applies migrations/*.sql to the state database, in name order, each in its own transaction, under a
// transaction-scoped advisory lock so that several instances starting at once apply each file exactly once.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { inTransaction } from './transaction.js';

/** Resolves to <repo>/migrations both from src/postgres/ (tsx) and from dist/postgres/ (compiled). */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Advisory lock key of the migrator (advisory locks are per database, so only the state database sees it). */
export const MIGRATION_LOCK_KEY = '7246372001';

const SQL_LOCK = 'SELECT pg_advisory_xact_lock($1::bigint)';
const SQL_IS_APPLIED = 'SELECT 1 FROM pgsessions.schema_migrations WHERE version = $1';
const SQL_BOOTSTRAP = `
  CREATE SCHEMA IF NOT EXISTS pgsessions;
  CREATE TABLE IF NOT EXISTS pgsessions.schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  );`;
const SQL_APPLIED = 'SELECT version FROM pgsessions.schema_migrations';
const SQL_HAS_MIGRATIONS_TABLE = `SELECT to_regclass('pgsessions.schema_migrations') IS NOT NULL AS present`;

/** The migrations not applied yet, read without taking a lock or creating anything (a runtime role may run this). */
export async function pendingMigrations(pool: pg.Pool, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const { rows } = await pool.query<{ present: boolean }>(SQL_HAS_MIGRATIONS_TABLE);
  if (rows[0]?.present !== true) return files;
  const applied = new Set((await pool.query<{ version: string }>(SQL_APPLIED)).rows.map((row) => row.version));
  return files.filter((file) => !applied.has(file));
}
const SQL_RECORD = 'INSERT INTO pgsessions.schema_migrations (version) VALUES ($1)';

/**
 * Applies every migration not yet applied; returns the versions (file names) applied by this call. Each file
 * is applied in its own transaction under a transaction-scoped advisory lock, re-checking inside it whether
 * another instance applied it meanwhile: nothing here outlives a transaction, so it works the same through a
 * transaction pooler (a session lock would stay behind on whichever server connection took it).
 */
export async function migrate(pool: pg.Pool, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  // A current schema needs nothing — not even CREATE rights: a runtime role that owns nothing just runs.
  if ((await pendingMigrations(pool, dir)).length === 0) return [];
  const files = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  await inTransaction(pool, async (client) => {
    await client.query(SQL_LOCK, [MIGRATION_LOCK_KEY]);
    await client.query(SQL_BOOTSTRAP).catch((error: unknown) => {
      if ((error as { code?: unknown }).code !== '42501') throw error;
      throw new Error(
        `the state schema needs migrations and this role may not create them: run \`npm run migrate\` with the owner connection (PGSESSIONS_MIGRATE_DATABASE_URL)`,
        { cause: error },
      );
    });
  });
  const done: string[] = [];
  for (const file of files) {
    const sql = await readFile(join(dir, file), 'utf8');
    const applied = await inTransaction(pool, async (client) => {
      await client.query(SQL_LOCK, [MIGRATION_LOCK_KEY]);
      if ((await client.query(SQL_IS_APPLIED, [file])).rowCount !== 0) return false;
      await client.query(sql);
      await client.query(SQL_RECORD, [file]);
      return true;
    }).catch((error: unknown) => {
      const denied = (error as { code?: unknown }).code === '42501';
      const hint = denied
        ? ' — this role may not change the state schema: run `npm run migrate` with the owner connection (PGSESSIONS_MIGRATE_DATABASE_URL)'
        : '';
      throw new Error(`migration ${file} failed: ${error instanceof Error ? error.message : String(error)}${hint}`, {
        cause: error,
      });
    });
    if (applied) done.push(file);
  }
  return done;
}

// Applies migrations/*.sql to the state database, in name order, each in its own transaction, under a
// session advisory lock so that several instances starting at once apply each file exactly once.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** Resolves to <repo>/migrations both from src/postgres/ (tsx) and from dist/postgres/ (compiled). */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Advisory lock key of the migrator (advisory locks are per database, so only the state database sees it). */
export const MIGRATION_LOCK_KEY = '7246372001';

const SQL_LOCK = 'SELECT pg_advisory_lock($1::bigint)';
const SQL_UNLOCK = 'SELECT pg_advisory_unlock($1::bigint)';
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

/** Applies every migration not yet applied; returns the versions (file names) applied by this call. */
export async function migrate(pool: pg.Pool, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  // A current schema needs nothing — not even CREATE rights: a runtime role that owns nothing just runs.
  if ((await pendingMigrations(pool, dir)).length === 0) return [];
  const files = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const client = await pool.connect();
  let broken = false;
  // Checked out, the client has no pool error listener: a lost connection must not be an uncaught event.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query(SQL_LOCK, [MIGRATION_LOCK_KEY]);
    try {
      await client.query(SQL_BOOTSTRAP).catch((error: unknown) => {
        if ((error as { code?: unknown }).code !== '42501') throw error;
        throw new Error(`the state schema needs migrations and this role may not create them: run \`npm run migrate\` with the owner connection (PGSESSIONS_MIGRATE_DATABASE_URL)`, { cause: error });
      });
      const { rows } = await client.query<{ version: string }>(SQL_APPLIED);
      const applied = new Set(rows.map((row) => row.version));
      const done: string[] = [];
      for (const file of files) {
        if (applied.has(file)) continue;
        const sql = await readFile(join(dir, file), 'utf8');
        await client.query('BEGIN');
        try {
          await client.query(sql);
          await client.query(SQL_RECORD, [file]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          const denied = (error as { code?: unknown }).code === '42501';
          const hint = denied ? ' — this role may not change the state schema: run `npm run migrate` with the owner connection (PGSESSIONS_MIGRATE_DATABASE_URL)' : '';
          throw new Error(`migration ${file} failed: ${error instanceof Error ? error.message : String(error)}${hint}`, { cause: error });
        }
        done.push(file);
      }
      return done;
    } finally {
      await client.query(SQL_UNLOCK, [MIGRATION_LOCK_KEY]).catch(() => {
        broken = true;
      });
    }
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    // A connection whose unlock failed may still hold the lock: destroy it rather than pool it.
    client.off('error', onError);
    client.release(broken);
  }
}

// A drain on the managed cluster: read a database's connection settings and the bot's rights on it, close it
// (ALTER DATABASE … ALLOW_CONNECTIONS false or CONNECTION LIMIT 0, as the owner if need be), and give it back
// only when it still looks exactly as the drain left it. Each change is one short transaction.
import type pg from 'pg';
import type { DatabaseFacts, DrainMethod } from '../domain/drain.js';

// pg_has_role(…, 'SET') exists from PostgreSQL 16; before it, plain membership is what lets SET ROLE happen.
const SQL_FACTS = `
  SELECT d.datname AS name, d.datallowconn AS allow_connections, d.datconnlimit AS connection_limit,
         d.datistemplate AS is_template, pg_get_userbyid(d.datdba) AS owner,
         d.datname = current_database() AS is_current,
         (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
         pg_has_role(current_user, d.datdba, 'USAGE') AS inherits_owner,
         CASE WHEN current_setting('server_version_num')::int >= 160000
              THEN pg_has_role(current_user, d.datdba, 'SET')
              ELSE pg_has_role(current_user, d.datdba, 'MEMBER') END AS may_set_owner
  FROM pg_database d WHERE d.datname = $1`;

const SQL_VALUES =
  'SELECT datallowconn AS allow_connections, datconnlimit AS connection_limit FROM pg_database WHERE datname = $1';

/** Which databases of the cluster the bot's role can drain (start-up capability lines). */
const SQL_DRAINABLE = `
  SELECT d.datname AS name FROM pg_database d
  WHERE NOT d.datistemplate AND d.datname NOT IN ('template0', 'template1')
    AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
         OR pg_has_role(current_user, d.datdba, 'USAGE')
         OR CASE WHEN current_setting('server_version_num')::int >= 160000
                 THEN pg_has_role(current_user, d.datdba, 'SET')
                 ELSE pg_has_role(current_user, d.datdba, 'MEMBER') END)
  ORDER BY 1`;

interface FactsRow {
  name: string;
  allow_connections: boolean;
  connection_limit: number;
  is_template: boolean;
  owner: string;
  is_current: boolean;
  superuser: boolean;
  inherits_owner: boolean;
  may_set_owner: boolean;
}

export interface ConnectionSettings {
  allowConnections: boolean;
  connectionLimit: number;
}

export type RestoreResult =
  | { kind: 'restored' }
  | { kind: 'already' }
  | { kind: 'changed'; now: ConnectionSettings }
  | { kind: 'gone' };

/** The ALTER that sets one connection setting (identifiers quoted, the limit an integer). */
export function alterStatement(
  client: pg.ClientBase,
  database: string,
  method: DrainMethod,
  value: ConnectionSettings,
): string {
  const db = client.escapeIdentifier(database);
  return method === 'allow_connections'
    ? `ALTER DATABASE ${db} WITH ALLOW_CONNECTIONS ${value.allowConnections ? 'true' : 'false'}`
    : `ALTER DATABASE ${db} WITH CONNECTION LIMIT ${Math.trunc(value.connectionLimit)}`;
}

export function createDrainSql(pool: pg.Pool) {
  async function facts(database: string): Promise<DatabaseFacts | null> {
    const row = (await pool.query<FactsRow>(SQL_FACTS, [database])).rows[0];
    if (!row) return null;
    return {
      name: row.name,
      allowConnections: row.allow_connections,
      connectionLimit: row.connection_limit,
      isTemplate: row.is_template,
      owner: row.owner,
      isCurrent: row.is_current,
      superuser: row.superuser,
      inheritsOwner: row.inherits_owner,
      maySetOwner: row.may_set_owner,
    };
  }

  /** One ALTER in its own transaction, as the owner (SET LOCAL ROLE) when the bot does not hold its rights. */
  async function alterAs(client: pg.ClientBase, database: string, method: DrainMethod, value: ConnectionSettings) {
    const f = await facts(database);
    if (f && !f.superuser && !f.inheritsOwner) await client.query(`SET LOCAL ROLE ${client.escapeIdentifier(f.owner)}`);
    await client.query(alterStatement(client, database, method, value));
  }

  async function inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  return {
    facts,
    async drainable(): Promise<string[]> {
      return (await pool.query<{ name: string }>(SQL_DRAINABLE)).rows.map((r) => r.name);
    },
    /** Closes the database to new connections. */
    close(database: string, method: DrainMethod): Promise<void> {
      return inTransaction((client) =>
        alterAs(client, database, method, { allowConnections: false, connectionLimit: 0 }),
      );
    },
    /**
     * Gives back `previous`, only if the database still has exactly `drained` (what the drain set): a change
     * anyone made meanwhile is left alone, and a database already given back is not changed twice.
     */
    restore(
      database: string,
      method: DrainMethod,
      drained: ConnectionSettings,
      previous: ConnectionSettings,
    ): Promise<RestoreResult> {
      return inTransaction(async (client) => {
        const now = (
          await client.query<{ allow_connections: boolean; connection_limit: number }>(SQL_VALUES, [database])
        ).rows[0];
        if (!now) return { kind: 'gone' as const };
        const current = { allowConnections: now.allow_connections, connectionLimit: now.connection_limit };
        const same = (a: ConnectionSettings, b: ConnectionSettings) =>
          a.allowConnections === b.allowConnections && a.connectionLimit === b.connectionLimit;
        if (same(current, previous)) return { kind: 'already' as const };
        if (!same(current, drained)) return { kind: 'changed' as const, now: current };
        await alterAs(client, database, method, previous);
        return { kind: 'restored' as const };
      });
    },
  };
}

export type DrainSql = ReturnType<typeof createDrainSql>;

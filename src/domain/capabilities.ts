// What the bot's database role can and cannot do on one cluster, in plain words: said at start-up (and
// the same facts back `/pgsessions status`), so an operator knows before an incident what will be refused.
import type { RoleCapabilities } from './types.js';

export interface RoleAbilities {
  can: string[];
  cannot: string[];
}

/**
 * Whether the role gets in when the cluster is full (PostgreSQL 16+): null before 16, and for a superuser
 * (it has superuser_reserved_connections). The connections count only when reserved_connections is above 0.
 */
export function reservedConnectionsLine(c: RoleCapabilities): { can: boolean; text: string } | null {
  const r = c.reservedConnections;
  if (r === null || c.superuser) return null;
  const setting = `reserved_connections = ${r.reserved}`;
  if (r.member && r.reserved > 0)
    return {
      can: true,
      text: `use the ${r.reserved} connections kept for pg_use_reserved_connections when the cluster is full (${setting})`,
    };
  if (r.member)
    return {
      can: false,
      text: `get a connection when the cluster is full: it is a member of pg_use_reserved_connections, but ${setting} keeps none`,
    };
  return {
    can: false,
    text: `use the connections kept by reserved_connections when the cluster is full: not a member of pg_use_reserved_connections (${setting})`,
  };
}

export function describeRole(c: RoleCapabilities): RoleAbilities {
  if (c.superuser)
    return { can: ['see every session and its query', 'cancel and terminate every session'], cannot: [] };
  const can: string[] = [];
  const cannot: string[] = [];
  if (c.readAllStats) can.push('see every session and its query (pg_read_all_stats)');
  else
    cannot.push('see other roles\u2019 sessions (no pg_monitor / pg_read_all_stats): listings say how many are hidden');
  if (c.signalBackend) can.push('cancel and terminate other roles\u2019 sessions (pg_signal_backend)');
  else cannot.push('cancel or terminate other roles\u2019 sessions (no pg_signal_backend): only its own role\u2019s');
  const reserved = reservedConnectionsLine(c);
  if (reserved) (reserved.can ? can : cannot).push(reserved.text);
  // The server's rule for every role that is not a superuser, whatever it was granted.
  cannot.push(
    'cancel or terminate superusers\u2019 sessions or processes without a role: they are listed without buttons',
  );
  return { can, cannot };
}

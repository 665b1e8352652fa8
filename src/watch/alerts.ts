// What a click on an alert asks of the watcher: snooze it, or read an open storm's frozen sessions or a
// connections alert's relief for the request form. Always from the incident store, never from a payload.
import { reliefOf } from '../domain/watch.js';
import type { ReliefResult, SnoozeResult, StormResult, WatcherDeps } from './types.js';
import { ALERT_FAILURES } from '../domain/messages.js';

const UNKNOWN_ALERT = ALERT_FAILURES.unknown_alert;

export async function snooze(
  deps: WatcherDeps,
  incidentId: string,
  minutes: number,
  user: string,
  mayView?: (cluster: string) => Promise<string | null>,
): Promise<SnoozeResult> {
  const { store, messages } = deps;
  // Audited before it takes effect: a snooze the audit log cannot record does not happen.
  const known = await store.get(incidentId);
  if (!known) return { ok: false, message: UNKNOWN_ALERT };
  // Silencing an alert for everyone takes the right to look at its cluster: checked before anything is audited.
  const refused = mayView ? await mayView(known.cluster) : null;
  if (refused !== null) return { ok: false, message: refused };
  await deps.audit({
    event: 'snoozed',
    actor: user,
    cluster: known.cluster,
    details: { incident: known.id, cause: known.cause, minutes },
  });
  const incident = await store.snooze(incidentId, minutes, user);
  if (!incident) return { ok: false, message: UNKNOWN_ALERT };
  if (incident.messageTs) {
    const sent = await messages.update(incident);
    if (sent.ok) await store.shown(incident.id, incident.version, incident.status);
  }
  return { ok: true, incident };
}

export async function storm(deps: WatcherDeps, incidentId: string): Promise<StormResult> {
  const known = await deps.store.get(incidentId);
  if (known?.cause !== 'query-storm') return { ok: false, message: ALERT_FAILURES.unknown_storm };
  if (known.status !== 'open' || known.incident.members.length === 0)
    return { ok: false, message: ALERT_FAILURES.storm_over };
  const root = known.incident.root;
  return {
    ok: true,
    cluster: known.cluster,
    channel: known.channel,
    members: known.incident.members,
    query: root?.query ?? null,
    applications: known.incident.applications,
    oldestSeconds: root?.ageSeconds ?? 0,
  };
}

export async function relief(deps: WatcherDeps, incidentId: string): Promise<ReliefResult> {
  const known = await deps.store.get(incidentId);
  if (known?.cause !== 'connections') return { ok: false, message: ALERT_FAILURES.unknown_connections };
  const relieved = known.status === 'open' ? reliefOf(known.incident) : null;
  if (!relieved) return { ok: false, message: ALERT_FAILURES.connections_over };
  return { ok: true, cluster: known.cluster, channel: known.channel, relief: relieved };
}

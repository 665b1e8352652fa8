// What a click on an alert may ask of watching: Snooze, the frozen sessions of a query storm for its bulk
// cancel form, the application a connections alert offers to relieve. A port, so that the Slack listeners
// depend on this and not on the watcher that implements it (watch/ and slack/ are siblings).
import type { ConnectionRelief, Incident, LiveIncident } from './watch.js';

export type SnoozeResult = { ok: true; incident: LiveIncident } | { ok: false; message: string };

/** An open query storm as the store has it now: its frozen sessions and what the form shows of them. */
export type StormResult =
  | {
      ok: true;
      cluster: string;
      /** The watch channel the alert is in: the request is posted there. */
      channel: string;
      members: Incident['members'];
      query: string | null;
      applications: string[];
      oldestSeconds: number;
    }
  | { ok: false; message: string };

/** An open connections incident as the store has it now: the application to relieve it from, and where. */
export type ReliefResult =
  | { ok: true; cluster: string; channel: string; relief: ConnectionRelief }
  | { ok: false; message: string };

export interface WatchActionsPort {
  /** mayView: the sentence refusing this user the incident's cluster (PGSESSIONS_VIEWERS), or null when they may look. */
  snooze(
    incidentId: string,
    minutes: number,
    user: string,
    mayView?: (cluster: string) => Promise<string | null>,
  ): Promise<SnoozeResult>;
  /** The sessions of an open query-storm incident, read from the incident store (never from a payload). */
  storm(incidentId: string): Promise<StormResult>;
  /** The application a connections alert offers to relieve, read from the incident store (never from a payload). */
  relief(incidentId: string): Promise<ReliefResult>;
}

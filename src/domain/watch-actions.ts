// What a click on an alert may ask of watching: Snooze, the frozen sessions of a query storm for its bulk
// cancel form, the application a connections alert offers to relieve. A port, so that the Slack listeners
// depend on this and not on the watcher that implements it (watch/ and slack/ are siblings). Declared once, in
// ports.ts, with the rest of the watcher's port.
import type { Watcher } from './ports.js';

export type { ReliefResult, SnoozeResult, StormResult } from './ports.js';

export type WatchActionsPort = Pick<Watcher, 'snooze' | 'storm' | 'relief'>;

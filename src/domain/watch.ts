// Watching: from one look at a cluster (its sessions, their lock waits, connection use, walsenders) to the
// incidents worth an alert, and to what the alert messages say. Pure: no Slack, no pg. The parts live in
// src/domain/watch/: the words (types.ts), building an incident (incident.ts), one detector per cause
// (detect-*.ts, put together in detect.ts), and the two planners (plan-incidents.ts, plan-delivery.ts).
export * from './watch/types.js';
export { detectIncidents, ruleCandidates } from './watch/detect.js';
export {
  clusterDownIncident,
  fingerprint,
  fingerprintHash,
  incidentKey,
  isExclusiveWant,
  reliefOf,
  sessionSubject,
  shapeIncident,
} from './watch/incident.js';
export { type DeliveryStep, planDelivery } from './watch/plan-delivery.js';
export { clearReasonFor, planIncidents, type WatchPlan } from './watch/plan-incidents.js';

// Every action_id, callback_id and block_id the app puts on a surface, and the small wire formats carried
// in button values and modal metadata. Listeners match on these constants; renderers emit them.

import { z } from 'zod';

/** action_id of each button. Row buttons open the request modal; decision buttons carry only a request id. */
export const ACTION = {
  cancel: 'pgs_cancel',
  terminate: 'pgs_terminate',
  terminateWalsender: 'pgs_terminate_walsender',
  approve: 'pgs_approve',
  deny: 'pgs_deny',
  withdraw: 'pgs_withdraw',
  share: 'pgs_share',
  watchSnooze: 'pgs_watch_snooze',
  watchCancelStorm: 'pgs_watch_cancel_storm',
  // "Request terminate of the N idle sessions of app X…" on a connections alert: only the incident id.
  watchRelieveConnections: 'pgs_watch_relieve_connections',
  // Standing approvals: each carries only a rule id; everything else is read from the store at click time.
  ruleApprove: 'pgs_rule_approve',
  ruleDeny: 'pgs_rule_deny',
  ruleWithdraw: 'pgs_rule_withdraw',
  ruleRevoke: 'pgs_rule_revoke',
  // End drain now, on a drain request's message: carries only the drain id.
  drainEnd: 'pgs_drain_end',
  // Break-glass (docs/approvals.md): the requester's lone execution, and an approver's review; a request id each.
  breakGlass: 'pgs_break_glass',
  breakGlassReviewed: 'pgs_break_glass_reviewed',
} as const;
export type ActionId = (typeof ACTION)[keyof typeof ACTION];

/** callback_id of each modal. */
export const VIEW = {
  request: 'pgs_request_modal',
  stormRequest: 'pgs_storm_request_modal',
  reliefRequest: 'pgs_relief_request_modal',
  breakGlass: 'pgs_break_glass_modal',
} as const;

/** block_id / action_id of the request modal's inputs (view.state.values[block][action]). */
export const INPUT = {
  reasonBlock: 'pgs_reason',
  reasonAction: 'pgs_reason_input',
  escalateBlock: 'pgs_escalate',
  escalateAction: 'pgs_escalate_choice',
  includeActiveBlock: 'pgs_include_active',
  includeActiveAction: 'pgs_include_active_choice',
  breakGlassBlock: 'pgs_break_glass_why',
  breakGlassAction: 'pgs_break_glass_why_input',
} as const;

/** block_id of the actions block holding Approve / Deny / Withdraw on a request message. */
export const BLOCK = {
  decision: 'pgs_decision',
} as const;

/** Values of the escalate radio buttons in the cancel modal. */
export const ESCALATE_CHOICE = {
  cancelOnly: 'cancel_only',
  cancelThenTerminate: 'cancel_then_terminate',
} as const;
export type EscalateChoice = (typeof ESCALATE_CHOICE)[keyof typeof ESCALATE_CHOICE];

/** How long "Cancel, then terminate if still running" waits after the cancel when chosen in the modal. */
export const MODAL_ESCALATE_SECONDS = 10;

export const TARGET_KINDS = ['cancel', 'terminate', 'terminate_walsender'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** What a row button names: exactly one backend as it was seen, and what the clicker wants done to it. */
export interface ButtonTarget {
  cluster: string;
  pid: number;
  backendStart: string;
  queryStart: string | null;
  kind: TargetKind;
}

export const MAX_BUTTON_VALUE = 2000;
export const MAX_PRIVATE_METADATA = 3000;

// Timestamps are the server's own text, opaque here: bounded, never parsed, compared byte for byte later.
const timestamp = z.string().min(1).max(64);

/** Cluster names follow the same rule as `cluster:NAME` in a command; the config must enforce it too. */
export const MAX_CLUSTER_NAME = 63;

const buttonTargetSchema = z.strictObject({
  cluster: z.string().min(1).max(MAX_CLUSTER_NAME),
  pid: z.number().int().min(1).max(2_147_483_647),
  backendStart: timestamp,
  queryStart: timestamp.nullable(),
  kind: z.enum(TARGET_KINDS),
});

// Short keys keep the value well under Slack's 2000 characters.
const wireSchema = z.strictObject({
  c: z.string(),
  p: z.number(),
  b: z.string(),
  q: z.string().nullable(),
  k: z.string(),
});

/** Compact JSON for a button value. Throws only on a programming error (a target no decoder would accept). */
export function encodeTarget(t: ButtonTarget): string {
  const checked = buttonTargetSchema.parse(t);
  const value = JSON.stringify({
    c: checked.cluster,
    p: checked.pid,
    b: checked.backendStart,
    q: checked.queryStart,
    k: checked.kind,
  });
  if (value.length > MAX_BUTTON_VALUE) throw new Error(`button value too long (${value.length} characters)`);
  return value;
}

/** JSON that `schema` accepts, or null: junk, oversized or the wrong shape (a payload can say anything). */
function parseJson<S extends z.ZodType>(schema: S, value: unknown, maxLength: number): z.infer<S> | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) return null;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** The target a button carried, or null when the value is not one we wrote (junk, oversized, wrong shape). */
export function decodeTarget(value: string): ButtonTarget | null {
  const wire = parseJson(wireSchema, value, MAX_BUTTON_VALUE);
  if (!wire) return null;
  const target = buttonTargetSchema.safeParse({
    cluster: wire.c,
    pid: wire.p,
    backendStart: wire.b,
    queryStart: wire.q,
    kind: wire.k,
  });
  return target.success ? target.data : null;
}

/** The request modal's private_metadata: which session, and the channel the request will be posted in. */
export interface ModalMetadata {
  target: ButtonTarget;
  channel: string;
}

const modalMetadataSchema = z.strictObject({
  target: buttonTargetSchema,
  channel: z.string().min(1).max(100),
});

export function encodeModalMetadata(m: ModalMetadata): string {
  const value = JSON.stringify(modalMetadataSchema.parse(m));
  if (value.length > MAX_PRIVATE_METADATA) throw new Error(`private_metadata too long (${value.length} characters)`);
  return value;
}

export function decodeModalMetadata(value: string): ModalMetadata | null {
  return parseJson(modalMetadataSchema, value, MAX_PRIVATE_METADATA);
}

/** Snooze lengths an alert offers, in minutes. */
export const SNOOZE_MINUTES = [30, 120] as const;

const snoozeSchema = z.strictObject({ i: z.uuid(), m: z.union([z.literal(30), z.literal(120)]) });

/**
 * A Snooze button's action_id: one per length, because Slack refuses two equal action_ids in one actions
 * block (invalid_blocks). The value still says how long; the listener takes any of them (and the plain id
 * of alerts posted before).
 */
export function snoozeActionId(minutes: (typeof SNOOZE_MINUTES)[number]): string {
  return `${ACTION.watchSnooze}_${minutes}`;
}
export const SNOOZE_ACTION = /^pgs_watch_snooze(_\d+)?$/;

/** A Snooze button's value: which incident, for how long. */
export function encodeSnooze(incidentId: string, minutes: (typeof SNOOZE_MINUTES)[number]): string {
  return JSON.stringify(snoozeSchema.parse({ i: incidentId, m: minutes }));
}

export function decodeSnooze(value: string): { incidentId: string; minutes: number } | null {
  const parsed = parseJson(snoozeSchema, value, 200);
  return parsed ? { incidentId: parsed.i, minutes: parsed.m } : null;
}

// "Request cancel of these N…" on a storm alert carries only the incident id: the sessions are read from
// the incident store when clicked and when the form is sent, never from anything a payload says.
const stormSchema = z.strictObject({ i: z.uuid() });

export function encodeStorm(incidentId: string): string {
  return JSON.stringify(stormSchema.parse({ i: incidentId }));
}

export function decodeStorm(value: string): { incidentId: string } | null {
  const parsed = parseJson(stormSchema, value, 200);
  return parsed ? { incidentId: parsed.i } : null;
}

/** The storm form's private_metadata: which incident, and the channel the request will be posted in. */
const stormMetadataSchema = z.strictObject({ incidentId: z.uuid(), channel: z.string().min(1).max(100) });
export type StormMetadata = z.infer<typeof stormMetadataSchema>;

export function encodeStormMetadata(m: StormMetadata): string {
  return JSON.stringify(stormMetadataSchema.parse(m));
}

export function decodeStormMetadata(value: string): StormMetadata | null {
  return parseJson(stormMetadataSchema, value, MAX_PRIVATE_METADATA);
}

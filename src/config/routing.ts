// Approval routing settings (src/domain/routing.ts): the global PGSESSIONS_QUORUM, PGSESSIONS_ESCALATE_AFTER,
// PGSESSIONS_ESCALATE_TO, PGSESSIONS_BREAK_GLASS and PGSESSIONS_BREAK_GLASS_AFTER, and a cluster's own
// `quorum:`, `escalate:` and `breakGlass:` in the clusters file on top of them. One message per bad value.
import { z } from 'zod';
import {
  type ApprovalRouting,
  DEFAULT_ROUTING,
  type Parsed,
  parseDelay,
  parseKinds,
  parseQuorum,
} from '../domain/routing.js';

const SLACK_PRINCIPAL = /^[UWS][A-Z0-9]{2,}$/;
const asText = z.union([z.string(), z.number()]).transform(String);

/** The clusters file's words for a cluster's own routing (each key optional). */
export const clusterRoutingEntry = {
  quorum: z.object({ terminate: z.number().int().optional(), cancel: z.number().int().optional() }).strict().optional(),
  escalate: z
    .object({
      after: asText,
      to: z
        .array(z.string().regex(SLACK_PRINCIPAL, 'must list Slack user IDs (U…/W…) or user-group IDs (S…)'))
        .min(1, 'must name at least one user or user group'),
    })
    .strict()
    .optional(),
  breakGlass: z
    .object({ actions: z.union([z.string(), z.array(z.string())]), after: asText.optional() })
    .strict()
    .optional(),
};

export interface RoutingRaw {
  quorum?: string;
  escalateAfter?: string;
  escalateTo?: string;
  breakGlass?: string;
  breakGlassAfter?: string;
}

/** Takes a parsed value, or records its problem under `name` and keeps `fallback`. */
function take<T>(parsed: Parsed<T>, name: string, problems: string[], fallback: T): T {
  if (parsed.ok) return parsed.value;
  problems.push(`${name} ${parsed.problem}`);
  return fallback;
}

function principalsOf(text: string, name: string, problems: string[]): string[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = items.filter((s) => !SLACK_PRINCIPAL.test(s));
  if (bad.length > 0 || items.length === 0) {
    problems.push(`${name} must list Slack user IDs (U…/W…) or user-group IDs (S…), such as S0DBA0001`);
    return [];
  }
  return items;
}

/** The global routing from the environment's words (undefined: unset). */
export function globalRouting(raw: RoutingRaw, problems: string[]): ApprovalRouting {
  const base = DEFAULT_ROUTING;
  const quorum =
    raw.quorum === undefined
      ? base.quorum
      : take(parseQuorum(raw.quorum, base.quorum), 'PGSESSIONS_QUORUM', problems, base.quorum);
  let escalate: ApprovalRouting['escalate'] = null;
  if (raw.escalateAfter !== undefined || raw.escalateTo !== undefined) {
    if (raw.escalateAfter === undefined) problems.push('PGSESSIONS_ESCALATE_TO needs PGSESSIONS_ESCALATE_AFTER');
    if (raw.escalateTo === undefined) problems.push('PGSESSIONS_ESCALATE_AFTER needs PGSESSIONS_ESCALATE_TO');
    if (raw.escalateAfter !== undefined && raw.escalateTo !== undefined) {
      const afterSeconds = take(parseDelay(raw.escalateAfter), 'PGSESSIONS_ESCALATE_AFTER', problems, 0);
      escalate = { afterSeconds, to: principalsOf(raw.escalateTo, 'PGSESSIONS_ESCALATE_TO', problems) };
    }
  }
  const kinds =
    raw.breakGlass === undefined ? [] : take(parseKinds(raw.breakGlass), 'PGSESSIONS_BREAK_GLASS', problems, []);
  const afterSeconds =
    raw.breakGlassAfter === undefined
      ? base.breakGlass.afterSeconds
      : take(parseDelay(raw.breakGlassAfter), 'PGSESSIONS_BREAK_GLASS_AFTER', problems, base.breakGlass.afterSeconds);
  return { quorum, escalate, breakGlass: { kinds, afterSeconds } };
}

type ClusterRoutingInput = {
  quorum?: { terminate?: number; cancel?: number };
  escalate?: { after: string; to: string[] };
  breakGlass?: { actions: string | string[]; after?: string };
};

/** A cluster's own routing keys on top of the global routing; undefined when the cluster sets none. */
export function clusterRouting(
  entry: ClusterRoutingInput,
  global: ApprovalRouting,
  where: string,
  problems: string[],
): ApprovalRouting | undefined {
  if (!entry.quorum && !entry.escalate && !entry.breakGlass) return undefined;
  const quorum = { ...global.quorum };
  for (const kind of ['cancel', 'terminate'] as const) {
    const n = entry.quorum?.[kind];
    if (n === undefined) continue;
    if (n >= 1 && n <= 10) quorum[kind] = n;
    else problems.push(`${where}quorum.${kind} must be a whole number from 1 to 10`);
  }
  const escalate = entry.escalate
    ? {
        afterSeconds: take(parseDelay(entry.escalate.after), `${where}escalate.after`, problems, 0),
        to: entry.escalate.to,
      }
    : global.escalate;
  const breakGlass = entry.breakGlass
    ? {
        kinds: take(
          parseKinds([entry.breakGlass.actions].flat().join(',')),
          `${where}breakGlass.actions`,
          problems,
          [],
        ),
        afterSeconds:
          entry.breakGlass.after === undefined
            ? global.breakGlass.afterSeconds
            : take(
                parseDelay(entry.breakGlass.after),
                `${where}breakGlass.after`,
                problems,
                global.breakGlass.afterSeconds,
              ),
      }
    : global.breakGlass;
  return { quorum, escalate, breakGlass };
}

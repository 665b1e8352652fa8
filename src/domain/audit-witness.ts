// How an audit entry names itself in the audit channel, and how the verifier reads it back: the channel is
// the outside witness of the table, so each message carries its entry's sequence number and full hash in
// plain text (`audit #41 · hmac-sha256:…`). Pure.
import type { HashAlg } from './audit.js';

/** What a posted audit message says about its entry. `hash` is 64 hex digits, or 16 in messages posted before the full hash was shown. */
export interface Witness {
  seq: number;
  alg: HashAlg | null;
  hash: string;
  /** Only a 16-digit prefix of the hash was posted (older messages). */
  short: boolean;
}

/** The block_id of the context block that carries the witness: the verifier reads this block and no other. */
export const WITNESS_BLOCK_ID = 'audit_witness';

export function witnessText(entry: { seq: number; hashAlg: HashAlg; hash: string }): string {
  return `audit #${entry.seq} · ${entry.hashAlg}:${entry.hash}`;
}

// The whole element, anchored: `audit #41 · hmac-sha256:<64 hex>` then optionally ` · <at> · request <id>`.
// Text a user or a database user chose (a reason, a query, an application_name) is never read.
const FULL =
  /^audit #(\d{1,15}) · (hmac-sha256|sha256):([0-9a-f]{64})(?: · [0-9TZ:.+-]{10,40} · request (?:[0-9a-f-]{36}|—))?$/;
// Messages posted before the full hash: `audit #12 · <at> · request … · hash \`0123456789abcdef\``.
const SHORT = /^audit #(\d{1,15}) · [0-9TZ:.+-]{10,40} · request (?:[0-9a-f-]{36}|—) · hash `([0-9a-f]{16})`$/;

/** Reads the witness back from the whole text of its element; null when that text is anything else. */
export function parseWitness(text: string): Witness | null {
  const full = FULL.exec(text);
  if (full) return { seq: Number(full[1]), alg: full[2] as HashAlg, hash: full[3]!, short: false };
  const short = SHORT.exec(text);
  if (short) return { seq: Number(short[1]), alg: null, hash: short[2]!, short: true };
  return null;
}

interface WireBlock {
  type?: unknown;
  block_id?: unknown;
  elements?: unknown;
}

/** The one mrkdwn element of a context block, or null. */
function soleText(block: WireBlock): string | null {
  if (block.type !== 'context' || !Array.isArray(block.elements) || block.elements.length !== 1) return null;
  const element = block.elements[0] as { type?: unknown; text?: unknown } | null;
  return element && element.type === 'mrkdwn' && typeof element.text === 'string' ? element.text : null;
}

/**
 * The witness of a message the bot posted, from its blocks as Slack returns them: the context block with
 * block_id WITNESS_BLOCK_ID, whose one element is the whole witness line. Messages posted before the
 * block_id (Slack gave them a random one) are read only in the audit message's own shape: a section then
 * that context block, nothing else. The section (reason, query text) and the fallback text are never read.
 */
export function witnessOfMessage(blocks: unknown): Witness | null {
  if (!Array.isArray(blocks)) return null;
  const list = blocks as WireBlock[];
  const anchored = list.filter((b) => b && b.block_id === WITNESS_BLOCK_ID);
  if (anchored.length > 0) {
    const text = anchored.length === 1 ? soleText(anchored[0]!) : null;
    return text === null ? null : parseWitness(text);
  }
  if (list.length !== 2 || list[0]?.type !== 'section') return null;
  const text = soleText(list[1]!);
  return text === null ? null : parseWitness(text);
}

/** An entry of the table as the comparison needs it. */
export interface TableEntry {
  seq: number;
  hash: string;
  hashAlg: HashAlg;
}

/** What the outbox says about an entry's delivery (absent: no outbox row at all). */
export interface Delivery {
  deliveredAt: string | null;
  attempts: number;
  lastError: string | null;
}

export interface WitnessComparison {
  matches: number;
  /** One line per problem, in seq order. */
  problems: string[];
}

const shortHash = (hash: string) => `${hash.slice(0, 16)}…`;

/**
 * Compares the table with what the audit channel witnessed. Per entry: matches; rewritten (the channel shows
 * another hash); never delivered (in the table, not in the channel — whatever the outbox claims); not yet
 * delivered (still queued); and per message: missing from the database (the channel has an entry the table
 * does not). Pure.
 */
export function compareWithWitnesses(
  table: readonly TableEntry[],
  deliveries: ReadonlyMap<number, Delivery>,
  witnesses: readonly Witness[],
): WitnessComparison {
  const bySeq = new Map<number, Witness[]>();
  for (const w of witnesses) bySeq.set(w.seq, [...(bySeq.get(w.seq) ?? []), w]);
  const found: Array<[number, string]> = [];
  let matches = 0;
  const tableSeqs = new Set<number>();
  for (const entry of table) {
    tableSeqs.add(entry.seq);
    const seen = bySeq.get(entry.seq);
    if (seen) {
      const differs = seen.find((w) =>
        w.short ? !entry.hash.startsWith(w.hash) : w.hash !== entry.hash || w.alg !== entry.hashAlg,
      );
      if (differs) {
        const shown = differs.short ? `hash ${differs.hash}…` : `${differs.alg}:${shortHash(differs.hash)}`;
        found.push([
          entry.seq,
          `#${entry.seq} rewritten: the audit channel shows ${shown}, the table has ${entry.hashAlg}:${shortHash(entry.hash)}`,
        ]);
      } else {
        matches += 1;
      }
      continue;
    }
    const delivery = deliveries.get(entry.seq);
    if (!delivery) {
      found.push([
        entry.seq,
        `#${entry.seq} never delivered: in the table, not in the audit channel, and it has no outbox row`,
      ]);
    } else if (delivery.deliveredAt) {
      found.push([
        entry.seq,
        `#${entry.seq} never delivered: the outbox says delivered at ${delivery.deliveredAt}, but the audit channel does not have it`,
      ]);
    } else {
      const why = delivery.lastError ? `; last error: ${delivery.lastError.slice(0, 200)}` : '';
      found.push([
        entry.seq,
        `#${entry.seq} not delivered yet: still in the outbox (${delivery.attempts} attempts${why})`,
      ]);
    }
  }
  const last = table.length > 0 ? table[table.length - 1]!.seq : 0;
  for (const seq of [...bySeq.keys()].sort((a, b) => a - b)) {
    if (tableSeqs.has(seq)) continue;
    found.push([
      seq,
      seq > last
        ? `#${seq} missing from the database: the audit channel has it, the table ends at #${last}`
        : `#${seq} missing from the database: the audit channel has it, the table does not`,
    ]);
  }
  found.sort((a, b) => a[0] - b[0]);
  return { matches, problems: found.map(([, line]) => line) };
}

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

export function witnessText(entry: { seq: number; hashAlg: HashAlg; hash: string }): string {
  return `audit #${entry.seq} · ${entry.hashAlg}:${entry.hash}`;
}

const FULL = /audit #(\d+)\b[^\n]*?(?:^|[\s`(])(hmac-sha256|sha256):([0-9a-f]{64})(?![0-9a-f])/m;
// The context line before full hashes: `audit #12 · <at> · request … · hash \`0123456789abcdef\``.
const SHORT = /audit #(\d+)\b[^\n]*?\bhash `([0-9a-f]{16})`/;

/** Reads the witness back from a message's text (its context line or fallback text); null when it carries none. */
export function parseWitness(text: string): Witness | null {
  const full = FULL.exec(text);
  if (full) return { seq: Number(full[1]), alg: full[2] as HashAlg, hash: full[3]!, short: false };
  const short = SHORT.exec(text);
  if (short) return { seq: Number(short[1]), alg: null, hash: short[2]!, short: true };
  return null;
}

// The words of a slash command: tokens (double quotes may hold whitespace), `key:value` modifiers, and a user's
// word quoted safely for an error message. Pure.

export interface Token {
  /** Exactly as typed, quotes included: what a reason keeps. */
  raw: string;
  /** With the double quotes removed: what a modifier value uses. */
  unquoted: string;
  /** A double quote was opened and never closed. */
  unterminated: boolean;
}

// A token is a run of non-whitespace in which a double-quoted stretch may contain whitespace:
// `app:"my app"` is one token with the value `my app`.
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i] as string)) i++;
    if (i >= n) break;
    const start = i;
    let unquoted = '';
    let inQuote = false;
    while (i < n) {
      const ch = text[i] as string;
      if (ch === '"') {
        inQuote = !inQuote;
      } else if (!inQuote && /\s/.test(ch)) {
        break;
      } else {
        unquoted += ch;
      }
      i++;
    }
    tokens.push({ raw: text.slice(start, i), unquoted, unterminated: inQuote });
  }
  return tokens;
}

/** `key:value` → the key (lower-cased) and value; null when the token has no `key:` prefix. */
export function splitModifier(token: Token): { key: string; value: string } | null {
  const m = /^([A-Za-z][A-Za-z_]*):/.exec(token.raw);
  if (!m) return null;
  const key = (m[1] as string).toLowerCase();
  // The key never contains a quote, so the unquoted text starts with the same `key:`.
  return { key, value: token.unquoted.slice(key.length + 1) };
}

/** Quote a user's word for an error message, shortened so a pasted novel does not become the message. */
export function quoteWord(word: string): string {
  const chars = Array.from(word);
  const shown = chars.length > 60 ? `${chars.slice(0, 59).join('')}…` : word;
  // Control characters would garble the message; show them as the replacement glyph.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is replaced
  return `“${shown.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\uFFFD')}”`;
}

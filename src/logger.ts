// The pino root: JSON logs with tokens, secrets and connection-string passwords removed, child loggers per
// module, and an adapter so Bolt and the Web API client log through it too.
import { pino, type Logger } from 'pino';
import { LogLevel, type Logger as SlackLogger } from '@slack/logger';

export type { Logger };

const REDACT_PATHS = [
  'token',
  '*.token',
  'botToken',
  '*.botToken',
  'appToken',
  '*.appToken',
  'signingSecret',
  '*.signingSecret',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.Authorization',
  'connectionString',
  '*.connectionString',
  'url',
  '*.url',
  'databaseUrl',
  '*.databaseUrl',
  'auditKey',
  '*.auditKey',
  'PGSESSIONS_AUDIT_KEY',
  '*.PGSESSIONS_AUDIT_KEY',
];

// Each pattern matches in time linear in the text: a fixed prefix, then one run of a character class that
// cannot overlap what follows it (no nested or adjacent competing quantifiers to backtrack over). Whatever
// reaches a log — an attacker's 16,000-character URL path included — costs microseconds per character.
const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/xox[abposer]-[A-Za-z0-9-]+/g, 'xox?-[redacted]'],
  [/xapp-[A-Za-z0-9-]+/g, 'xapp-[redacted]'],
  [/(password\s*=\s*)('[^']*'|\S+)/gi, '$1[redacted]'],
];

/** Removes tokens and passwords from free text (error messages, URLs). */
export function scrubSecrets(text: string): string {
  let out = scrubUrlPasswords(text);
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

const isSchemeChar = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;
const isLetter = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x2028 || c === 0x2029;

/**
 * `scheme://user:password@host…` → `scheme://user:[redacted]@host…`, by one left-to-right scan (each
 * character is looked at a bounded number of times). The password is everything from the first `:` after
 * `://` to the LAST `@` before the next whitespace, so a raw `/` or `@` in it (`postgres://u:p@ss/w@rd@host/db`)
 * is still covered; percent-encoded ones (`%2F`, `%40`) are ordinary characters. The price of that choice:
 * an `@` later in the same word (in a path or query) widens what is redacted — more hidden, never less.
 */
export function scrubUrlPasswords(text: string): string {
  let out = '';
  let copied = 0; // text[0, copied) is already in out
  let from = 0;
  for (;;) {
    const sep = text.indexOf('://', from);
    if (sep < 0) break;
    // The scheme: letters, digits, + - . right before `://`, starting with a letter.
    let start = sep;
    while (start > from && isSchemeChar(text.charCodeAt(start - 1))) start -= 1;
    while (start < sep && !isLetter(text.charCodeAt(start))) start += 1;
    const authority = sep + 3;
    let end = authority;
    while (end < text.length && !isSpace(text.charCodeAt(end))) end += 1;
    if (start < sep) {
      let colon = -1;
      let at = -1;
      for (let i = authority; i < end; i += 1) {
        const c = text.charCodeAt(i);
        if (c === 58 && colon < 0) colon = i;
        else if (c === 64) at = i;
      }
      if (colon >= 0 && at > colon) {
        out += `${text.slice(copied, colon + 1)}[redacted]`;
        copied = at;
      }
    }
    from = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

// Fields that hold a secret at any depth: pino's redact paths reach only the first two levels.
const SECRET_KEYS =
  /^(token|bottoken|apptoken|signingsecret|secret|password|authorization|connectionstring|auditkey|pgsessions_audit_key)$/i;

function scrubValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubSecrets(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return {
      type: value.name,
      message: scrubSecrets(value.message),
      code: (value as { code?: unknown }).code,
      stack: value.stack ? scrubSecrets(value.stack) : undefined,
    };
  }
  // Too deep to walk: keep it as scrubbed text rather than pass its strings through untouched.
  if (depth > 4) return scrubSecrets(jsonOrPlaceholder(value));
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      SECRET_KEYS.test(key) && item !== null && item !== undefined ? '[redacted]' : scrubValue(item, depth + 1);
  }
  return out;
}

function jsonOrPlaceholder(value: object): string {
  try {
    return (
      JSON.stringify(value, (key, item: unknown) =>
        SECRET_KEYS.test(key) && item !== null && item !== undefined ? '[redacted]' : item,
      ) ?? '[unserializable]'
    );
  } catch {
    return '[unserializable]';
  }
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'pgsessions' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: (error: unknown) => scrubValue(error) },
      hooks: {
        // Free-text arguments (Bolt's and the Web API client's messages) are scrubbed too.
        logMethod(args, method) {
          const cleaned = args.map((arg) => scrubValue(arg)) as Parameters<typeof method>;
          return method.apply(this, cleaned);
        },
      },
    },
    destination,
  );
}

const TO_PINO: Record<LogLevel, pino.Level> = {
  [LogLevel.ERROR]: 'error',
  [LogLevel.WARN]: 'warn',
  [LogLevel.INFO]: 'info',
  [LogLevel.DEBUG]: 'debug',
};

/** Bolt's Logger interface over a pino child. */
export function slackLogger(logger: Logger): SlackLogger {
  let name = 'slack';
  let child = logger.child({ component: name });
  const join = (msg: unknown[]) =>
    msg.map((m) => (typeof m === 'string' ? m : JSON.stringify(scrubValue(m)))).join(' ');
  return {
    debug: (...msg) => child.debug(join(msg)),
    info: (...msg) => child.info(join(msg)),
    warn: (...msg) => child.warn(join(msg)),
    error: (...msg) => child.error(join(msg)),
    setLevel: () => undefined, // pino's level, set by LOG_LEVEL, rules
    getLevel: () => {
      const entry = Object.entries(TO_PINO).find(([, v]) => v === logger.level);
      return (entry?.[0] as LogLevel | undefined) ?? LogLevel.INFO;
    },
    setName: (value: string) => {
      name = value;
      child = logger.child({ component: name });
    },
  };
}

// `npm run playground`: its own few settings (the page's port, an existing server to watch, read-only).
import { z } from 'zod';
import { ConfigError, describe, postgresUrl, present } from './schema.js';

export interface PlaygroundConfig {
  /** The page's port on 127.0.0.1. */
  port: number;
  /** An existing server to watch instead of the demo incident. */
  databaseUrl: string | null;
  /** Against an existing server, read-only unless PGSESSIONS_READ_ONLY=false says otherwise. */
  readOnly: boolean;
}

const playgroundEnv = z.object({
  PLAYGROUND_PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).default(3030),
  DATABASE_URL: postgresUrl.optional(),
  PGSESSIONS_READ_ONLY: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .optional(),
});

/**
 * The playground's own settings; the app inside it still reads everything else through loadConfig.
 * STATE_DATABASE_URL and PGSESSIONS_AUDIT_KEY are never read: its state lives in its own embedded server.
 */
export function loadPlaygroundConfig(source: NodeJS.ProcessEnv): PlaygroundConfig {
  const parsed = playgroundEnv.safeParse(present(source));
  if (!parsed.success) throw new ConfigError(describe(parsed.error.issues));
  const { PLAYGROUND_PORT: port, DATABASE_URL: databaseUrl, PGSESSIONS_READ_ONLY: readOnly } = parsed.data;
  const explicitlyWritable = readOnly === 'false' || readOnly === '0' || readOnly === 'no';
  const explicitlyReadOnly = readOnly === 'true' || readOnly === '1' || readOnly === 'yes';
  return {
    port,
    databaseUrl: databaseUrl ?? null,
    readOnly: databaseUrl ? !explicitlyWritable : explicitlyReadOnly,
  };
}

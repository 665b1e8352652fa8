// A failure that repeats on every tick (a read-only or unreachable state database) is logged once when it
// starts and once when it is over, not once a second: the log keeps the event, and the loop keeps trying.
import type { Logger } from 'pino';
import { scrubSecrets } from './logger.js';

export interface SpellLog {
  failed(error: unknown): void;
  succeeded(): void;
  /** True between a failure and the next success: a loop may try less often meanwhile. */
  failing(): boolean;
}

export function spellLog(logger: Logger, failing: string, recovered: string): SpellLog {
  let inSpell = false;
  return {
    failed(error) {
      const e = error as { code?: unknown; message?: unknown };
      const err = {
        ...(typeof e?.code === 'string' ? { code: e.code } : {}),
        message: scrubSecrets(String(e?.message ?? error)),
      };
      if (inSpell) logger.debug({ err }, failing);
      else logger.warn({ err }, failing);
      inSpell = true;
    },
    succeeded() {
      if (inSpell) logger.info(recovered);
      inSpell = false;
    },
    failing: () => inSpell,
  };
}

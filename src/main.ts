// The process entry: start pgsessions from the environment, stop cleanly on SIGTERM/SIGINT. A bad setting
// prints one clear message (no stack, no secrets) and exits 1.
import { ConfigError } from './config.js';
import { startPgsessions } from './pgsessions.js';
import { scrubSecrets } from './logger.js';

try {
  const app = await startPgsessions(process.env);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'stopping');
    app.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // A safety net, not a plan: a promise some library rejects without a handler must not take down the bot
  // that an incident depends on. It is logged, as an error, so it gets fixed.
  process.on('unhandledRejection', (reason) =>
    app.logger.error({ err: reason }, 'unhandled promise rejection (kept running)'),
  );
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else {
    console.error(`pgsessions cannot start: ${scrubSecrets((error as Error).message ?? String(error))}`);
  }
  process.exit(1);
}

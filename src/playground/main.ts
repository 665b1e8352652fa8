// `npm run playground`: start it, print the address, stop cleanly on Ctrl-C. A bad setting prints one clear
// message and exits 1, as `npm start` does.
import { ConfigError } from '../config.js';
import { scrubSecrets } from '../logger.js';
import { startPlayground } from './playground.js';

const started = performance.now();
try {
  const playground = await startPlayground(process.env);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `\npgsessions playground ready in ${seconds} s: open ${playground.url}\n` +
      (playground.incident
        ? '  A live incident is running on an embedded PostgreSQL. Type /pgsessions in #incidents.\n'
        : `  Watching ${new URL(playground.clusterUrl).host}${playground.readOnly ? ' read-only (PGSESSIONS_READ_ONLY=false to allow kills)' : ' — NOT read-only: kills are real, and anyone who reaches the page can play both the requester and the approver'}.\n`) +
      '  Ctrl-C stops everything.\n',
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    playground.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  console.error(
    error instanceof ConfigError
      ? error.message
      : `the playground cannot start: ${scrubSecrets((error as Error).message ?? String(error))}`,
  );
  process.exit(1);
}

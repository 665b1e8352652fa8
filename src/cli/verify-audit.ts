// `npm run audit:verify [-- --against-slack]` (in the Docker image: `node dist/cli/verify-audit.js`).
// Recomputes the audit log's hash chain in the state database — with PGSESSIONS_AUDIT_KEY, the HMAC of every
// keyed entry — and, with --against-slack, compares every entry with what the audit channel witnessed.
// Reads the app's own settings. One line per problem. Exit 0 all good, 1 a problem found, 2 could not check.
import { LogLevel, WebClient } from '@slack/web-api';
import pg from 'pg';
import { ConfigError, loadStateSettings, type StateSettings } from '../config.js';
import type { AuditEntry } from '../domain/audit.js';
import { compareWithWitnesses } from '../domain/audit-witness.js';
import { scrubSecrets } from '../logger.js';
import { createStateStore } from '../postgres/state-store.js';
import { readChannelWitnesses } from '../audit/channel-history.js';

const againstSlack = process.argv.includes('--against-slack');

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

let settings: StateSettings;
try {
  settings = loadStateSettings(process.env);
} catch (error) {
  fail(error instanceof ConfigError ? error.message : String(error));
}
if (!settings.stateDatabaseUrl)
  fail('Set STATE_DATABASE_URL (or DATABASE_URL) to the database that holds the pgsessions schema.');
if (againstSlack && (!settings.slackBotToken || !settings.auditChannel)) {
  fail(
    '--against-slack reads the audit channel: set SLACK_BOT_TOKEN and PGSESSIONS_AUDIT_CHANNEL (and SLACK_API_URL if the app uses one).',
  );
}

const key = settings.auditKey ? Buffer.from(settings.auditKey, 'utf8') : null;
const pool = new pg.Pool({
  connectionString: settings.stateDatabaseUrl,
  application_name: 'pgsessions-verify',
  max: 1,
});
pool.on('error', () => undefined);
const store = createStateStore(pool, { key });
let problems = 0;
try {
  const verdict = await store.verifyAudit();
  if (!verdict.ok) {
    // Every break, one line each: one junk row must not hide what comes after it.
    const shown = verdict.breaks.slice(0, 200);
    for (const b of shown) console.log(`audit log BROKEN at entry #${b.seq}: ${b.reason}`);
    if (verdict.breaks.length > shown.length) console.log(`… and ${verdict.breaks.length - shown.length} more breaks`);
    problems += verdict.breaks.length;
  } else if (verdict.uncheckedKeyed > 0) {
    problems += 1;
    console.log(
      `audit log NOT CHECKED: ${verdict.uncheckedKeyed} entries from #${verdict.keyedFromSeq} are keyed; set PGSESSIONS_AUDIT_KEY to check them`,
    );
  } else {
    const keyed =
      verdict.keyedFromSeq === null
        ? 'unkeyed (SHA-256): anyone who can write the table could have recomputed it'
        : `keyed (HMAC-SHA256) from entry #${verdict.keyedFromSeq}`;
    console.log(`audit log intact: ${verdict.count} entries, hash chain verified; ${keyed}`);
  }

  if (againstSlack) {
    const table: AuditEntry[] = [];
    for (
      let page = await store.readAudit(0, 1000);
      page.length > 0;
      page = await store.readAudit(page[page.length - 1]!.seq, 1000)
    ) {
      table.push(...page);
    }
    const last = table.length > 0 ? table[table.length - 1]!.seq : 0;
    const deliveries = await store.deliveryStatus(0, Number.MAX_SAFE_INTEGER);
    const client = new WebClient(settings.slackBotToken!, {
      ...(settings.slackApiUrl ? { slackApiUrl: settings.slackApiUrl } : {}),
      retryConfig: { retries: 5, factor: 2, minTimeout: 500 },
      logLevel: LogLevel.ERROR,
    });
    const channel = await readChannelWitnesses(client, settings.auditChannel!);
    const comparison = compareWithWitnesses(table, deliveries, channel.witnesses);
    for (const line of comparison.problems) console.log(line);
    problems += comparison.problems.length;
    console.log(
      `against the audit channel: ${comparison.matches} of ${table.length} entries match (table ends at #${last}); ` +
        `${comparison.problems.length} problems; ${channel.ignored} messages from others ignored`,
    );
  }
  process.exitCode = problems > 0 ? 1 : 0;
} catch (error) {
  const message = (error as { data?: { error?: string } }).data?.error ?? (error as Error).message;
  console.error(`could not verify the audit log: ${scrubSecrets(String(message))}`);
  process.exitCode = 2;
} finally {
  await pool.end();
}

// `npm test`: start one PostgreSQL for the whole suite (unless TEST_DATABASE_URL names one), then run every
// test file with node's test runner. Each test file makes its own databases on that server.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from './helpers/embedded.js';

async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map(async (entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return testFiles(path);
      return entry.name.endsWith('.test.ts') ? [path] : [];
    }),
  );
  return nested.flat().sort();
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : await testFiles('test');
let server: EmbeddedServer | undefined;
if (!process.env.TEST_DATABASE_URL) {
  server = await startEmbeddedPostgres();
  process.env.TEST_DATABASE_URL = server.url;
}
{
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  await client.end();
  console.log(`# tests run against PostgreSQL ${rows[0]?.v}${server ? ' (embedded)' : ' (TEST_DATABASE_URL)'}`);
}
const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
    stdio: 'inherit',
    env: process.env,
  });
  child.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0)));
});
await server?.stop();
process.exit(code);

// `npm run test:versions [files…]`: the whole suite (or the files named) once per PostgreSQL major
// (PG_VERSIONS=14,18 to pick some).
import { spawnSync } from 'node:child_process';
import { SUPPORTED_MAJORS } from './helpers/embedded.js';

const majors = (process.env.PG_VERSIONS ?? SUPPORTED_MAJORS.join(','))
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean);
// Test files named on the command line run on each major instead of the whole suite (CI: the files whose SQL
// or server behaviour differs between majors).
const files = process.argv.slice(2);
const results: Array<[string, number]> = [];
for (const major of majors) {
  console.log(`\n=== PostgreSQL ${major} ===`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'test/run.ts', ...files], {
    stdio: 'inherit',
    env: { ...process.env, PG_VERSION: major, TEST_DATABASE_URL: '' },
  });
  results.push([major, run.status ?? 1]);
}
console.log('\nPostgreSQL versions:');
for (const [major, status] of results) console.log(`  ${major}: ${status === 0 ? 'pass' : 'FAIL'}`);
process.exit(results.every(([, status]) => status === 0) ? 0 : 1);

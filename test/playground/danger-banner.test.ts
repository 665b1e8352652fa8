// In Chromium: against an existing server with PGSESSIONS_READ_ONLY=false, the page's banner says in red
// that kills are real and that anyone who reaches the page can play both the requester and the approver.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPlayground, type Playground } from '../../src/playground/playground.js';
import { browserMissing, launchChromium, type Chromium } from '../helpers/browser.js';
import { serverUrl } from '../helpers/pg.js';

const missing = browserMissing();
if (missing && process.env.CI === 'true') throw new Error(`the browser test cannot run under CI: ${missing}`);
const skip = missing ? `skipped: ${missing}` : false;

let playground: Playground;
let chromium: Chromium;

before(async () => {
  if (missing) return;
  playground = await startPlayground(
    { PLAYGROUND_PORT: '0', DATABASE_URL: serverUrl(), PGSESSIONS_READ_ONLY: 'false', LOG_LEVEL: 'warn' },
    { log: () => undefined },
  );
  chromium = await launchChromium();
});
after(async () => {
  await chromium?.close();
  await playground?.stop();
});

test('writable against an existing server: the banner warns in red that anyone on the page can play both people', {
  skip,
}, async () => {
  const page = await chromium.context.newPage();
  await page.goto(playground.url);
  const banner = page.getByRole('note');
  await banner
    .filter({ hasText: /anyone who reaches this page can play both the requester and the approver/ })
    .waitFor({ state: 'visible', timeout: 15_000 });
  assert.match((await banner.textContent()) ?? '', /NOT read-only: approved kills are real/);
  const background = await banner.evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(background, 'rgb(224, 30, 90)', 'the warning is red');
});

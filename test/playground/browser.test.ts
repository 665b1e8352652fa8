// The playground in headless Chromium, driven by role and accessible name as a person would use it: the
// whole incident — list, request with a reason, approve as someone else — against the real app and the
// embedded PostgreSQL, checked on the page and in pg_stat_activity itself. Takes docs/playground.png.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { startPlayground, type Playground } from '../../src/playground/playground.js';
import { browserMissing, launchChromium, type Chromium } from '../helpers/browser.js';
import { activityRow, sessionAlive } from '../helpers/sessions.js';

const missing = browserMissing();
if (missing && process.env.CI === 'true') {
  // CI must prove the page works: a missing browser is a broken machine, not a reason to pass.
  throw new Error(`the browser test cannot run under CI: ${missing}`);
}
const skip = missing ? `skipped: ${missing}` : false;

const WAIT_MS = 15_000;
let playground: Playground;
let chromium: Chromium;
let page: Page;

before(async () => {
  if (missing) return;
  playground = await startPlayground({ PLAYGROUND_PORT: '0', LOG_LEVEL: 'warn' }, { log: () => undefined });
  chromium = await launchChromium();
  page = await chromium.context.newPage();
  await page.goto(playground.url);
});

after(async () => {
  await chromium?.close();
  await playground?.stop();
});

async function visible(locator: Locator, timeout = WAIT_MS): Promise<Locator> {
  await locator.waitFor({ state: 'visible', timeout });
  return locator;
}

async function become(name: RegExp): Promise<void> {
  const picker = page.getByLabel('You are');
  const options = await picker.locator('option').allTextContents();
  const label = options.find((o) => name.test(o));
  assert.ok(label, `a person matching ${name} in ${options.join(', ')}`);
  await picker.selectOption({ label });
}

async function openChannel(name: string): Promise<void> {
  await page
    .getByRole('navigation', { name: 'Channels' })
    .getByRole('button', { name: `#${name}` })
    .click();
  await visible(page.getByRole('heading', { name: `#${name}` }));
}

async function type(text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: /^Message #/ });
  await box.fill(text);
  await box.press('Enter');
}

/** The newest message containing `text`. */
const message = (text: string | RegExp) =>
  page
    .getByRole('region', { name: /^Messages in/ })
    .getByRole('article')
    .filter({ hasText: text })
    .last();

test('blocking, replication and an unknown command render on the page', { skip }, async () => {
  await become(/requester/);
  await openChannel('incidents');

  await type('/pgsessions blocking');
  const blocking = await visible(message('Lock waits on default'));
  assert.match(await blocking.innerText(), /root blockers/);
  assert.match(await blocking.innerText(), /rails-migrate/, 'the migration is among the root blockers');
  assert.match(await blocking.innerText(), /Only visible to you/);

  await type('/pgsessions replication');
  const replication = await visible(message('Walsenders on default'));
  assert.match(await replication.innerText(), /analytics-cdc/);
  await visible(replication.getByRole('button', { name: /End walsender/ }));

  await type('/pgsessions frobnicate');
  const usage = await visible(message('Usage:'));
  assert.match(await usage.innerText(), /\/pgsessions blocking/);
});

test('unasked, pgsessions alerts in #incidents: the migration as root blocker and the DDL at the head of a lock queue', {
  skip,
}, async () => {
  const migration = playground.incident!.migrationPid();
  await become(/bystander/);
  await openChannel('incidents');
  // The playground watches every 2 s and alerts on a 5 s lock wait: no command needed.
  const blocker = await visible(message('A session blocks others').filter({ hasText: `pid ${migration}` }), 45_000);
  await visible(blocker.getByRole('button', { name: /Request terminate/ }));
  await visible(message('A DDL waits at the head of a lock queue').filter({ hasText: 'loyalty_tier' }), 45_000);
});

test('the whole incident: the requester asks to terminate the migration, the approver approves, the session is gone', {
  skip,
}, async () => {
  const migration = playground.incident!.migrationPid();
  await become(/requester/);
  await openChannel('incidents');

  // Asked from the alert that named the migration, unasked, as the root blocker: no command needed.
  const alert = await visible(message('A session blocks others').filter({ hasText: `pid ${migration}` }), 45_000);
  await alert.getByRole('button', { name: /Request terminate of the root blocker/ }).click();

  const dialog = await visible(page.getByRole('dialog', { name: 'Terminate session' }));
  await visible(dialog.getByText('ALTER TABLE orders ADD COLUMN note text'));
  // A blank reason is refused by the app (response_action: errors) and shown under the field.
  await dialog.getByLabel('Reason').fill('   ');
  await dialog.getByRole('button', { name: 'Request approval' }).click();
  await visible(dialog.getByRole('alert').filter({ hasText: 'Give a reason' }));
  await dialog.getByLabel('Reason').fill('the migration holds ACCESS EXCLUSIVE on orders; checkout is down');
  await dialog.getByRole('button', { name: 'Request approval' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached', timeout: WAIT_MS });

  const request = await visible(message('Terminate request'));
  const requestTs = await request.getAttribute('data-ts');
  assert.match(await request.innerText(), new RegExp(`pid ${migration}`));

  // The requester's own Approve is refused (Riley is no approver), as is the bystander's; nothing happens.
  await request.getByRole('button', { name: 'Approve' }).click();
  const refusal = await visible(message('Only an approver can do that'));
  assert.match(await refusal.innerText(), /Only visible to you/);
  await become(/bystander/);
  await (await visible(message('Terminate request'))).getByRole('button', { name: 'Approve' }).click();
  await visible(message('Only an approver can do that'));
  assert.equal(await sessionAlive(playground.adminUrl!, migration), true, 'nobody but an approver killed anything');
  await become(/requester/);

  // The listing shows the same root blocker, with its own Terminate button opening the same form.
  await type('/pgsessions');
  const listing = await visible(message('Sessions on default'));
  const row = await visible(listing.getByRole('group', { name: /rails-migrate/ }));
  // The group's accessible name is its session row.
  const rowText = await row.evaluate(
    (el) => document.getElementById(el.getAttribute('aria-labelledby') ?? '')?.innerText ?? '',
  );
  assert.match(rowText, new RegExp(`pid ${migration}\\b`));
  assert.match(rowText, /blocks 4/, 'the migration is shown as the root blocker of the queued web queries');
  await row.getByRole('button', { name: 'Terminate' }).click();
  const again = await visible(page.getByRole('dialog', { name: 'Terminate session' }));
  await visible(again.getByText('ALTER TABLE orders ADD COLUMN note text'));
  await again
    .getByRole('button', { name: /Cancel|Close/ })
    .first()
    .click();
  await page.getByRole('dialog').waitFor({ state: 'detached', timeout: WAIT_MS });

  await become(/approver/);
  const forApprover = await visible(message('Terminate request'));
  // The README's picture: the unasked alert naming the root blocker, with its request button, and the approval
  // request it led to, as the approver sees them before approving.
  await alert.evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await mkdir('docs', { recursive: true });
  await page.screenshot({ path: 'docs/playground.png' });
  await forApprover.getByRole('button', { name: 'Approve' }).click();

  const updated = await visible(message(/Approved by @Alex/));
  assert.equal(
    await updated.getAttribute('data-ts'),
    requestTs,
    'the request message was updated in place, not posted again',
  );
  await visible(updated.getByText(/terminated/));
  assert.equal(
    await updated.getByRole('button', { name: 'Approve' }).count(),
    0,
    'no Approve button after the decision',
  );
  assert.equal(
    await page
      .getByRole('region', { name: /^Messages in/ })
      .getByRole('article')
      .filter({ hasText: 'Terminate request' })
      .count(),
    1,
  );

  await updated.getByRole('button', { name: /1 repl/ }).click();
  await visible(page.getByRole('complementary', { name: 'Thread' }).getByText(/approved by @Alex: terminated/));

  await openChannel('db-audit');
  await visible(message(/executed/).filter({ hasText: `pid ${migration}` }));
  await visible(message(/requested/));
  await visible(message(/approved/));

  assert.equal(
    await sessionAlive(playground.adminUrl!, migration),
    false,
    'pg_stat_activity no longer shows the migration',
  );

  // The alert that named the migration is updated in place: cleared, and why.
  await openChannel('incidents');
  const cleared = await visible(message('Cleared').filter({ hasText: 'A session blocks others' }), 45_000);
  assert.match(await cleared.innerText(), /terminated/);
});

test('a standing approval agreed in the page cancels the DDL at the head of the queue, with nobody clicking after', {
  skip,
}, async () => {
  const ddl = playground
    .incident!.sessions()
    .find((s) => s.role === 'migrator' && s.pid !== playground.incident!.migrationPid())!;
  assert.ok(ddl, 'the demo has a DDL queued behind the report');
  await become(/requester/);
  await openChannel('incidents');
  await type(
    '/pgsessions allow cancel lock-queue-head app:flyway waiting:5s for:1h max:1 deploy window: never let a DDL wedge customers',
  );
  const proposal = await visible(message('Standing approval proposed'));
  // The preview is read from the cluster now: it names the queued DDL and what the rule would do to it.
  assert.match(await proposal.innerText(), new RegExp(`would cancel pid ${ddl.pid} · app flyway`));
  assert.equal(
    (await activityRow(playground.adminUrl!, ddl.pid))?.wait_event_type,
    'Lock',
    'a proposal alone does nothing',
  );

  await become(/approver/);
  await (await visible(message('Standing approval proposed'))).getByRole('button', { name: 'Approve rule' }).click();
  // Nobody clicks again: the watcher cancels the DDL's statement, and the rule ends at its cap of one.
  const ended = await visible(message('its cap is reached'), 45_000);
  assert.match(await ended.innerText(), new RegExp(`1 of 1 used, last at .* pid ${ddl.pid}.*cancelled`, 's'));
  const row = await activityRow(playground.adminUrl!, ddl.pid);
  assert.ok(row, 'a cancel leaves the session');
  assert.notEqual(row.wait_event_type, 'Lock', 'the DDL no longer waits for its lock');
  const cleared = await visible(
    message('Cleared').filter({ hasText: 'A DDL waits at the head of a lock queue' }),
    45_000,
  );
  assert.match(await cleared.innerText(), /standing approval/);
  await openChannel('db-audit');
  await visible(message(/rule_executed/).filter({ hasText: `pid ${ddl.pid}` }));
  await openChannel('incidents');
});

test('"Reset the incident" brings the migration back', { skip }, async () => {
  const before = playground.incident!.migrationPid();
  await page.getByRole('button', { name: 'Reset the incident' }).click();
  await visible(page.getByRole('status').filter({ hasText: 'The incident is back' }));
  const after = playground.incident!.migrationPid();
  assert.notEqual(after, before);
  assert.equal(await sessionAlive(playground.adminUrl!, after), true);

  await become(/bystander/);
  await openChannel('incidents');
  await type('/pgsessions');
  const listing = await visible(message('Sessions on default').filter({ hasText: `pid ${after}` }));
  assert.match(await listing.innerText(), /rails-migrate/);
});

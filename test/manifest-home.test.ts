// The App Home in the manifest: the Home tab (and the Messages tab, where a click on the Home is answered),
// the app_home_opened event on the same endpoint as everything else, and no scope beyond the methods called
// (views.publish needs none: test/manifest.test.ts checks the rest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const manifest = parse(readFileSync('manifest.yml', 'utf8')) as {
  features: {
    app_home?: { home_tab_enabled?: boolean; messages_tab_enabled?: boolean };
    slash_commands: Array<{ url: string }>;
  };
  settings: { event_subscriptions?: { request_url?: string; bot_events?: string[] } };
};
const methods = (
  JSON.parse(readFileSync('test/fixtures/slack-methods.json', 'utf8')) as { methods: Record<string, { bot: string[] }> }
).methods;

test('the manifest enables the Home and Messages tabs and subscribes to app_home_opened on the app’s endpoint', () => {
  assert.equal(manifest.features.app_home?.home_tab_enabled, true);
  assert.equal(manifest.features.app_home?.messages_tab_enabled, true);
  assert.deepEqual(manifest.settings.event_subscriptions?.bot_events, ['app_home_opened']);
  assert.equal(manifest.settings.event_subscriptions?.request_url, manifest.features.slash_commands[0]?.url);
});

test('views.publish, which the Home calls, needs no scope of its own', () => {
  assert.deepEqual(methods['views.publish']?.bot, []);
  const source = readFileSync('src/slack/adapters/home.ts', 'utf8');
  assert.match(source, /client\.views\.publish\(/);
});

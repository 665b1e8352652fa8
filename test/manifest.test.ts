// The manifest must grant a bot scope for every Web API method the app calls (the method → scope table is
// test/fixtures/slack-methods.json, see its `source`), and must create the app as is: the slash command, interactivity, and the same endpoint for both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

interface MethodInfo {
  bot: string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const manifest = parse(readFileSync('manifest.yml', 'utf8')) as {
  features: { slash_commands: Array<{ command: string; url: string; usage_hint: string }> };
  oauth_config: { scopes: { bot: string[] } };
  settings: { interactivity: { is_enabled: boolean; request_url: string } };
};
const methods = (
  JSON.parse(readFileSync(join('test', 'fixtures', 'slack-methods.json'), 'utf8')) as {
    methods: Record<string, MethodInfo>;
  }
).methods;

test('every Web API method the app calls is granted by a bot scope in manifest.yml', () => {
  const called = new Set<string>();
  for (const file of sourceFiles('src')) {
    for (const match of readFileSync(file, 'utf8').matchAll(/client\.((?:[a-z]+\.)+[a-zA-Z]+)\(/g))
      called.add(match[1]!);
  }
  assert.ok(
    called.has('chat.postMessage') && called.has('usergroups.users.list'),
    `found calls: ${[...called].join(', ')}`,
  );
  const granted = new Set(manifest.oauth_config.scopes.bot);
  for (const method of called) {
    const info = methods[method];
    assert.ok(info, `${method} is not a known Web API method`);
    if (info.bot.length > 0) {
      assert.ok(
        info.bot.some((scope) => granted.has(scope)),
        `${method} needs one of ${info.bot.join(', ')}; manifest grants ${[...granted].join(', ')}`,
      );
    }
  }
});

test('the manifest declares /pgsessions with a usage hint and interactivity on the same endpoint', () => {
  const command = manifest.features.slash_commands.find((c) => c.command === '/pgsessions');
  assert.ok(command, 'no /pgsessions slash command');
  assert.ok(command.usage_hint.length > 0);
  assert.ok(manifest.oauth_config.scopes.bot.includes('commands'));
  assert.equal(manifest.settings.interactivity.is_enabled, true);
  assert.match(command.url, /\/slack\/events$/);
  assert.equal(manifest.settings.interactivity.request_url, command.url);
});

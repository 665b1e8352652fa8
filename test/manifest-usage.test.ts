// The slash command's usage hint in manifest.yml (what Slack shows while typing /pgsessions) names every
// subcommand the parser knows, so none is hidden from people who never read `help`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SUBCOMMAND_WORDS } from '../src/domain/command.js';

const manifest = parse(readFileSync('manifest.yml', 'utf8')) as {
  features: { slash_commands: Array<{ command: string; usage_hint: string }> };
};

test('the manifest’s usage hint names every subcommand', () => {
  const hint = manifest.features.slash_commands.find((c) => c.command === '/pgsessions')?.usage_hint ?? '';
  // Words of the hint, split on what separates them there (spaces, brackets, bars, dots).
  const words = new Set(hint.split(/[\s[\]|·]+/).filter(Boolean));
  assert.ok(SUBCOMMAND_WORDS.length >= 9, `the parser's subcommands: ${SUBCOMMAND_WORDS.join(', ')}`);
  for (const word of SUBCOMMAND_WORDS) {
    assert.ok(words.has(word), `usage hint ${JSON.stringify(hint)} does not name ${word}`);
  }
});

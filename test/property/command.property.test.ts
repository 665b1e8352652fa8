// Property tests of the command grammar: whatever a person types, parsing answers and never throws, and
// nothing but the exact words of a kill request can ever produce one. parseCommand turns only its own
// InvalidCommand into `invalid` and rethrows anything else, so a bug inside the parser fails these
// properties instead of passing as "invalid input".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCommand, MAX_LIMIT } from '../../src/domain/command.js';
import { SESSION_STATES } from '../../src/domain/types.js';

const WORDS = [
  'top',
  'blocking',
  'replication',
  'status',
  'cancel',
  'terminate',
  'terminate-all',
  'pending',
  'help',
  'TERMINATE',
  'db:',
  'user:',
  'app:',
  'state:',
  'min:',
  'limit:',
  'cluster:',
  'escalate:',
  '"',
  ':',
  '-1',
  '0',
  '42',
  '2147483648',
  'x',
];
const word = fc.oneof(
  fc.constantFrom(...WORDS),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);
const commandText = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.array(word, { maxLength: 12 }).map((ws) => ws.join(' ')),
);

test('parseCommand never throws and always answers with a known kind, for any text', () => {
  fc.assert(
    fc.property(commandText, (text) => {
      const parsed = parseCommand(text);
      assert.ok(
        [
          'top',
          'blocking',
          'replication',
          'status',
          'pending',
          'cancel',
          'terminate',
          'terminate-all',
          'help',
          'invalid',
        ].includes(parsed.kind),
      );
      if (parsed.kind === 'invalid') assert.ok(parsed.message.length > 0);
    }),
    { numRuns: 5000 },
  );
});

test('a kill request is parsed only from text that starts with its subcommand word, with a valid pid', () => {
  fc.assert(
    fc.property(commandText, (text) => {
      const parsed = parseCommand(text);
      const first = text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
      if (parsed.kind === 'cancel' || parsed.kind === 'terminate') {
        assert.equal(first, parsed.kind);
        assert.ok(Number.isInteger(parsed.pid) && parsed.pid >= 1 && parsed.pid <= 2_147_483_647);
      }
      if (parsed.kind === 'terminate-all') {
        assert.equal(first, 'terminate-all');
        assert.ok(parsed.database.length > 0);
      }
    }),
    { numRuns: 5000 },
  );
});

test('listing filters that parse are always within their bounds', () => {
  fc.assert(
    fc.property(fc.array(word, { maxLength: 8 }), (words) => {
      const parsed = parseCommand(words.join(' '));
      if (parsed.kind !== 'top') return;
      const f = parsed.filters;
      assert.ok(Number.isInteger(f.limit) && f.limit >= 1 && f.limit <= MAX_LIMIT);
      if (f.state !== undefined) assert.ok((SESSION_STATES as readonly string[]).includes(f.state));
      if (f.minSeconds !== undefined) assert.ok(f.minSeconds >= 0);
      for (const name of [f.database, f.user, f.application, parsed.cluster]) {
        // biome-ignore lint/suspicious/noControlCharactersInRegex: a name must carry no control character
        if (name !== undefined) assert.ok(name.length >= 1 && name.length <= 63 && !/[\u0000-\u001f\u007f]/.test(name));
      }
    }),
    { numRuns: 5000 },
  );
});

test('any pid and reason typed round-trip into a terminate request unchanged', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2_147_483_647 }),
      fc.array(fc.stringMatching(/^[a-z0-9,.!?-]{1,10}$/), { maxLength: 10 }),
      (pid, reasonWords) => {
        const parsed = parseCommand(`terminate ${pid} ${reasonWords.join(' ')}`);
        assert.equal(parsed.kind, 'terminate');
        if (parsed.kind !== 'terminate') return;
        assert.equal(parsed.pid, pid);
        assert.equal(parsed.reason, reasonWords.join(' '));
      },
    ),
    { numRuns: 2000 },
  );
});

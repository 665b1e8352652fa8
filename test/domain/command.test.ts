import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMIT, USAGE, parseCommand, type ParsedCommand } from '../../src/domain/command.js';

function invalid(text: string): string {
  const parsed = parseCommand(text);
  assert.equal(parsed.kind, 'invalid', `expected invalid for ${JSON.stringify(text)}, got ${JSON.stringify(parsed)}`);
  return (parsed as Extract<ParsedCommand, { kind: 'invalid' }>).message;
}

test('empty text lists the top sessions with the default limit', () => {
  assert.deepEqual(parseCommand(''), { kind: 'top', filters: { limit: DEFAULT_LIMIT } });
  assert.deepEqual(parseCommand('   \n '), { kind: 'top', filters: { limit: DEFAULT_LIMIT } });
  assert.deepEqual(parseCommand('top'), { kind: 'top', filters: { limit: DEFAULT_LIMIT } });
});

test('every listing modifier is read, in any order, with or without the top word', () => {
  const expected: ParsedCommand = {
    kind: 'top',
    cluster: 'prod',
    filters: { database: 'shop', user: 'alice', application: 'psql', state: 'active', minSeconds: 30, limit: 5 },
  };
  assert.deepEqual(parseCommand('top cluster:prod db:shop user:alice app:psql state:active min:30s limit:5'), expected);
  assert.deepEqual(parseCommand('limit:5 min:30s state:active app:psql user:alice db:shop cluster:prod'), expected);
});

test('state words map to the pg_stat_activity spelling', () => {
  const cases: Record<string, string> = {
    active: 'active',
    idle: 'idle',
    'idle-in-transaction': 'idle in transaction',
    'idle-in-transaction-aborted': 'idle in transaction (aborted)',
    fastpath: 'fastpath function call',
    disabled: 'disabled',
    'IDLE-IN-TRANSACTION': 'idle in transaction',
  };
  for (const [word, state] of Object.entries(cases)) {
    const parsed = parseCommand(`state:${word}`);
    assert.equal(parsed.kind, 'top');
    assert.equal(parsed.kind === 'top' && parsed.filters.state, state);
  }
  assert.match(invalid('state:sleeping'), /sleeping/);
});

test('subcommand words are case-insensitive', () => {
  assert.deepEqual(parseCommand('BLOCKING'), { kind: 'blocking' });
  assert.deepEqual(parseCommand('Help'), { kind: 'help' });
  assert.equal(parseCommand('Terminate-All db:x').kind, 'terminate-all');
});

test('blocking, replication, status and pending take an optional cluster and nothing else', () => {
  for (const kind of ['blocking', 'replication', 'status', 'pending'] as const) {
    assert.deepEqual(parseCommand(kind), { kind });
    assert.deepEqual(parseCommand(`${kind} cluster:eu-1`), { kind, cluster: 'eu-1' });
    assert.match(invalid(`${kind} banana`), /banana/);
    assert.match(invalid(`${kind} db:shop`), /db:shop/);
  }
});

test('help ignores whatever follows it', () => {
  assert.deepEqual(parseCommand('help cancel'), { kind: 'help' });
});

test('unknown words in a listing are invalid and the message names the word', () => {
  assert.match(invalid('frobnicate'), /frobnicate/);
  assert.match(invalid('db:shop wat'), /wat/);
  assert.match(invalid('top color:red'), /color:red/);
  assert.match(invalid('12345'), /12345/);
});

test('a modifier given twice is invalid', () => {
  assert.match(invalid('db:a db:b'), /db: is given twice/);
  assert.match(invalid('cancel 12 cluster:a cluster:b'), /cluster: is given twice/);
});

test('min takes a duration and limit a whole number from 1 to 200', () => {
  const top = (text: string) => {
    const p = parseCommand(text);
    assert.equal(p.kind, 'top');
    return (p as Extract<ParsedCommand, { kind: 'top' }>).filters;
  };
  assert.equal(top('min:1h30m').minSeconds, 5400);
  assert.equal(top('min:90').minSeconds, 90);
  assert.equal(top('limit:1').limit, 1);
  assert.equal(top('limit:200').limit, 200);
  assert.match(invalid('min:soon'), /soon/);
  assert.match(invalid('min:-5s'), /-5s/);
  for (const bad of ['0', '201', '-1', '2.5', 'ten', '']) invalid(`limit:${bad}`);
  assert.match(invalid('limit:201'), /201/);
});

test('names are kept verbatim, may be quoted to hold spaces, and are limited to 63 characters', () => {
  const p = parseCommand(`app:"my app" user:O'Brien db:"x;DROP TABLE y" cluster:Prod`);
  assert.deepEqual(p, {
    kind: 'top',
    cluster: 'Prod',
    filters: { application: 'my app', user: "O'Brien", database: 'x;DROP TABLE y', limit: DEFAULT_LIMIT },
  });
  const name63 = 'n'.repeat(63);
  assert.equal(parseCommand(`db:${name63}`).kind, 'top');
  assert.match(invalid(`db:${'n'.repeat(64)}`), /63/);
  assert.match(invalid('db:'), /db: needs a value/);
  assert.match(invalid('db:""'), /db: needs a value/);
  assert.match(invalid('app:"a\u0007b"'), /control/);
  assert.match(invalid('app:"never closed'), /never closed/);
});

test('cancel reads the PID, an optional escalate and cluster anywhere, and the rest as the reason', () => {
  assert.deepEqual(parseCommand('cancel 4242 cluster:prod escalate:10s runaway   report query'), {
    kind: 'cancel',
    cluster: 'prod',
    pid: 4242,
    reason: 'runaway report query',
    escalateAfterSeconds: 10,
  });
  assert.deepEqual(parseCommand('cancel 4242 it is stuck escalate:2m'), {
    kind: 'cancel',
    pid: 4242,
    reason: 'it is stuck',
    escalateAfterSeconds: 120,
  });
  assert.deepEqual(parseCommand('cancel 1'), { kind: 'cancel', pid: 1, reason: '', escalateAfterSeconds: null });
});

test('escalate must be between 1s and 300s', () => {
  assert.equal((parseCommand('cancel 1 escalate:1s') as { escalateAfterSeconds: number }).escalateAfterSeconds, 1);
  assert.equal((parseCommand('cancel 1 escalate:300') as { escalateAfterSeconds: number }).escalateAfterSeconds, 300);
  assert.match(invalid('cancel 1 escalate:0s'), /escalate/);
  assert.match(invalid('cancel 1 escalate:301s'), /301s/);
  assert.match(invalid('cancel 1 escalate:later'), /later/);
});

test('terminate reads the PID and keeps unrecognised key:value words in the reason', () => {
  assert.deepEqual(parseCommand('terminate 99 holding locks since db:shop deploy cluster:eu'), {
    kind: 'terminate',
    cluster: 'eu',
    pid: 99,
    reason: 'holding locks since db:shop deploy',
  });
  assert.deepEqual(parseCommand('terminate 99 escalate:5s'), { kind: 'terminate', pid: 99, reason: 'escalate:5s' });
});

test('a PID that is not a positive whole number up to 2147483647 is invalid and named', () => {
  for (const bad of ['0', '-3', 'abc', '12.5', '2147483648', '99999999999', '1e3', '0x10']) {
    assert.match(
      invalid(`terminate ${bad}`),
      new RegExp(`PID must be a positive whole number, got .*${bad.replace('.', '\\.')}`),
    );
  }
  assert.equal(parseCommand('terminate 2147483647').kind, 'terminate');
  assert.match(invalid('cancel'), /PID/);
  assert.match(invalid('terminate cluster:prod'), /PID/);
});

test('terminate-all requires db and reads user, app, cluster and a reason', () => {
  assert.deepEqual(parseCommand('terminate-all db:shop user:etl app:"nightly job" cluster:prod maintenance window'), {
    kind: 'terminate-all',
    cluster: 'prod',
    database: 'shop',
    user: 'etl',
    application: 'nightly job',
    reason: 'maintenance window',
  });
  assert.deepEqual(parseCommand('terminate-all db:shop'), { kind: 'terminate-all', database: 'shop', reason: '' });
  assert.match(invalid('terminate-all user:etl before the upgrade'), /db:/);
});

test('parseCommand never throws, whatever the input', () => {
  const inputs = [
    '"',
    '""',
    ':',
    'db:"',
    'cancel "',
    'cancel 1 "unterminated reason',
    'top '.repeat(1000),
    'db:'.repeat(1000),
    '\u0000\u0001',
    '\uD800',
    'x'.repeat(100_000),
    'constructor',
    '__proto__',
    'toString:1',
    'cluster:__proto__',
    'state:__proto__',
    'state:constructor',
  ];
  for (const input of inputs) {
    const parsed = parseCommand(input);
    assert.ok(typeof parsed.kind === 'string');
  }
  // A few characters at random, many times.
  const alphabet = ['a', ':', '"', ' ', '1', 'db', 'cancel', 'terminate-all', 'limit', 'min', '\n', '-', 'é', '\u0007'];
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    let text = '';
    const n = i % 12;
    for (let j = 0; j < n; j++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      text += alphabet[seed % alphabet.length];
    }
    assert.doesNotThrow(() => parseCommand(text));
  }
});

test('an error message quotes a very long bad word only in part', () => {
  const message = invalid('x'.repeat(10_000));
  assert.ok(message.length < 200);
});

test('USAGE documents every subcommand and modifier', () => {
  for (const word of [
    'top',
    'blocking',
    'replication',
    'status',
    'cancel PID',
    'terminate PID',
    'terminate-all db:NAME',
    'pending',
    'help',
  ]) {
    assert.ok(USAGE.includes(word), word);
  }
  for (const mod of ['cluster:', 'db:', 'user:', 'app:', 'state:', 'min:', 'limit:', 'escalate:']) {
    assert.ok(USAGE.includes(mod), mod);
  }
  assert.ok(USAGE.length < 3000);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_DURATION_SECONDS, formatDuration, parseDuration } from '../../src/domain/duration.js';

test('parseDuration reads seconds, minutes, hours, days and bare numbers as seconds', () => {
  assert.equal(parseDuration('30s'), 30);
  assert.equal(parseDuration('5m'), 300);
  assert.equal(parseDuration('2h'), 7200);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('90'), 90);
  assert.equal(parseDuration('1d'), 86_400);
  assert.equal(parseDuration('1d2h3m4s'), 93_784);
  assert.equal(parseDuration('0s'), 0);
  assert.equal(parseDuration(' 10S '), 10);
});

test('parseDuration accepts exactly 30 days and refuses anything longer', () => {
  assert.equal(parseDuration('30d'), MAX_DURATION_SECONDS);
  assert.equal(parseDuration(String(MAX_DURATION_SECONDS)), MAX_DURATION_SECONDS);
  assert.equal(parseDuration('30d1s'), null);
  assert.equal(parseDuration('721h'), null);
  assert.equal(parseDuration('99999999999999999999999'), null);
});

test('parseDuration returns null for negative, empty, fractional, misordered and junk input', () => {
  for (const bad of [
    '',
    '   ',
    '-5s',
    '-5',
    '1.5h',
    'm',
    'h1',
    '5x',
    '5 m',
    '30s5m',
    '1m1m',
    'abc',
    'Infinity',
    'NaN',
    '1e3',
    '0x10',
    '5mins',
  ]) {
    assert.equal(parseDuration(bad), null, `expected null for ${JSON.stringify(bad)}`);
  }
});

test('formatDuration is compact with at most two units', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(42), '42s');
  assert.equal(formatDuration(59.9), '59s');
  assert.equal(formatDuration(60), '1m 00s');
  assert.equal(formatDuration(303), '5m 03s');
  assert.equal(formatDuration(3599), '59m 59s');
  assert.equal(formatDuration(3600), '1h 00m');
  assert.equal(formatDuration(7500), '2h 05m');
  assert.equal(formatDuration(86_399), '23h 59m');
  assert.equal(formatDuration(3 * 86_400 + 4 * 3600 + 59), '3d 4h');
});

test('formatDuration shows negative or non-finite input as 0s', () => {
  assert.equal(formatDuration(-3), '0s');
  assert.equal(formatDuration(Number.NaN), '0s');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '0s');
});

// Durations and sizes as the agent's flags take them (parseDuration, parseSize in flags.ts)
// and as tvault prints them (formatDuration in core).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from './flags';
import { formatDuration } from '@tvault/core/base';

const DAY = 86_400_000;

test('durations: parseDuration', () => {
  const ok: Array<[string | undefined, number]> = [
    [undefined, 0],
    ['', 0],
    ['0', 0],
    ['000', 0],
    ['0.0', 0],
    ['30s', 30_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['1.5h', 5_400_000],
    [' 1h ', 3_600_000],
    ['1d', DAY],
    ['24d', 24 * DAY],
    ['500ms', 500],
    ['1ms', 1],
  ];
  for (const [text, want] of ok) assert.equal(parseDuration(text, '--idle'), want, String(text));
  const bad: Array<[string, RegExp]> = [
    ['15', /invalid --idle "15": give a duration with a unit, like 30s, 15m or 2h \(0 disables\)/],
    ['1.5', /invalid --idle/],
    ['soon', /invalid --idle "soon"/],
    ['-1s', /invalid --idle "-1s"/],
    ['0.1ms', /invalid --idle/],
    ['25d', /--idle 25d is too long: at most 24d/],
    ['30d', /too long/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parseDuration(text, '--idle'),
      (err: Error & { exitCode?: number }) => {
        assert.match(err.message, re, text);
        assert.equal(err.exitCode, 2, 'a usage error');
        return true;
      },
    );
  }
  assert.equal(parseDuration('1h', '--x', { ms: 3_600_000, text: '1h' }), 3_600_000);
  assert.throws(() => parseDuration('2h', '--x', { ms: 3_600_000, text: '1h' }), /--x 2h is too long: at most 1h/);
});

test('durations: parseSize', () => {
  const ok: Array<[string, number]> = [
    ['1024', 1024],
    ['1K', 1024],
    ['512K', 512 * 1024],
    ['10M', 10 * 1024 ** 2],
    ['10MiB', 10 * 1024 ** 2],
    ['2mb', 2 * 1024 ** 2],
    ['1G', 1024 ** 3],
    [' 4 K ', 4096],
  ];
  for (const [text, want] of ok) assert.equal(parseSize(text, '--log-max-size'), want, text);
  for (const text of ['1023', '0', '1T', '-1K', 'big', '', '1.5M', `${2 ** 30}G`]) {
    assert.throws(() => parseSize(text, '--log-max-size'), /invalid --log-max-size .*: give a size from 1K up/, text);
  }
});

test('durations: formatDuration', () => {
  const cases: Array<[number, string]> = [
    [0, 'off'],
    [1, '1ms'],
    [1500, '1500ms'],
    [1000, '1s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [900_000, '15m'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [3_661_000, '1h1m1s'],
    [DAY, '1d'],
    [DAY + 1000, '1d1s'],
    [24 * DAY, '24d'],
  ];
  for (const [ms, want] of cases) assert.equal(formatDuration(ms), want, String(ms));
});

test('durations: what formatDuration prints, parseDuration reads back', () => {
  for (const ms of [1000, 59_000, 900_000, 5_400_000, DAY]) {
    const text = formatDuration(ms);
    if (!/^\d+[dhms]$/.test(text)) continue; // ms's parser takes one unit: "1h30m" is not its syntax
    assert.equal(parseDuration(text, '--idle'), ms, text);
  }
});

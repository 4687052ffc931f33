// parseDotenvFile: dotenv's values, and every line it would drop silently, by number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEnv } from '@tvault/core/env-format';
import { parseDotenvFile } from './dotenv-import';

const parse = (text: string | Buffer) => parseDotenvFile(Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'));

test('dotenv import: values as dotenv reads them, with the line of each key', () => {
  const r = parse('# c\nA=1\n\nexport B=\'two words\'\nC="x\ny"\nD=${HOME}/$(id)\n__proto__=p\n');
  assert.deepEqual(
    r.entries.map((e) => [e.name, e.value, e.line]),
    [
      ['A', '1', 2],
      ['B', 'two words', 4],
      ['C', 'x\ny', 5],
      ['D', '${HOME}/$(id)', 7],
      ['__proto__', 'p', 8],
    ],
  );
  assert.deepEqual(r.problems, []);
});

test('dotenv import: every line left out is reported by number, never its text', () => {
  const cases: Array<[string, Array<[number, string | undefined, RegExp]>]> = [
    ['A=1\nnot a binding\nB=2\n', [[2, undefined, /^not a KEY=value line$/]]],
    [
      'GOOD=1\nKEY.WITH.DOTS=2\nBAD-NAME=3\n1X=4\n',
      [
        [2, 'KEY.WITH.DOTS', /KEY.WITH.DOTS is not a tvault key name/],
        [3, 'BAD-NAME', /BAD-NAME is not a tvault key name/],
        [4, '1X', /1X is not a tvault key name/],
      ],
    ],
    [`A=1\nHUGE=${'x'.repeat(1024 * 1024 + 1)}\n`, [[2, 'HUGE', /the value of HUGE: value is too large/]]],
    ['A=1\r\nsecret-looking junk\r\n', [[2, undefined, /not a KEY=value line/]]],
  ];
  for (const [text, want] of cases) {
    const r = parse(text);
    assert.deepEqual(
      r.problems.map((p) => [p.line, p.name]),
      want.map(([l, n]) => [l, n]),
      JSON.stringify(text.slice(0, 60)),
    );
    r.problems.forEach((p, i) => assert.match(p.reason, want[i][2]));
    for (const p of r.problems) assert.doesNotMatch(p.reason, /junk|binding|xxxx/, 'a reason must not quote the line');
  }
  assert.deepEqual(
    parse('GOOD=1\nKEY.WITH.DOTS=2\n').entries.map((e) => e.name),
    ['GOOD'],
  );
});

test('dotenv import: a line that is not UTF-8 is reported and the rest is read', () => {
  const raw = Buffer.concat([Buffer.from('A=1\nB='), Buffer.from([0xff, 0xfe]), Buffer.from('\nC=3\n')]);
  const r = parse(raw);
  assert.deepEqual(
    r.entries.map((e) => e.name),
    ['A', 'C'],
  );
  assert.deepEqual(r.problems, [{ line: 2, reason: 'not valid UTF-8' }]);
});

test('dotenv import: a key set twice keeps the later value, with a note', () => {
  const r = parse('A=1\nB=2\nA=3\n');
  assert.deepEqual(
    r.entries.map((e) => [e.name, e.value]),
    [
      ['B', '2'],
      ['A', '3'],
    ],
  );
  assert.equal(r.problems.length, 0);
  assert.match(r.notes[0].reason, /A is set again on line 3; the later value is the one imported/);
});

test("dotenv import: the env format for tvault's own reader (edit's file) reads back exactly through the import parser", () => {
  const values = ['it\'s "both" $HOME', "a`b'c", 'multi\nline', 'ends\\', ' padded ', '#hash', '${HOME} $(id)', 'é 日本'];
  for (const value of values) {
    const text = formatEnv([{ name: 'K', value }], 'dotenv', { reader: 'tvault' });
    const { entries, problems } = parseDotenvFile(Buffer.from(text, 'utf8'));
    assert.deepEqual(problems, [], text);
    assert.deepEqual(
      entries.map((e) => e.value),
      [value],
      text,
    );
  }
  assert.throws(() => formatEnv([{ name: 'K', value: '\'"`\n' }], 'dotenv', { reader: 'tvault' }), /value of K cannot be written in dotenv format/);
});

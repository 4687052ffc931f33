// The token file's grammar (docs/PROTOCOL.md, "Capability tokens"), table-driven: what each
// line means, and the one-line error each bad line gets (naming the line, never the token).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type TokenSpec, describeScope, formatTokenLine, hashToken, lineRanges, parseTime, parseTokenFile } from './token-file';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const H = sha('tok-a');
const parse = (text: string) => parseTokenFile(Buffer.from(text, 'utf8'), 'tokens');
/** The fields a test cares about, without the ones derived from the hash. */
const view = (s: TokenSpec) => {
  const { hash, id, ...rest } = s;
  assert.equal(id, hash.slice(0, 8));
  return { hash, ...rest };
};

test('tokens: lines and what they hold', () => {
  const cases: Array<[string, object[]]> = [
    ['', []],
    ['\n\n  \t\n', []],
    ['# a comment\n   # indented\n', []],
    [`sha256:${H}\n`, [{ hash: H, line: 1, stored: 'hash' }]],
    [`sha256:${H.toUpperCase()}`, [{ hash: H, line: 1, stored: 'hash' }]],
    [`sha256:${H}:backend`, [{ hash: H, line: 1, stored: 'hash', project: 'backend' }]],
    ['tok-a', [{ hash: H, line: 1, stored: 'raw' }]],
    ['tok-a:backend  # the page form', [{ hash: H, line: 1, stored: 'raw', project: 'backend' }]],
    ['tok-a\r\n', [{ hash: H, line: 1, stored: 'raw' }]],
    ['\n\n\ttok-a\t', [{ hash: H, line: 3, stored: 'raw' }]],
    [
      `sha256:${H} project=web keys=A,B_2 name=ci.deploy-1 expires=2026-12-01T00:00:00Z created=2026-11-01T10:00:00.5+02:00`,
      [
        {
          hash: H,
          line: 1,
          stored: 'hash',
          project: 'web',
          keys: ['A', 'B_2'],
          name: 'ci.deploy-1',
          expiresAt: Date.UTC(2026, 11, 1),
          created: '2026-11-01T10:00:00.5+02:00',
        },
      ],
    ],
    [
      `tok-a\n# x\nsha256:${sha('b')} name=b`,
      [
        { hash: H, line: 1, stored: 'raw' },
        { hash: sha('b'), line: 3, stored: 'hash', name: 'b' },
      ],
    ],
    ['aA0._~+/-==', [{ hash: sha('aA0._~+/-=='), line: 1, stored: 'raw' }]],
  ];
  for (const [text, want] of cases) assert.deepEqual(parse(text).map(view), want, JSON.stringify(text));
});

test('tokens: a bad line is refused with its line number and why, never with the token', () => {
  const cases: Array<[string, RegExp]> = [
    ['tok-a\nsha256:abc', /^tokens: line 2: "sha256:" must be followed by the 64 hex digits/],
    [`sha256:${H.slice(1)}`, /line 1: "sha256:" must be followed/],
    [':backend', /line 1: the token before ":" is empty/],
    ['x'.repeat(513), /line 1: a token is at most 512 characters/],
    ['tok$a', /line 1: a token may hold only letters, digits/],
    ['tok-a#x', /line 1: a token may hold only letters, digits/],
    ['project=backend keys=A', /line 1: the first field looks like an attribute \(name=value\), not a token/],
    ['tok-a tok-b', /line 1: field 2 is not an attribute \(name=value\); a line holds one token/],
    ['tok-a color=red', /line 1: unknown attribute "color" \(known: project, keys, expires, name, created, exec, cmds, env\)/],
    ['tok-a SECRETSECRET=1', /line 1: field 2 is an unknown attribute/],
    ['tok-a name=a name=b', /line 1: name is given twice/],
    ['tok-a:web project=api', /line 1: project is given twice \(as :project and project=\)/],
    ['tok-a name=', /line 1: name= has no value/],
    ['tok-a name=-x', /line 1: a name is 1-64 letters/],
    ['tok-a keys=A,,B', /line 1: keys= is a comma-separated list of key names/],
    ['tok-a keys=1A', /line 1: keys= is a comma-separated list/],
    ['tok-a keys=A,A', /line 1: keys= lists a key twice/],
    ['tok-a project=../x', /line 1: invalid project name/],
    ['tok-a expires=2026-12-01', /line 1: expires= is not a date-time with a zone/],
    ['tok-a expires=2026-02-30T00:00:00Z', /line 1: expires= is not a date-time/],
    ['tok-a created=yesterday', /line 1: created= is not a date-time/],
    ['tok-a\ntok-a', /line 2: the same token as line 1/],
    [`tok-a\nsha256:${H}`, /line 2: the same token as line 1/],
    ['tok-a name=x\ntok-b name=x', /line 2: the name is already used on line 1/],
    ['tok-a\x01', /line 1: a control character/],
    ['tok-a\x7f', /line 1: a control character/],
    ['ok\n\ntok\x1b[2J', /line 3: a control character/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parse(text),
      (err: Error) => {
        assert.match(err.message, re, JSON.stringify(text));
        assert.doesNotMatch(err.message, /tok-a|tok-b|SECRETSECRET|xxxx/, 'an error quotes the token');
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
  }
});

test('tokens: a raw token is hashed from the file bytes', () => {
  assert.equal(hashToken('tok-a'), H);
  assert.equal(hashToken(Buffer.from('tok-a')), H);
});

test('tokens: formatTokenLine writes what parseTokenFile reads back', () => {
  const line = formatTokenLine({ hash: H, name: 'ci', project: 'web', keys: ['A', 'B'], expires: '2026-12-01T00:00:00Z', created: '2026-11-01T00:00:00Z' });
  assert.equal(line, `sha256:${H}  name=ci  project=web  keys=A,B  expires=2026-12-01T00:00:00Z  created=2026-11-01T00:00:00Z\n`);
  assert.deepEqual(parse(line).map(view), [
    { hash: H, line: 1, stored: 'hash', name: 'ci', project: 'web', keys: ['A', 'B'], expiresAt: Date.UTC(2026, 11, 1), created: '2026-11-01T00:00:00Z' },
  ]);
  assert.equal(formatTokenLine({ hash: H }), `sha256:${H}\n`);
});

test('tokens: parseTime takes RFC 3339 with a zone, and nothing that Date.parse would roll over', () => {
  const cases: Array<[string, number | null]> = [
    ['2026-12-01T00:00:00Z', Date.UTC(2026, 11, 1)],
    ['2026-12-01T00:00Z', Date.UTC(2026, 11, 1)],
    ['2026-12-01T02:00:00+02:00', Date.UTC(2026, 11, 1)],
    ['2026-11-30T19:30:00-04:30', Date.UTC(2026, 11, 1)],
    ['2026-12-01T00:00:00.123456789Z', Date.UTC(2026, 11, 1, 0, 0, 0, 123)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2026-02-29T00:00:00Z', null],
    ['2026-13-01T00:00:00Z', null],
    ['2026-12-01T24:00:00Z', null],
    ['2026-12-01T00:60:00Z', null],
    ['2026-12-01T00:00:60Z', null],
    ['2026-12-01T00:00:00+24:00', null],
    ['2026-12-01T00:00:00', null],
    ['2026-12-01', null],
    ['2026-12-01 00:00:00Z', null],
    ['tomorrow', null],
    ['', null],
  ];
  for (const [text, want] of cases) assert.equal(parseTime(text), want, text);
});

test('tokens: lineRanges splits on LF, drops a CR before it, keeps a last line without one', () => {
  const r = (s: string) => lineRanges(Buffer.from(s)).map(([a, b]) => s.slice(a, b));
  assert.deepEqual(r(''), []);
  assert.deepEqual(r('a'), ['a']);
  assert.deepEqual(r('a\n'), ['a']);
  assert.deepEqual(r('a\r\nb\n\nc'), ['a', 'b', '', 'c']);
  assert.deepEqual(r('a\rb\n'), ['a\rb']);
});

test('tokens: describeScope', () => {
  assert.equal(describeScope({}), 'unrestricted');
  assert.equal(describeScope({ project: 'web' }), 'project web, all keys');
  assert.equal(describeScope({ keys: ['A', 'B'] }), 'any project, keys A,B');
  assert.equal(describeScope({ project: 'web', keys: ['A'] }), 'project web, keys A');
});

test('tokens: exec=only and cmds= (commands by ";", words by ",", URI-encoded), round trip', () => {
  const [t] = parse(`sha256:${H} exec=only cmds=npm,test;pytest;my%20tool,--flag%3Dx%2Cy%3Bz keys=A`);
  assert.equal(t.execOnly, true);
  assert.deepEqual(t.allowCmd, [['npm', 'test'], ['pytest'], ['my tool', '--flag=x,y;z']]);
  const again = parse(formatTokenLine({ hash: H, keys: ['A'], execOnly: true, allowCmd: t.allowCmd }))[0];
  assert.deepEqual([again.execOnly, again.allowCmd], [true, t.allowCmd]);
  assert.equal(describeScope(t), 'exec-only (commands: npm test; pytest; my tool --flag=x,y;z), any project, keys A');
  assert.equal(describeScope({ execOnly: true }), 'exec-only (any command), any project, all keys');
  for (const [line, msg] of [
    [`sha256:${H} exec=yes`, /exec= has one value: only/],
    [`sha256:${H} cmds=npm,,test`, /empty word/],
    [`sha256:${H} cmds=a;`, /empty word/],
    [`sha256:${H} cmds=%zz`, /malformed %-escape/],
  ] as const) {
    assert.throws(
      () => parse(line),
      (e: unknown) => e instanceof Error && /line 1/.test(e.message) && msg.test(e.message),
      line,
    );
  }
});

test("tokens: env= (what a delegate's child may get beyond LANG and TERM), round trip and refusals", () => {
  const [t] = parse(`sha256:${H} exec=only env=CI,GIT_AUTHOR_NAME,CI`);
  assert.deepEqual(t.allowEnv, ['CI', 'GIT_AUTHOR_NAME']);
  const again = parse(formatTokenLine({ hash: H, execOnly: true, allowEnv: t.allowEnv }))[0];
  assert.deepEqual(again.allowEnv, ['CI', 'GIT_AUTHOR_NAME']);
  assert.equal(describeScope(t), "exec-only (any command), any project, all keys, a delegate's child also gets its CI,GIT_AUTHOR_NAME");
  for (const [line, msg] of [
    [`sha256:${H} env=`, /env= has no value/],
    [`sha256:${H} env=A,,B`, /"" is not an environment variable name/],
    [`sha256:${H} env=1X`, /"1X" is not an environment variable name/],
    [`sha256:${H} env=A-B`, /is not an environment variable name/],
    [`sha256:${H} env=TVAULT_DIR`, /TVAULT_\* never passes/],
    [`sha256:${H} env=PATH`, /PATH is always the agent's/],
    [`sha256:${H} env=HOME`, /HOME is always the agent's/],
  ] as const) {
    assert.throws(
      () => parse(line),
      (e: unknown) => e instanceof Error && /line 1/.test(e.message) && msg.test(e.message),
      line,
    );
  }
});

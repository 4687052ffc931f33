// Rendering secrets for shells and tools (env-format.ts), byte for byte, table-driven. Whether
// the real readers (bash, zsh, fish, dotenv, yaml, GitHub's parser) read each format back is the
// slow tier's job: test/formats-roundtrip.test.mjs and test/shell-*.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENV_FORMATS, checkShellNames, dotenvQuote, fishQuote, formatEnv, shellLinesBytes, shellQuote } from './env-format';

const one = (value: string, format: string, opts = {}) => formatEnv([{ name: 'K', value }], format, opts);

test('env format: shell quoting', () => {
  const cases: Array<[string, string]> = [
    ['', "''"],
    ['plain', "'plain'"],
    ["it's", "'it'\\''s'"],
    ["''", "''\\'''\\'''"],
    ['$(rm -rf /) `x` $HOME !! \\n', "'$(rm -rf /) `x` $HOME !! \\n'"],
    ['line1\nline2\r', "'line1\nline2\r'"],
    ['=ls ~/x a:~/y', "'=ls ~/x a:~/y'"],
    ['é 日本 😀', "'é 日本 😀'"],
  ];
  for (const [value, want] of cases) assert.equal(shellQuote(value), want, JSON.stringify(value));
});

test('env format: fish quoting', () => {
  const cases: Array<[string, string]> = [
    ['', "''"],
    ["it's", "'it\\'s'"],
    ['back\\slash', "'back\\\\slash'"],
    ["\\'", "'\\\\\\''"],
    ['$x (y) {z}\nnext', "'$x (y) {z}\nnext'"],
  ];
  for (const [value, want] of cases) assert.equal(fishQuote(value), want, JSON.stringify(value));
});

test('env format: dotenv picks the first quoting that npm dotenv, python-dotenv and direnv all read back exactly', () => {
  const cases: Array<[string, string]> = [
    ['', "''"],
    ['plain', "'plain'"],
    ['a "b" #c $HOME `x`', `'a "b" #c $HOME \`x\`'`],
    ['one\\two', "'one\\two'"],
    ['  spaced  ', "'  spaced  '"],
    ['multi\nline', '"multi\\nline"'],
    ["it's", `"it's"`],
    ["it's `x` #y", `"it's \`x\` #y"`],
    ['cr\rhere', '"cr\\rhere"'],
    ['ends\\', 'ends\\'],
    ["x'\\y", "x'\\y"],
    ['a\'"b', `a'"b`],
  ];
  for (const [value, want] of cases) assert.equal(dotenvQuote('K', value), want, JSON.stringify(value));
  const none: Array<[string, RegExp]> = [
    ['${HOME}', /python-dotenv would expand its \$\{\.\.\.\}/],
    ["'${X:-y}'", /python-dotenv would expand/],
    ["it's $5", /it holds ', \$/],
    ['a\\\\b\n', /it holds a backslash, a line break/],
    ['say "hi"\n', /it holds ", a line break/],
    ['\' "', /it holds ', "/],
    ['ends\\\n', /a backslash, a line break/],
  ];
  for (const [value, re] of none) {
    assert.throws(() => dotenvQuote('K', value), /the value of K cannot be written portably in dotenv format/, JSON.stringify(value));
    assert.throws(() => dotenvQuote('K', value), re, JSON.stringify(value));
  }
  // ${ without a closing brace is literal to python-dotenv too.
  assert.equal(dotenvQuote('K', '${unclosed'), "'${unclosed'");
  const left: string[] = [];
  assert.equal(
    formatEnv(
      [
        { name: 'A', value: '${HOME}' },
        { name: 'B', value: 'ok' },
      ],
      'dotenv',
      { onUnwritable: (name) => left.push(name) },
    ),
    "B='ok'\n",
  );
  assert.deepEqual(left, ['A']);
});

test('env format: each format, whole', () => {
  const entries = [
    { name: 'A', value: "x'y" },
    { name: 'B_2', value: 'é\n' },
  ];
  assert.equal(formatEnv(entries, 'shell'), "export A='x'\\''y'\nexport B_2='é\n'\n");
  assert.equal(formatEnv(entries, 'shell', { export: false }), "A='x'\\''y'\nB_2='é\n'\n");
  assert.equal(formatEnv(entries, 'fish'), "set -gx -- A 'x\\'y'\nset -gx -- B_2 'é\n'\n");
  assert.equal(formatEnv(entries, 'fish', { export: false }), "set -g -- A 'x\\'y'\nset -g -- B_2 'é\n'\n");
  assert.equal(formatEnv(entries, 'dotenv'), 'A="x\'y"\nB_2="é\\n"\n');
  assert.equal(formatEnv(entries, 'dotenv', { export: true }), 'A="x\'y"\nB_2="é\\n"\n', 'dotenv never exports');
  assert.equal(formatEnv(entries, 'json'), '{\n  "A": "x\'y",\n  "B_2": "é\\n"\n}\n');
  assert.equal(formatEnv(entries, 'yaml'), 'A: "x\'y"\nB_2: "é\\n"\n');
  const gh = formatEnv(entries, 'github');
  const m = /^A<<(TVAULT_EOF_[0-9a-f]{24})\nx'y\n\1\nB_2<<(TVAULT_EOF_[0-9a-f]{24})\né\n\n\2\n$/.exec(gh);
  assert.ok(m, gh);
  assert.notEqual(m[1], m[2], 'a fresh delimiter per entry');
  for (const f of ENV_FORMATS) assert.equal(formatEnv([], f), f === 'json' ? '{}\n' : f === 'yaml' ? '{}\n' : '', f);
});

test('env format: yaml escapes what YAML 1.1 or 1.2 would not read back', () => {
  const cases: Array<[string, string]> = [
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\t\r\n', '"\\t\\r\\n"'],
    ['\x00\x1f\x7f\x85\x9f', '"\\x00\\x1f\\x7f\\x85\\x9f"'],
    ['\u2028\u2029\ufeff\ufffe\uffff', '"\\u2028\\u2029\\ufeff\\ufffe\\uffff"'],
    ['é 😀 ~ #', '"é 😀 ~ #"'],
  ];
  for (const [value, want] of cases) assert.equal(one(value, 'yaml'), `K: ${want}\n`, JSON.stringify(value));
  assert.equal(
    formatEnv(
      [
        { name: 'yes', value: '1' },
        { name: 'On', value: '2' },
        { name: 'NULL', value: '3' },
        { name: 'yes_', value: '4' },
      ],
      'yaml',
    ),
    '"yes": "1"\n"On": "2"\n"NULL": "3"\nyes_: "4"\n',
  );
});

test('env format: refusals', () => {
  const cases: Array<[string, string, object, RegExp]> = [
    ['RANDOM', 'shell', {}, /RANDOM cannot be loaded into bash or zsh: the shell reserves this name/],
    ['_', 'shell', {}, /cannot be loaded into bash or zsh/],
    ['status', 'fish', {}, /status cannot be loaded into fish/],
    ['TVAULT_DIR', 'github', {}, /names starting with TVAULT_ are reserved/],
    ['LD_PRELOAD', 'shell', {}, /refusing to inject LD_PRELOAD: it makes programs load code or configuration from the value .*tvault allow-name LD_PRELOAD$/],
    ['PATH', 'fish', { project: 'web' }, /refusing to inject PATH: .* tvault allow-name -p web PATH$/],
    ['NODE_OPTIONS', 'github', {}, /refusing to inject NODE_OPTIONS/],
  ];
  for (const [name, format, opts, re] of cases) assert.throws(() => formatEnv([{ name, value: 'v' }], format, opts), re, `${name} ${format}`);
  assert.throws(() => formatEnv([], 'xml'), /unknown format 'xml'; use one of: shell, fish, dotenv, json, yaml, github/);
  // What the project allows, and the data formats, which nothing executes: no name is refused there.
  assert.equal(formatEnv([{ name: 'LD_PRELOAD', value: 'v' }], 'shell', { allowDangerous: ['LD_PRELOAD'] }), "export LD_PRELOAD='v'\n");
  for (const format of ['dotenv', 'json', 'yaml']) {
    assert.doesNotThrow(
      () =>
        formatEnv(
          [
            { name: 'TVAULT_DIR', value: 'v' },
            { name: 'LD_PRELOAD', value: 'v' },
          ],
          format,
        ),
      format,
    );
  }
  assert.equal(formatEnv([{ name: 'TVAULT_DIR', value: 'v' }], 'dotenv'), "TVAULT_DIR='v'\n");
  assert.equal(formatEnv([{ name: 'RANDOM', value: 'v' }], 'fish'), "set -gx -- RANDOM 'v'\n", 'fish does not reserve RANDOM');
});

test('env format: shellLinesBytes is formatEnv shell, byte for byte, for hostile and random values', () => {
  const hostile = ['', "'", "''", "a'b'c", "it's", '"$(id)"', '`id`', '$HOME ${X:-y}', 'a\nb\r\nc', '\\', "\\'", '!', 'é 日本 🔑', "'\n'", ' padded '];
  // Long values (past shellLinesBytes's LONG, scanned another way) with quotes at the ends, in runs, and none.
  const long = 'é'.repeat(200);
  hostile.push(`'${long}'`, `${long}''${long}`, long + "'", "'" + long, long.repeat(3), `a'b`.repeat(500));
  const entries = hostile.map((value, i) => ({ name: `K${i}`, value }));
  const bytes = (list: Array<{ name: string; value: string }>) => list.map((e) => ({ name: e.name, value: Buffer.from(e.value, 'utf8') }));
  for (const exp of [true, false]) {
    assert.equal(shellLinesBytes(bytes(entries), exp).toString('utf8'), formatEnv(entries, 'shell', { export: exp }), `export ${exp}`);
    for (const e of entries) assert.deepEqual(shellLinesBytes(bytes([e]), exp), Buffer.from(formatEnv([e], 'shell', { export: exp })), JSON.stringify(e.value));
  }
  assert.equal(shellLinesBytes([]).length, 0);
  // Random values over a small alphabet dense in quotes and multibyte characters.
  const alphabet = ["'", "'", 'a', '\n', '"', '\\', '$', 'é', '🔑', ' '];
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 300; round++) {
    const list = Array.from({ length: 1 + rand(4) }, (_, i) => ({
      name: `R${i}`,
      value: Array.from({ length: rand(12) }, () => alphabet[rand(alphabet.length)]).join(''),
    }));
    assert.equal(shellLinesBytes(bytes(list)).toString('utf8'), formatEnv(list, 'shell'), JSON.stringify(list));
  }
});

test('env format: checkShellNames refuses exactly what formatEnv shell refuses, with the same message', () => {
  const cases: Array<[string[], string[]]> = [
    [['A', 'B'], []],
    [['LD_PRELOAD'], []],
    [['LD_PRELOAD'], ['LD_PRELOAD']],
    [['TVAULT_DIR'], []],
    [['RANDOM'], []],
    [['A', 'PATH', 'NODE_OPTIONS', 'RANDOM'], ['PATH']],
    [['npm_config_script_shell'], []],
  ];
  for (const [names, allowDangerous] of cases) {
    const entries = names.map((name) => ({ name, value: "v'$(id)" }));
    let want: string | null = null;
    try {
      formatEnv(entries, 'shell', { allowDangerous, project: 'web' });
    } catch (err) {
      want = (err as Error).message;
    }
    let got: string | null = null;
    try {
      checkShellNames(names, { allowDangerous, project: 'web' });
    } catch (err) {
      got = (err as Error).message;
    }
    assert.equal(got, want, names.join(','));
    if (got) assert.ok(!got.includes('$(id)'), 'no value in the message');
  }
});

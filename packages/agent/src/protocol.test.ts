// Request parsing (docs/PROTOCOL.md), table-driven: each line is either a request of a known
// shape or a ProtocolError with a stable code; and the response encoders' exact bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlockRequestLine } from '@tvault/protocol';
import { ProtocolError, errorLine, jsonStringBytes, okLine, parseRequest, rawHeader, rawValue, secretsLine, secretsPart, valueLine } from './protocol';

const parse = (line: string) => parseRequest(Buffer.from(line, 'utf8'));

test('protocol: requests that parse', () => {
  const cases: Array<[string, object]> = [
    ['{"v":1,"op":"status"}', { op: 'status', project: null, token: undefined }],
    ['{"v":1,"op":"status","project":"web"}', { op: 'status', project: 'web', token: undefined }],
    ['{"v":1,"op":"stop"}', { op: 'stop', token: undefined }],
    ['{"v":1,"op":"stop","project":"ignored"}', { op: 'stop', token: undefined }],
    ['{"v":1,"op":"get","key":"K"}', { op: 'get', project: null, key: 'K', token: undefined }],
    ['{"v":1,"op":"get","key":"_K9","project":null,"token":"t"}', { op: 'get', project: null, key: '_K9', token: 't' }],
    ['{"v":1,"op":"getall","project":"a.b_c-1"}', { op: 'getall', project: 'a.b_c-1', token: undefined }],
    ['{"v":1,"op":"getselected","only":["A","B"]}', { op: 'getselected', project: null, only: ['A', 'B'], prefix: undefined, token: undefined }],
    ['{"v":1,"op":"getselected","prefix":""}', { op: 'getselected', project: null, only: undefined, prefix: '', token: undefined }],
    ['{"v":1,"op":"getselected","only":[],"prefix":"APP_"}', { op: 'getselected', project: null, only: [], prefix: 'APP_', token: undefined }],
    [' {"op":"get","v":1,"key":"K","extra":true} ', { op: 'get', project: null, key: 'K', token: undefined }],
    ['{"v":1,"op":"names"}', { op: 'names', project: null, only: undefined, tool: undefined, token: undefined }],
    [
      '{"v":1,"op":"names","project":"web","only":["A"],"tool":"mcp.check_secrets"}',
      { op: 'names', project: 'web', only: ['A'], tool: 'mcp.check_secrets', token: undefined },
    ],
  ];
  for (const [line, want] of cases) assert.deepEqual(parse(line), want, line);
});

test('protocol: requests that are refused, with their code', () => {
  const cases: Array<[string, string, RegExp?]> = [
    ['', 'bad_json'],
    ['{"v":1,"op":"get"', 'bad_json'],
    ['\xff', 'bad_json'],
    ['[1]', 'bad_request', /must be a JSON object/],
    ['"get"', 'bad_request'],
    ['null', 'bad_request'],
    ['{"op":"get","key":"K"}', 'bad_version', /no "v" field/],
    ['{"v":2,"op":"get","key":"K"}', 'bad_version', /version 2\).*speaks v1/],
    ['{"v":"1","op":"status"}', 'bad_version'],
    ['{"v":1}', 'bad_request', /"op" is missing/],
    ['{"v":1,"op":5}', 'bad_request'],
    ['{"v":1,"op":"set"}', 'unknown_op', /unknown op "set"; known ops: get, getall, getselected, status, stop, unlock, lock, exec, names/],
    ['{"v":1,"op":"__proto__"}', 'unknown_op'],
    ['{"v":1,"op":"status","token":5}', 'bad_request', /"token" must be a string/],
    ['{"v":1,"op":"getall","key":"K"}', 'bad_request', /"key" is only valid with op get/],
    ['{"v":1,"op":"get","key":"K","only":["K"]}', 'bad_request', /only valid with op getselected/],
    ['{"v":1,"op":"names","prefix":"A"}', 'bad_request', /"prefix" is not valid with op names/],
    ['{"v":1,"op":"names","only":["1A"]}', 'bad_request', /invalid key name/],
    ['{"v":1,"op":"names","tool":"Mcp run"}', 'bad_request', /"tool" must be a label/],
    [`{"v":1,"op":"names","tool":"${'a'.repeat(41)}"}`, 'bad_request', /"tool" must be a label/],
    ['{"v":1,"op":"names","tool":5}', 'bad_request', /"tool" must be a label/],
    ['{"v":1,"op":"get","key":"K","tool":"mcp"}', 'bad_request', /"tool" is only valid with op exec and names/],
    ['{"v":1,"op":"getall","prefix":"A"}', 'bad_request', /only valid with op getselected/],
    ['{"v":1,"op":"get"}', 'bad_request', /op get needs "key"/],
    ['{"v":1,"op":"get","key":7}', 'bad_request', /op get needs "key"/],
    ['{"v":1,"op":"get","key":"1K"}', 'bad_request', /invalid key name/],
    ['{"v":1,"op":"get","key":"K-1"}', 'bad_request', /invalid key name/],
    [`{"v":1,"op":"get","key":"${'K'.repeat(256)}"}`, 'bad_request', /invalid key name/],
    ['{"v":1,"op":"get","key":"K","project":5}', 'bad_request', /"project" must be a string or null/],
    ['{"v":1,"op":"get","key":"K","project":"../x"}', 'bad_request'],
    ['{"v":1,"op":"get","key":"K","project":""}', 'bad_request'],
    ['{"v":1,"op":"getselected"}', 'bad_request', /needs "only" or "prefix"/],
    ['{"v":1,"op":"getselected","only":"A"}', 'bad_request', /"only" must be an array of key names/],
    ['{"v":1,"op":"getselected","only":["A",1]}', 'bad_request', /"only" must be an array/],
    ['{"v":1,"op":"getselected","only":["A","2B"]}', 'bad_request', /invalid key name/],
    ['{"v":1,"op":"getselected","prefix":5}', 'bad_request', /"prefix" must be a string of at most 255/],
    [`{"v":1,"op":"getselected","prefix":"${'P'.repeat(256)}"}`, 'bad_request', /at most 255/],
  ];
  for (const [line, code, re] of cases) {
    assert.throws(
      () => parse(line),
      (err: unknown) => {
        assert.ok(err instanceof ProtocolError, line);
        assert.equal(err.code, code, line);
        if (re) assert.match(err.message, re, line);
        return true;
      },
    );
  }
});

test('protocol: a prefix of exactly 255 characters is accepted', () => {
  assert.deepEqual(parse(`{"v":1,"op":"getselected","prefix":"${'P'.repeat(255)}"}`), {
    op: 'getselected',
    project: null,
    only: undefined,
    prefix: 'P'.repeat(255),
    token: undefined,
  });
});

test('protocol: reply (a raw answer) is accepted only as "value" with get and "shell" with getall', () => {
  const accepted: Array<[string, object]> = [
    ['{"v":1,"op":"get","key":"K","reply":"value"}', { op: 'get', project: null, key: 'K', token: undefined, reply: 'value' }],
    ['{"v":1,"op":"get","key":"K","project":"web","token":"t","reply":"value"}', { op: 'get', project: 'web', key: 'K', token: 't', reply: 'value' }],
    ['{"v":1,"op":"getall","reply":"shell"}', { op: 'getall', project: null, token: undefined, reply: 'shell' }],
    ['{"v":1,"op":"getall","project":"web","reply":"shell"}', { op: 'getall', project: 'web', token: undefined, reply: 'shell' }],
  ];
  for (const [line, want] of accepted) assert.deepEqual(parse(line), want, line);
  const refused = [
    '{"v":1,"op":"get","key":"K","reply":"shell"}',
    '{"v":1,"op":"get","key":"K","reply":"json"}',
    '{"v":1,"op":"get","key":"K","reply":"VALUE"}',
    '{"v":1,"op":"get","key":"K","reply":null}',
    '{"v":1,"op":"get","key":"K","reply":true}',
    '{"v":1,"op":"get","key":"K","reply":["value"]}',
    '{"v":1,"op":"getall","reply":"value"}',
    '{"v":1,"op":"getall","reply":"fish"}',
    '{"v":1,"op":"getall","reply":""}',
    '{"v":1,"op":"getselected","only":["A"],"reply":"shell"}',
    '{"v":1,"op":"getselected","only":["A"],"reply":"value"}',
    '{"v":1,"op":"status","reply":"value"}',
    '{"v":1,"op":"names","reply":"shell"}',
    '{"v":1,"op":"stop","reply":"value"}',
    '{"v":1,"op":"lock","reply":"value"}',
    '{"v":1,"op":"exec","argv":["x"],"cwd":"/","env":{},"reply":"shell"}',
  ];
  for (const line of refused)
    assert.throws(
      () => parse(line),
      (e: unknown) =>
        e instanceof ProtocolError && e.code === 'bad_request' && /"reply" is only valid as "value" with op get and as "shell" with op getall/.test(e.message),
      line,
    );
  // The other refusals of a request come first, as without reply.
  assert.throws(() => parse('{"v":1,"op":"get","reply":"value"}'), /op get needs "key"/);
  assert.throws(() => parse('{"v":1,"op":"getall","key":"K","reply":"shell"}'), /"key" is only valid with op get/);
});

test('protocol: a raw reply is its header and exactly its bytes', () => {
  assert.equal(rawHeader(0).toString(), '{"ok":true,"bytes":0}\n');
  assert.equal(rawHeader(123456).toString(), '{"ok":true,"bytes":123456}\n');
  for (const v of ['', 'a"b\nc', 'é 日本 😀', "'$(id)'"]) {
    const value = Buffer.from(v, 'utf8');
    assert.deepEqual(rawValue(value), Buffer.concat([Buffer.from(`{"ok":true,"bytes":${value.length}}\n`), value]), JSON.stringify(v));
  }
});

test('protocol: jsonStringBytes escapes like JSON.stringify for every value tvault stores', () => {
  const samples = ['', 'plain', 'quote " backslash \\ slash /', 'tab\tnl\ncr\rbs\bff\f', '\x01\x1f\x7f', 'é ü 日本 😀', "it's & <tag>", '\u2028\u2029'];
  for (let c = 1; c < 0x80; c++) samples.push(String.fromCharCode(c));
  for (const s of samples) {
    const got = jsonStringBytes(Buffer.from(s, 'utf8'));
    assert.equal(got.toString('utf8'), JSON.stringify(s), JSON.stringify(s));
    assert.equal(JSON.parse(got.toString('utf8')), s);
  }
});

test('protocol: response lines, byte for byte', () => {
  assert.equal(errorLine('locked', 'the agent locked\nsecond line').toString(), '{"v":1,"ok":false,"error":"locked","message":"the agent locked"}\n');
  assert.equal(okLine({ pid: 7, stopping: true }).toString(), '{"v":1,"ok":true,"pid":7,"stopping":true}\n');
  assert.equal(valueLine('web', 'K', Buffer.from('a"b\nc')).toString(), '{"v":1,"ok":true,"project":"web","key":"K","value":"a\\"b\\nc"}\n');
  assert.equal(secretsLine('web', []).toString(), '{"v":1,"ok":true,"project":"web","secrets":{}}\n');
  const line = secretsLine('web', [
    { name: 'A', value: Buffer.from('1') },
    { name: 'B', value: Buffer.from('é') },
  ]);
  assert.equal(line.toString(), '{"v":1,"ok":true,"project":"web","secrets":{"A":"1","B":"é"}}\n');
  assert.deepEqual(JSON.parse(line.toString()), { v: 1, ok: true, project: 'web', secrets: { A: '1', B: 'é' } });
});

test('protocol: a secrets line written in parts is the same line, byte for byte, however it is cut', () => {
  const values = ['1', 'é 日本 😀', 'quote " nl \n tab \t \x01', '', 'x'.repeat(300)];
  const secrets = values.map((v, i) => ({ name: `K_${i}`, value: Buffer.from(v) }));
  const want = `${JSON.stringify({ v: 1, ok: true, project: 'wéb', allowed: ['PATH'], secrets: Object.fromEntries(values.map((v, i) => [`K_${i}`, v])) })}\n`;
  // Cuts of 5 secrets into a first part (not empty: see secretsPart), middle parts (some empty) and a last part.
  for (const cuts of [[], [1], [2, 2], [1, 2, 3, 4], [1, 5], [5], [4, 4, 4]]) {
    const bounds = [0, ...cuts, secrets.length];
    const parts = bounds.slice(1).map((end, i) => secretsPart('wéb', secrets.slice(bounds[i], end), i === 0, i === bounds.length - 2, ['PATH']));
    assert.equal(Buffer.concat(parts).toString('utf8'), want, `cuts ${cuts}`);
  }
  assert.equal(secretsPart('p', [], true, true).toString(), '{"v":1,"ok":true,"project":"p","secrets":{}}\n');
});

test('protocol: unlock carries the passphrase as hex, decoded into a Buffer and blanked in the line before JSON sees it', () => {
  for (const pass of ['p', 'correct horse battery staple', 'quote " backslash \\ nl \n é 日本 😀', '\x00\xff'.repeat(40)]) {
    const bytes = Buffer.from(pass, pass.startsWith('\x00') ? 'latin1' : 'utf8');
    const line = Buffer.from(unlockRequestLine(bytes));
    assert.equal(line.toString(), `{"v":1,"op":"unlock","passphrase":"${bytes.toString('hex')}"}\n`);
    const body = line.subarray(0, line.length - 1);
    const req = parseRequest(body);
    assert.equal(req.op, 'unlock');
    assert.ok(req.op === 'unlock' && Buffer.from(req.passphrase).equals(bytes), JSON.stringify(pass));
    assert.equal(body.toString(), `{"v":1,"op":"unlock","passphrase":"${'0'.repeat(bytes.length * 2)}"}`, 'the hex is overwritten in the line');
  }
  const refused: Array<[string, RegExp]> = [
    ['{"v":1,"op":"unlock"}', /op unlock needs/],
    ['{"v":1,"op":"unlock","passphrase":""}', /lowercase hex/],
    ['{"v":1,"op":"unlock","passphrase":"abc"}', /lowercase hex/],
    ['{"v":1,"op":"unlock","passphrase":"ABCD"}', /lowercase hex/],
    ['{"v":1,"op":"unlock","passphrase":"zz00"}', /lowercase hex/],
    ['{"v":1,"op":"unlock","passphrase":"6162', /lowercase hex/],
    ['{"v":1,"op":"unlock", "passphrase" : "6162"}', /op unlock needs/],
    [`{"v":1,"op":"unlock","passphrase":"${'61'.repeat(16 * 1024 + 1)}"}`, /1 to 16384 bytes/],
    ['{"v":1,"op":"status","passphrase":"6162"}', /only valid with op unlock/],
    ['{"v":1,"op":"get","key":"K","passphrase":"6162"}', /only valid with op unlock/],
  ];
  for (const [text, re] of refused) {
    const line = Buffer.from(text);
    assert.throws(
      () => parseRequest(line),
      (err: unknown) => err instanceof ProtocolError && err.code === 'bad_request' && re.test(err.message),
      text,
    );
    // (Only the exact `"passphrase":"` form is taken out; another spelling is refused after parsing.)
    if (!text.includes(' "passphrase" ')) assert.ok(!line.includes('6162'), `the hex is blanked even when refused: ${text}`);
  }
  assert.deepEqual(parse('{"v":1,"op":"lock"}'), { op: 'lock', token: undefined });
  assert.equal(errorLine('locked', 'm', { unlock: true }).toString(), '{"v":1,"ok":false,"error":"locked","message":"m","unlock":true}\n');
});

test('protocol: exec requests', () => {
  const env = (o: Record<string, string>) => Object.assign(Object.create(null) as object, o);
  const ok = '"argv":["npm","test"],"cwd":"/w","env":{"PATH":"/bin"}';
  assert.deepEqual(parse(`{"v":1,"op":"exec",${ok},"only":["A"],"tty":true}`), {
    op: 'exec',
    project: null,
    argv: ['npm', 'test'],
    cwd: '/w',
    env: env({ PATH: '/bin' }),
    only: ['A'],
    prefix: undefined,
    tty: true,
    token: undefined,
  });
  // A variable named __proto__ is a variable, not the object's prototype.
  assert.equal(Object.getPrototypeOf((parse(`{"v":1,"op":"exec","argv":["x"],"cwd":"/","env":{"__proto__":"v"}}`) as { env: object }).env), null);
  const refused: Array<[string, RegExp]> = [
    ['"cwd":"/","env":{}', /needs "argv"/],
    ['"argv":[],"cwd":"/","env":{}', /needs "argv"/],
    ['"argv":[""],"cwd":"/","env":{}', /needs "argv"/],
    ['"argv":["a\\u0000b"],"cwd":"/","env":{}', /needs "argv"/],
    [`"argv":${JSON.stringify(Array(4097).fill('x'))},"cwd":"/","env":{}`, /needs "argv"/],
    ['"argv":["x"],"cwd":"rel","env":{}', /absolute path/],
    ['"argv":["x"],"env":{}', /absolute path/],
    ['"argv":["x"],"cwd":"/","env":[]', /an object of strings/],
    ['"argv":["x"],"cwd":"/","env":{"A":1}', /map names/],
    ['"argv":["x"],"cwd":"/","env":{"A=B":"c"}', /map names/],
    ['"argv":["x"],"cwd":"/","env":{},"tty":"yes"', /"tty" must be a boolean/],
    ['"argv":["x"],"cwd":"/","env":{},"only":["1A"]', /./],
  ];
  for (const [fields, msg] of refused) {
    assert.throws(
      () => parse(`{"v":1,"op":"exec",${fields}}`),
      (e: unknown) => e instanceof ProtocolError && e.code === 'bad_request' && msg.test(e.message),
      fields,
    );
  }
});

// AgentLog.info writes a request's line without pino's serialiser: it must stay byte for byte
// what pino's log.info writes for the same fields, since operators and tests read these lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLog } from './log';

const CASES: Array<Record<string, unknown>> = [
  {
    ev: 'request',
    op: 'getall',
    reply: 'shell',
    project: 'default',
    keys: [...Array.from({ length: 20 }, (_, i) => `KEY_${i}`), '+980 more'],
    token: undefined,
    peer: { uid: 1000, pid: 4242 },
    result: 'ok',
    us: 1056,
  },
  { ev: 'request', op: 'get', project: undefined, keys: ['A'], peer: { uid: 0, pid: 1 }, result: 'not_found', us: 0 },
  { ev: 'request', op: undefined, result: 'bad_request', us: 12 },
  { ev: 'request', odd: 'quote " backslash \\ newline \n tab \t nul \u0000 é 日本 \u2028', n: -1.5, big: 2 ** 53, no: null, yes: true },
  {},
];

test('AgentLog.info: the same bytes as pino log.info, for request lines and awkward strings (time aside)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tvault-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const viaPino = openLog({ XDG_STATE_HOME: join(dir, 'a') });
  const direct = openLog({ XDG_STATE_HOME: join(dir, 'b') });
  for (const fields of CASES) {
    viaPino.log.info(fields);
    direct.info(fields);
  }
  viaPino.log.flush();
  direct.log.flush();
  const lines = (l: { path: string }) =>
    readFileSync(l.path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.replace(/"time":"[^"]+"/, '"time":"T"'));
  const want = lines(viaPino);
  assert.equal(want.length, CASES.length);
  assert.deepEqual(lines(direct), want);
  for (const line of lines(direct)) assert.match(line, /^\{"level":"info","time":"T","pid":\d+[,}]/);
  const time = JSON.parse(readFileSync(direct.path, 'utf8').split('\n')[0]).time;
  assert.ok(Math.abs(Date.parse(time) - Date.now()) < 60_000, `an ISO time of now: ${time}`);
});

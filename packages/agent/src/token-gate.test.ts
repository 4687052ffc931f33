// Authorisation (--require-token): what each kind of token may do, table-driven over
// (token, request) pairs, and the TokenSet's lookup by hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Request } from '@tvault/protocol';
import { ProtocolError } from './protocol';
import { TokenSet, authorize } from './token-gate';
import { type TokenSpec, hashToken } from '@tvault/tokens';

const spec = (token: string, extra: Partial<TokenSpec> = {}): TokenSpec => {
  const hash = hashToken(token);
  return { hash, id: hash.slice(0, 8), line: 1, stored: 'hash', ...extra };
};
const NOW = Date.UTC(2026, 10, 1);
const ANY = spec('any');
const WEB = spec('web', { project: 'web' });
const KEYS = spec('keys', { keys: ['A', 'B'] });
const WEB_A = spec('web-a', { project: 'web', keys: ['A'] });
const EXPIRED = spec('old', { expiresAt: NOW });
const LATER = spec('later', { expiresAt: NOW + 1 });

const get = (key: string, project: string | null = null): Request => ({ op: 'get', key, project });
const getall = (project: string | null = null): Request => ({ op: 'getall', project });
const sel = (only?: string[], prefix?: string, project: string | null = null): Request => ({ op: 'getselected', only, prefix, project });
const status = (project: string | null = null): Request => ({ op: 'status', project });
const stop: Request = { op: 'stop' };

test('token gate: allowed requests, with the project a scoped token resolves to', () => {
  const cases: Array<[TokenSpec, Request, string | null | undefined]> = [
    [ANY, get('K'), null],
    [ANY, get('K', 'other'), 'other'],
    [ANY, getall('x'), 'x'],
    [ANY, sel(undefined, 'P'), null],
    [ANY, status(), null],
    [ANY, stop, undefined],
    [WEB, get('K'), 'web'],
    [WEB, get('K', 'web'), 'web'],
    [WEB, getall(), 'web'],
    [WEB, sel(undefined, 'APP_'), 'web'],
    [WEB, status(), 'web'],
    [KEYS, get('A'), null],
    [KEYS, get('B', 'any'), 'any'],
    [KEYS, sel(['A', 'B']), null],
    [KEYS, sel(['A'], 'A'), null],
    [KEYS, sel([]), null],
    [KEYS, status(), null],
    [WEB_A, get('A'), 'web'],
    [WEB_A, sel(['A'], undefined, 'web'), 'web'],
    [LATER, get('K'), null],
  ];
  for (const [t, req, project] of cases) {
    const out = authorize(t, req, NOW);
    const { project: got, ...rest } = out as Request & { project?: string | null };
    const { project: _, ...restIn } = req as Request & { project?: string | null };
    assert.deepEqual(rest, restIn, `${t.project}/${t.keys} ${JSON.stringify(req)}`);
    assert.equal(got, project, `${t.project}/${t.keys} ${JSON.stringify(req)}`);
  }
});

test('token gate: refused requests, with their code', () => {
  const cases: Array<[TokenSpec | undefined, Request, string, RegExp]> = [
    [undefined, get('K'), 'token_required', /token required or invalid/],
    [undefined, status(), 'token_required', /token required/],
    [undefined, stop, 'token_required', /token required/],
    [EXPIRED, get('K'), 'token_expired', /token expired at 2026-11-01T00:00:00.000Z \(token_id [0-9a-f]{8}\)/],
    [EXPIRED, status(), 'token_expired', /expired/],
    [WEB, stop, 'token_scope', /only an unrestricted token .* may stop the agent/],
    [KEYS, stop, 'token_scope', /may stop/],
    [WEB, get('K', 'other'), 'token_scope', /project 'other' \(this token is limited to project 'web'\)/],
    [WEB, status('other'), 'token_scope', /limited to project 'web'/],
    [KEYS, get('C'), 'token_scope', /key 'C' \(this token may read only: A, B\)/],
    [KEYS, getall(), 'token_scope', /may read only named keys \(A, B\); ask for them by name, e.g. tvault env --only A,B/],
    [KEYS, sel(undefined, 'A'), 'token_scope', /a prefix needs --only/],
    [KEYS, sel(['A', 'C']), 'token_scope', /key 'C'/],
    [WEB_A, get('B'), 'token_scope', /key 'B'/],
    [WEB_A, get('A', 'other'), 'token_scope', /project 'other'/],
  ];
  for (const [t, req, code, re] of cases) {
    assert.throws(
      () => authorize(t, req, NOW),
      (err: unknown) => {
        assert.ok(err instanceof ProtocolError);
        assert.equal(err.code, code, JSON.stringify(req));
        assert.match(err.message, re);
        return true;
      },
    );
  }
});

test('token gate: TokenSet finds a token by its hash, and a reload tells what was removed', () => {
  const a = new TokenSet('/f', [ANY, WEB]);
  assert.equal(a.size, 2);
  assert.equal(a.find('any'), ANY);
  assert.equal(a.find('web'), WEB);
  assert.equal(a.find('nope'), undefined);
  assert.equal(a.find(''), undefined);
  assert.equal(a.find(undefined), undefined);
  assert.equal(a.find(ANY.hash), undefined, 'the hash itself is not a token');
  assert.deepEqual(a.ids(), [ANY.id, WEB.id]);
  const b = new TokenSet('/f', [WEB, KEYS]);
  assert.deepEqual(a.removedIn(b), [ANY.id]);
  assert.deepEqual(b.removedIn(a), [KEYS.id]);
});

test('token gate: exec-only tokens run commands but read nothing; exec selections follow keys=', () => {
  const EXEC = spec('exec', { execOnly: true, project: 'web', keys: ['A', 'B'] });
  const exec = (only?: string[], prefix?: string, project: string | null = null): Request => ({
    op: 'exec',
    argv: ['true'],
    cwd: '/',
    env: {},
    tty: false,
    only,
    prefix,
    project,
  });
  for (const req of [get('A'), getall(), sel(['A']), sel(undefined, 'A')]) {
    assert.throws(
      () => authorize(EXEC, req, NOW),
      (e: unknown) => e instanceof ProtocolError && e.code === 'exec_only' && /tvault run --broker/.test(e.message),
      req.op,
    );
  }
  const ok = (t: TokenSpec, req: Request) => authorize(t, req, NOW) as Extract<Request, { op: 'exec' }>;
  assert.deepEqual(ok(EXEC, exec()).only, ['A', 'B'], 'no selection: the token keys');
  assert.deepEqual(ok(EXEC, exec(['B'])).only, ['B']);
  assert.equal(ok(EXEC, exec()).project, 'web');
  assert.equal(ok(ANY, exec(undefined, 'APP_')).prefix, 'APP_');
  assert.equal(ok(ANY, exec()).only, undefined, 'an unrestricted token: the whole project');
  assert.equal(authorize(EXEC, status(), NOW).op, 'status', 'status stays allowed');
  for (const [req, code] of [
    [exec(['C']), 'token_scope'],
    [exec(undefined, 'A'), 'token_scope'],
    [exec(undefined, undefined, 'other'), 'token_scope'],
  ] as const) {
    assert.throws(
      () => authorize(EXEC, req, NOW),
      (e: unknown) => e instanceof ProtocolError && e.code === code,
    );
  }
  assert.throws(
    () => authorize(spec('x', { execOnly: true }), stop, NOW),
    (e: unknown) => e instanceof ProtocolError && e.code === 'token_scope',
  );
});

test('token gate: names (metadata only) is allowed to exec-only tokens, within their project and keys', () => {
  const EXEC = spec('exec', { execOnly: true, project: 'web', keys: ['A', 'B'] });
  const names = (only?: string[], project: string | null = null): Request => ({ op: 'names', project, only });
  const ok = (t: TokenSpec, req: Request) => authorize(t, req, NOW) as Extract<Request, { op: 'names' }>;
  assert.equal(ok(EXEC, names()).project, 'web', 'a project-scoped token: its project');
  assert.deepEqual(ok(EXEC, names(['A'])).only, ['A']);
  assert.equal(ok(ANY, names()).project, null, 'an unrestricted token: every project');
  assert.equal(ok(spec('x', { execOnly: true }), names(undefined, 'any')).project, 'any');
  for (const [req, re] of [
    [names(['C']), /key 'C' \(this token may read only: A, B\)/],
    [names(undefined, 'other'), /limited to project 'web'/],
  ] as const) {
    assert.throws(
      () => authorize(EXEC, req, NOW),
      (e: unknown) => e instanceof ProtocolError && e.code === 'token_scope' && re.test(e.message),
    );
  }
  assert.throws(
    () => authorize(undefined, names(), NOW),
    (e: unknown) => e instanceof ProtocolError && e.code === 'token_required',
  );
});

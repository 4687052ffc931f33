// SIGHUP with --token-file reloads the token file (it does not stop the agent): a removed line
// is revoked for the next request; a file that fails to parse or has a bad mode is logged and
// the tokens in force stay; an emptied file revokes every token. Real agents on temp vaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeVault } from './helpers.mjs';
import { agentLog, auditRows, request, startAgent, tokenHash, tokenIdOf, waitFor, writeTokens } from './agent-helpers.mjs';

const KEEP = 'tokenKEEP-stays-0123456789';
const DROP = 'tokenDROP-revoked-0123456789';
const NEW = 'tokenNEW-added-later-0123456789';

async function setup(t) {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'the-value' }).code, 0);
  const file = writeTokens(join(v.dir, 'tokens'), `${KEEP}\nsha256:${tokenHash(DROP)}  name=drop\n`);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  const get = async (token) => {
    const r = await request(a.sock, { v: 1, op: 'get', key: 'K', token });
    return r.ok ? r.value : r.error;
  };
  /** Sends SIGHUP and waits until the agent has logged the outcome of that reload. */
  const hup = async () => {
    const before = agentLog(v).events.filter((e) => e.ev === 'tokens').length;
    a.child.kill('SIGHUP');
    return waitFor(() => agentLog(v).events.filter((e) => e.ev === 'tokens')[before], { what: 'the reload in the log' });
  };
  return { v, file, a, get, hup };
}

test('SIGHUP: a removed line is revoked for the next request, an added one works; the agent keeps running', async (t) => {
  const { v, file, a, get, hup } = await setup(t);
  assert.equal(await get(KEEP), 'the-value');
  assert.equal(await get(DROP), 'the-value');
  assert.equal(await get(NEW), 'token_required');
  writeTokens(file, `${KEEP}\n${NEW}:default  name=new\n`);
  const ev = await hup();
  assert.deepEqual(
    { action: ev.action, tokens: ev.tokens, added: ev.added, removed: ev.removed },
    { action: 'reloaded', tokens: 2, added: [tokenIdOf(NEW)], removed: [tokenIdOf(DROP)] },
  );
  assert.equal(await get(DROP), 'token_required', 'the revoked token, on the very next request');
  assert.equal(await get(KEEP), 'the-value');
  assert.equal(await get(NEW), 'the-value');
  assert.equal(a.child.exitCode, null, 'SIGHUP reloads; it does not stop an agent with a token file');
  assert.match(a.stderr(), /reloaded 2 tokens from .*tokens \(1 added, 1 removed\)/);
  const row = auditRows(v.vault).find((r) => r.op === 'token.reload');
  assert.equal(row.detail, `tokens=2 added=${tokenIdOf(NEW)} removed=${tokenIdOf(DROP)}`);
});

test('SIGHUP: a file that does not parse, or has a bad mode, is logged and the tokens in force stay', async (t) => {
  const { v, file, a, get, hup } = await setup(t);
  // KEEP removed and NEW added, but line 3 is broken: nothing of it takes effect.
  writeTokens(file, `sha256:${tokenHash(DROP)}  name=drop\n${NEW}\n${NEW}x  colour=red\n`);
  let ev = await hup();
  assert.equal(ev.action, 'reload_failed');
  assert.equal(ev.kept, 2);
  assert.match(ev.error, new RegExp(`^${file}: line 3: unknown attribute "colour"`));
  assert.equal(await get(KEEP), 'the-value', 'the old set is still in force');
  assert.equal(await get(NEW), 'token_required', 'the new file did not take effect');
  assert.match(a.stderr(), /the token file was not reloaded, the 2 tokens in force stay: .*line 3: unknown attribute "colour"/);
  // A good file with a bad mode: refused too, naming the mode.
  writeTokens(file, `${NEW}\n`, 0o644);
  ev = await hup();
  assert.equal(ev.action, 'reload_failed');
  assert.match(ev.error, /has mode 0644; it must be 0600/);
  assert.equal(await get(KEEP), 'the-value');
  // A deleted file: the same (an agent switches only to a file it could read whole).
  chmodSync(file, 0o600);
  rmSync(file);
  ev = await hup();
  assert.match(ev.error, /it does not exist/);
  assert.equal(await get(KEEP), 'the-value');
  // Fixed: the reload now switches.
  writeTokens(file, `${NEW}\n`);
  ev = await hup();
  assert.equal(ev.action, 'reloaded');
  assert.equal(await get(KEEP), 'token_required');
  assert.equal(await get(NEW), 'the-value');
  const log = agentLog(v).text;
  for (const token of [KEEP, DROP, NEW]) assert.ok(!log.includes(token), `${token} in agent.log`);
  assert.equal(a.child.exitCode, null);
});

test('SIGHUP: a file emptied of tokens revokes them all (at start it would be refused)', async (t) => {
  const { file, a, get, hup } = await setup(t);
  writeTokens(file, '# every token revoked\n');
  const ev = await hup();
  assert.deepEqual([ev.action, ev.tokens], ['reloaded', 0]);
  assert.equal(await get(KEEP), 'token_required');
  assert.equal(await get(DROP), 'token_required');
  assert.equal(a.child.exitCode, null);
  // SIGTERM still stops it as before.
  a.child.kill('SIGTERM');
  assert.deepEqual(await a.done, { code: 0, signal: null });
});

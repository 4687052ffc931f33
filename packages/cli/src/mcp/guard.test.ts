// What `tvault mcp` refuses to start or serve with, and how a refusal reads for a model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refusalText, startRefusal, tokenRefusal } from './guard';

test('mcp guard: no start with a passphrase in the environment, nor without a token', () => {
  const cases: Array<[NodeJS.ProcessEnv, RegExp | null]> = [
    [{ TVAULT_AGENT_TOKEN: 't' }, null],
    [{ TVAULT_AGENT_TOKEN: 't', TVAULT_PASSPHRASE: '' }, /TVAULT_PASSPHRASE is set; tvault mcp never unlocks/],
    [{ TVAULT_AGENT_TOKEN: 't', TVAULT_PASSPHRASE_FILE: '/x' }, /TVAULT_PASSPHRASE_FILE is set/],
    [{ TVAULT_PASSPHRASE: 'p', TVAULT_PASSPHRASE_FILE: '/x' }, /TVAULT_PASSPHRASE and TVAULT_PASSPHRASE_FILE are set/],
    [{}, /TVAULT_AGENT_TOKEN is not set/],
    [{ TVAULT_AGENT_TOKEN: '' }, /TVAULT_AGENT_TOKEN is not set/],
  ];
  for (const [env, re] of cases) {
    const got = startRefusal(env);
    if (re === null) assert.equal(got, null, JSON.stringify(env));
    else assert.match(got ?? '', re, JSON.stringify(env));
  }
});

test('mcp guard: only an exec-only token that the agent checks is used', () => {
  const base = { id: 'abcd1234', name: null, project: null, keys: null, expiresAt: null };
  assert.match(tokenRefusal(undefined) ?? '', /started without --require-token/);
  assert.match(tokenRefusal(base) ?? '', /token_id abcd1234\) can read values/);
  assert.equal(tokenRefusal({ ...base, execOnly: true }), null);
});

test('mcp guard: a refusal says what happened, then what to do', () => {
  assert.equal(
    refusalText('token_scope', "not in scope: key 'X'"),
    "Refused (token_scope): not in scope: key 'X'. Call list_secrets to see the keys and commands this session may use; if the task needs more, ask the user to widen the token.",
  );
  assert.match(refusalText('locked', 'the agent is locked'), /ask the user to run: tvault unlock$/);
  assert.equal(refusalText('weird', 'm'), 'Refused (weird): m');
});

// The environment the agent builds for a brokered child (exec.ts, brokerEnv): a same-uid caller's
// base minus TVAULT_* and loader/shell variables; a delegate's (another uid) only LANG, TERM and
// its token's env= names, with the agent's PATH and HOME; then the secrets. Table-driven.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DELEGATE_ENV, brokerEnv } from './exec';

const base = {
  PATH: '/caller/bin',
  HOME: '/caller',
  LANG: 'C.UTF-8',
  TERM: 'xterm',
  EDITOR: 'vi',
  CI: '1',
  LD_PRELOAD: '/tmp/evil.so',
  BASH_ENV: '/tmp/rc',
  TVAULT_DIR: '/caller/vault',
  TVAULT_AGENT_TOKEN: 'tok',
};
const agentEnv = { PATH: '/agent/bin', HOME: '/agent' };
const dangerous = (k: string) => k.startsWith('LD_') || k === 'BASH_ENV';
const secrets = [{ name: 'API_KEY', value: 'v' }];

test('brokerEnv: what each caller passes into the child', () => {
  const cases: Array<[string, Parameters<typeof brokerEnv>[2], Record<string, string>]> = [
    [
      'same uid: its base without TVAULT_* and loader variables',
      { isDangerousName: dangerous, delegate: false, agentEnv },
      { PATH: '/caller/bin', HOME: '/caller', LANG: 'C.UTF-8', TERM: 'xterm', EDITOR: 'vi', CI: '1', API_KEY: 'v' },
    ],
    [
      'same uid, no filter given: a minimal base only',
      { delegate: false, agentEnv },
      { PATH: '/caller/bin', HOME: '/caller', LANG: 'C.UTF-8', TERM: 'xterm', API_KEY: 'v' },
    ],
    [
      'delegate: LANG, TERM, the agent PATH and HOME',
      { isDangerousName: dangerous, delegate: true, agentEnv },
      { PATH: '/agent/bin', HOME: '/agent', LANG: 'C.UTF-8', TERM: 'xterm', API_KEY: 'v' },
    ],
    [
      'delegate with env=CI,LD_PRELOAD,TVAULT_DIR: CI only (the filters still apply)',
      { isDangerousName: dangerous, delegate: true, agentEnv, allowEnv: ['CI', 'LD_PRELOAD', 'TVAULT_DIR'] },
      { PATH: '/agent/bin', HOME: '/agent', LANG: 'C.UTF-8', TERM: 'xterm', CI: '1', API_KEY: 'v' },
    ],
    [
      'delegate, the agent has no HOME: none',
      { isDangerousName: dangerous, delegate: true, agentEnv: { PATH: '/agent/bin' } },
      { PATH: '/agent/bin', LANG: 'C.UTF-8', TERM: 'xterm', API_KEY: 'v' },
    ],
  ];
  for (const [what, o, want] of cases) assert.deepEqual({ ...brokerEnv(base, secrets, o) }, want, what);
  assert.deepEqual([...DELEGATE_ENV], ['LANG', 'TERM']);
});

test('brokerEnv: a secret wins over a base variable of the same name', () => {
  assert.equal(brokerEnv({ API_KEY: 'from-caller' }, secrets, { delegate: false, agentEnv, isDangerousName: dangerous }).API_KEY, 'v');
});

// `tvault completion bash|zsh|fish` in the real shells: the script installs a completion, which
// completes commands, subcommands and options from the CLI's own definitions, and project and
// key names only while an unlocked agent runs (never a value, never a prompt).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BIN_DIR, baseEnv, makeVault, requireCommand } from './helpers.mjs';
import { AGENT_ONLY, startAgent } from './agent-helpers.mjs';

let v;
before(() => {
  v = makeVault(null);
  for (const [args, value] of [
    [['set', 'API_KEY', '--stdin'], 'value-of-api-key'],
    [['set', 'DATABASE_URL', '--stdin'], 'value-of-database-url'],
    [['projects', 'create', 'backend'], ''],
    [['set', 'BACKEND_TOKEN', '--stdin', '-p', 'backend'], 'value-of-backend-token'],
  ])
    assert.equal(v.run(args, { input: value }).code, 0);
});
after(() => v?.cleanup());

/**
 * Completes `line` (the cursor at its end) in a shell, through the script tvault prints, and
 * returns the candidates. Run in a new session (setsid): no terminal, so nothing could prompt.
 */
const COMPLETE = {
  bash: (line) => [
    'bash',
    [
      '--norc',
      '--noprofile',
      '-c',
      `eval "$(tvault completion bash)"; complete -p tvault >&2
       read -ra COMP_WORDS <<< "$LINE"; [[ "$LINE" == *' ' ]] && COMP_WORDS+=('')
       COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _tvault_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
  ],
  // compadd only works inside the completion system: a function of that name stands in for it
  // and prints what it was given (functions come before builtins in zsh).
  zsh: (line) => [
    'zsh',
    [
      '-f',
      '-c',
      `autoload -U compinit && compinit -u -D; eval "$(tvault completion zsh)"; print -ru2 -- "registered: $_comps[tvault]"
       compadd() { [[ $1 == -a ]] && print -rl -- \${(P)2} }
       words=(\${(z)LINE}); [[ $LINE == *' ' ]] && words+=(''); CURRENT=\${#words}; _tvault | grep -- "^\${words[-1]}" || true`,
    ],
  ],
  fish: (line) => ['fish', ['--no-config', '-c', 'tvault completion fish | source; complete -C "$LINE"']],
};

function complete(shell, line, env = {}) {
  const [cmd, args] = COMPLETE[shell](line);
  const r = spawnSync('setsid', ['-w', cmd, ...args], {
    env: { ...baseEnv({ TVAULT_DIR: v.vault, ...env }), LINE: line, PATH: `${BIN_DIR}:${process.env.PATH}` },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `${shell}: ${r.stderr}`);
  // fish prints "candidate<TAB>description": the candidate is enough.
  return {
    words: r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t')[0]),
    stderr: r.stderr,
  };
}

for (const shell of ['bash', 'zsh', 'fish']) {
  test(`${shell}: commands, subcommands and options come from the CLI's definitions; names only from a warm agent`, async (t) => {
    if (!requireCommand(t, shell)) return;
    const first = complete(shell, 'tvault ge');
    if (shell === 'bash') assert.match(first.stderr, /complete -o default -F _tvault_complete tvault/);
    if (shell === 'zsh') assert.match(first.stderr, /registered: _tvault/);
    assert.deepEqual(first.words, ['get']);
    assert.deepEqual(complete(shell, 'tvault agent st').words.sort(), ['start', 'status', 'stop']);
    assert.deepEqual(complete(shell, 'tvault completion f').words, ['fish']);
    assert.ok(complete(shell, 'tvault get --r').words.includes('--raw'));
    assert.ok(!complete(shell, 'tvault set --').words.includes('--agent'), 'set has no use for --agent');
    // No agent: no names, and nothing was asked (no terminal, no passphrase: it would have failed).
    assert.deepEqual(complete(shell, 'tvault get A', { TVAULT_PASSPHRASE: undefined }).words, []);

    await startAgent(t, v);
    const env = { ...AGENT_ONLY, TVAULT_NO_AGENT: undefined };
    assert.deepEqual(complete(shell, 'tvault get ', env).words.sort(), ['API_KEY', 'DATABASE_URL']);
    assert.deepEqual(complete(shell, 'tvault delete D', env).words, ['DATABASE_URL']);
    assert.deepEqual(complete(shell, 'tvault get -p backend B', env).words, ['BACKEND_TOKEN']);
    assert.deepEqual(complete(shell, 'tvault get -p b', env).words, ['backend']);
    assert.deepEqual(complete(shell, 'tvault use ', env).words.sort(), ['backend', 'default']);
    const all = ['tvault get ', 'tvault get -p backend ', 'tvault use '].map((l) => complete(shell, l, env).words.join(' ')).join(' ');
    assert.doesNotMatch(all, /value-of/, 'a value was offered');
  });
}

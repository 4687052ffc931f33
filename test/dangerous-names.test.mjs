// The dangerous-name rule (packages/core/src/dangerous-names.ts, docs/SECURITY.md "Names tvault
// will not inject"): names that make a program load code or configuration from their value,
// refused only where variables are applied to a process (run; env as shell, fish, github), and
// let through per project by `tvault allow-name`, a list kept in the vault under the KEK. The
// classifier is bundled and tested in-process against a table; the rest as a user sees it.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOneLineError, makeVault, bundleSources, sql, requireCommand } from './helpers.mjs';
import { AGENT_ONLY, auditRows, startAgent } from './agent-helpers.mjs';
import { shellEnv } from './shell-fixtures.mjs';
import { spawnSync } from 'node:child_process';

let isDangerous;

before(async () => {
  ({ isDangerous } = (await bundleSources('dangerous', { dangerous: 'packages/core/src/dangerous-names.ts' })).require('./dangerous.cjs'));
});

// Each name with why it runs code: the class, not a list of accidents.
const DANGEROUS = {
  // shells: start-up files, prompts expanded with $(...), mail messages expanded the same way
  BASH_ENV: 'shell',
  ENV: 'shell',
  ZDOTDIR: 'shell',
  PROMPT_COMMAND: 'shell',
  PS1: 'shell',
  PS4: 'shell',
  MAILPATH: 'shell',
  PATH: 'shell',
  HOME: 'shell',
  BASH_FUNC_x: 'shell',
  // config locations: the config names commands to run
  GIT_DIR: 'config',
  GIT_COMMON_DIR: 'config',
  GIT_TEMPLATE_DIR: 'config',
  GIT_CONFIG: 'config',
  GIT_CONFIG_GLOBAL: 'config',
  GIT_CONFIG_COUNT: 'config',
  GIT_CONFIG_KEY_0: 'config',
  GIT_CONFIG_PARAMETERS: 'config',
  XDG_CONFIG_HOME: 'config',
  XDG_DATA_DIRS: 'config',
  KUBECONFIG: 'config',
  AWS_CONFIG_FILE: 'config',
  AWS_SHARED_CREDENTIALS_FILE: 'config',
  DOCKER_CONFIG: 'config',
  GNUPGHOME: 'config',
  VIMINIT: 'config',
  PSQLRC: 'config',
  MAKEFLAGS: 'config',
  // interpreters, toolchains, module paths
  NODE_OPTIONS: 'runtime',
  PYTHONSTARTUP: 'runtime',
  PYTHONPATH: 'runtime',
  PERL5OPT: 'runtime',
  RUBYOPT: 'runtime',
  JAVA_TOOL_OPTIONS: 'runtime',
  DOTNET_STARTUP_HOOKS: 'runtime',
  CARGO_HOME: 'runtime',
  RUSTC_WRAPPER: 'runtime',
  GEM_HOME: 'runtime',
  GOTOOLCHAIN: 'runtime',
  JAVA_HOME: 'runtime',
  // npm reads npm_config_* in any case; yarn reads YARN_*
  npm_config_script_shell: 'npm',
  NPM_CONFIG_USERCONFIG: 'npm',
  Npm_Config_Node_Options: 'npm',
  YARN_YARN_PATH: 'yarn',
  // commands a tool runs by itself
  GIT_SSH_COMMAND: 'command',
  GIT_SSH: 'command',
  GIT_EXEC_PATH: 'command',
  GIT_ASKPASS: 'command',
  GIT_PROXY_COMMAND: 'command',
  GIT_EXTERNAL_DIFF: 'command',
  SUDO_ASKPASS: 'command',
  LESSOPEN: 'command',
  // loader and trust
  LD_PRELOAD: 'loader',
  LD_LIBRARY_PATH: 'loader',
  DYLD_INSERT_LIBRARIES: 'loader',
  GCONV_PATH: 'loader',
  SSL_CERT_FILE: 'trust',
  PIP_INDEX_URL: 'trust',
  GOPROXY: 'trust',
};
const PLAIN = [
  'DATABASE_URL',
  'API_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'GITHUB_TOKEN',
  'GIT_AUTHOR_NAME',
  'GIT_WORK_TREE',
  'NPM_TOKEN',
  'MAILGUN_API_KEY',
  'MAIL_FROM',
  'HISTORY_URL',
  'KUBE_TOKEN',
  'CARGO_REGISTRY_TOKEN',
  'GEM_HOST_API_KEY',
  'npm_package_name',
  'XDG_RUNTIME',
  'EDITOR_THEME',
  'STRIPE_KEY',
  '__proto__',
  // run only when the user asks for them, a place for data, an identity: not code from the value
  'EDITOR',
  'VISUAL',
  'PAGER',
  'GIT_PAGER',
  'GIT_EDITOR',
  'BROWSER',
  'SHELL',
  'TMPDIR',
  'TZDIR',
  'LOCPATH',
  'HISTFILE',
  'MAIL',
  'USERNAME',
  'USER',
  'LOGNAME',
  'LANG',
  'TZ',
];

test('the classifier: names that make a program load code or configuration from their value are dangerous, the rest are not', () => {
  const missed = Object.keys(DANGEROUS).filter((n) => !isDangerous(n));
  assert.deepEqual(missed, [], 'these names make programs run code but pass as plain');
  const flagged = PLAIN.filter((n) => isDangerous(n));
  assert.deepEqual(flagged, [], 'these are ordinary names');
});

test("a newcomer's .env with EDITOR, TMPDIR and USERNAME: import, run and every data format just work", (t) => {
  const v = makeVault(t);
  const file = join(v.dir, 'in.env');
  writeFileSync(file, 'EDITOR=vim\nTMPDIR=/tmp/mine\nUSERNAME=dotenv\nBASIC=basic\n');
  const imp = v.run(['import', file]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.doesNotMatch(imp.stderr, /warning/);
  const run = v.run(['run', '--', 'sh', '-c', 'printf "%s|%s|%s" "$EDITOR" "$TMPDIR" "$USERNAME"']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'vim|/tmp/mine|dotenv');
  for (const format of ['json', 'yaml', 'dotenv', 'github', 'fish']) {
    const r = v.run(['env', '--format', format]);
    assert.equal(r.code, 0, `${format}: ${r.stderr}`);
  }
});

test('set and import warn about MAILPATH, GIT_DIR, npm_config_*, naming allow-name; run and env refuse them in one message', (t) => {
  const v = makeVault(t);
  const set = v.run(['set', 'MAILPATH', '--stdin'], { input: '/tmp/m?$(id)' });
  assert.equal(set.code, 0, set.stderr);
  assert.match(
    set.stderr,
    /warning: MAILPATH makes programs load code or configuration from its value; tvault run and tvault env \(shell, fish, github\) will refuse it until you allow it with: tvault allow-name MAILPATH/,
  );
  const file = join(v.dir, 'in.env');
  writeFileSync(file, 'GIT_DIR=/tmp/evil\nnpm_config_script_shell=/tmp/x\nKUBECONFIG=/tmp/k\nPLAIN=1\n');
  const imp = v.run(['import', file]);
  assert.equal(imp.code, 0, imp.stderr);
  for (const n of ['GIT_DIR', 'npm_config_script_shell', 'KUBECONFIG']) assert.match(imp.stderr, new RegExp(`warning: ${n} makes programs load`));
  assert.doesNotMatch(imp.stderr, /PLAIN/);
  const run = v.run(['run', '--', 'true']);
  assertOneLineError(
    assert,
    run,
    125,
    /^tvault: refusing to inject GIT_DIR, KUBECONFIG, MAILPATH, npm_config_script_shell: they make programs load code or configuration from the value \(docs\/SECURITY.md\); if you mean it, allow them with: tvault allow-name -p default GIT_DIR KUBECONFIG MAILPATH npm_config_script_shell$/m,
  );
  for (const format of ['shell', 'fish', 'github']) assertOneLineError(assert, v.run(['env', '--format', format]), 1, /refusing to inject GIT_DIR, KUBECONFIG/);
  const only = v.run(['run', '--only', 'PLAIN', '--', 'true']);
  assert.equal(only.code, 0, only.stderr);
});

test('the data formats (dotenv, json, yaml) and export never refuse a name: nothing executes them', (t) => {
  const v = makeVault(t);
  for (const [k, val] of [
    ['LD_PRELOAD', '/tmp/evil.so'],
    ['TVAULT_DIR', '/elsewhere'],
    ['OK', 'fine'],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  for (const args of [['env', '--format', 'json'], ['env', '--format', 'yaml'], ['env', '--format', 'dotenv'], ['export'], ['export', '--format', 'json']]) {
    const r = v.run(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /LD_PRELOAD/);
  }
});

/** A vault whose default project holds a dangerous pair and a plain key; a second project too. */
function dangerousVault(t) {
  const v = makeVault(t);
  for (const [k, val] of [
    ['LD_PRELOAD', '/nonexistent/evil.so'],
    ['NODE_OPTIONS', '--no-warnings'],
    ['PLAIN', 'ok'],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  assert.equal(v.run(['projects', 'create', 'other']).code, 0);
  assert.equal(v.run(['set', '-p', 'other', 'NODE_OPTIONS', '--stdin'], { input: '--no-warnings' }).code, 0);
  return v;
}

const showBoth = ['run', '--', 'sh', '-c', 'printf "%s|%s|%s" "$LD_PRELOAD" "$NODE_OPTIONS" "$PLAIN"'];

test('allow-name: the command the refusal names lets the names through for that project only, persistently, audited', (t) => {
  const v = dangerousVault(t);
  const refused = v.run(showBoth);
  assert.equal(refused.code, 125);
  const hint = /allow them with: (tvault allow-name .*)$/m.exec(refused.stderr)?.[1];
  assert.equal(hint, 'tvault allow-name -p default LD_PRELOAD NODE_OPTIONS');
  const allow = v.run(hint.split(' ').slice(1));
  assert.equal(allow.code, 0, allow.stderr);
  assert.match(allow.stderr, /LD_PRELOAD, NODE_OPTIONS allowed in default/);

  // LD_PRELOAD of a missing file only makes the loader print a warning: the child still runs.
  const ran = v.run(showBoth);
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(ran.stdout, '/nonexistent/evil.so|--no-warnings|ok');
  for (const format of ['shell', 'fish', 'github']) assert.equal(v.run(['env', '--format', format]).code, 0, format);
  assert.equal(v.run(['allow-name', '--list']).stdout, 'LD_PRELOAD\nNODE_OPTIONS\n');
  assert.deepEqual(JSON.parse(v.run(['allow-name', '--list', '--json']).stdout), { project: 'default', allowed: ['LD_PRELOAD', 'NODE_OPTIONS'] });

  // Another project has its own list.
  assertOneLineError(assert, v.run(['run', '-p', 'other', '--', 'true']), 125, /refusing to inject NODE_OPTIONS: .*tvault allow-name -p other NODE_OPTIONS$/m);

  const removed = v.run(['allow-name', '--remove', 'NODE_OPTIONS']);
  assert.equal(removed.code, 0, removed.stderr);
  assertOneLineError(assert, v.run(showBoth), 125, /refusing to inject NODE_OPTIONS: it makes/);
  assert.equal(v.run(['allow-name', '--list']).stdout, 'LD_PRELOAD\n');
  // The one-shot flag still overrides for one command.
  assert.equal(v.run(['run', '--allow-dangerous', 'NODE_OPTIONS', '--', 'true']).code, 0);

  const rows = auditRows(v.vault).filter((r) => r.op.startsWith('name.'));
  assert.deepEqual(
    rows.map((r) => [r.op, r.project, r.keys, !!r.mac]),
    [
      ['name.allow', 'default', '["LD_PRELOAD","NODE_OPTIONS"]', true],
      ['name.revoke', 'default', '["NODE_OPTIONS"]', true],
    ],
  );
  assert.match(v.run(['audit', 'verify']).stdout + v.run(['audit', 'verify']).stderr, /intact|ok/i);

  // The list survives a passphrase change (re-MACed under the new key).
  const rot = v.run(['key', 'rotate', ...['--kdf-memory', '256', '--kdf-passes', '1', '--kdf-parallelism', '1']], {
    env: { TVAULT_NEW_PASSPHRASE: 'another passphrase' },
  });
  assert.equal(rot.code, 0, rot.stderr);
  const after = v.run(['allow-name', '--list'], { env: { TVAULT_PASSPHRASE: 'another passphrase' } });
  assert.equal(after.stdout, 'LD_PRELOAD\n', after.stderr);
});

test('allow-name: usage errors, and a name outside the class is stored with a note', (t) => {
  const v = makeVault(t);
  assertOneLineError(assert, v.run(['allow-name']), 2, /name the variables to allow/);
  assertOneLineError(assert, v.run(['allow-name', '--list', 'X']), 2, /--list takes no names/);
  assertOneLineError(assert, v.run(['allow-name', 'BAD-NAME']), 2, /invalid key name/);
  const plain = v.run(['allow-name', 'EDITOR']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /warning: EDITOR is not a blocked name; allowing it changes nothing/);
});

test('allow-name: someone who edits vault.db without the key cannot allow a name (exit 8)', (t) => {
  requireCommand(t, 'sqlite3');
  const v = dangerousVault(t);
  const db = join(v.vault, 'vault.db');
  const uid = (p) => sql(db, `SELECT lower(hex(uid)) FROM projects WHERE name = '${p}'`);
  // A forged row: a well-formed body for LD_PRELOAD and NODE_OPTIONS under a MAC of no key.
  const tag = Buffer.from('tvault/allowed-names/v1\0').toString('hex');
  const name = (n) => Buffer.from([0, n.length]).toString('hex') + Buffer.from(n).toString('hex');
  const body = tag + uid('default') + '00000002' + name('LD_PRELOAD') + name('NODE_OPTIONS');
  sql(db, `INSERT INTO meta (key, value) VALUES ('allowed_names:${uid('default')}', X'${body}${'ab'.repeat(32)}')`);
  assertOneLineError(assert, v.run(['env']), 8, /integrity check failed for the allowed names of project 'default'/);
  assertOneLineError(assert, v.run(['allow-name', '--list']), 8, /integrity check failed for the allowed names/);
  const run = v.run(showBoth);
  assertOneLineError(assert, run, 125, /integrity check failed for the allowed names/);
  assert.equal(run.stdout, '');

  // A genuine row of one project copied onto another is refused too.
  sql(db, `DELETE FROM meta WHERE key LIKE 'allowed_names:%'`);
  assert.equal(v.run(['allow-name', '-p', 'other', 'NODE_OPTIONS']).code, 0);
  sql(db, `INSERT INTO meta (key, value) SELECT 'allowed_names:${uid('default')}', value FROM meta WHERE key = 'allowed_names:${uid('other')}'`);
  assertOneLineError(assert, v.run(['env']), 8, /the row belongs to another project/);
  // Deleting the row only takes the allowance away.
  sql(db, `DELETE FROM meta WHERE key LIKE 'allowed_names:%'`);
  assertOneLineError(assert, v.run(['run', '-p', 'other', '--', 'true']), 125, /refusing to inject NODE_OPTIONS/);
});

test('through the agent: env (fast path) and run apply the same allow list; a tampered list is exit 8', async (t) => {
  requireCommand(t, 'sqlite3');
  const v = dangerousVault(t);
  await startAgent(t, v);
  const viaAgent = { env: AGENT_ONLY };
  assertOneLineError(
    assert,
    v.run(['env'], viaAgent),
    1,
    /refusing to inject LD_PRELOAD, NODE_OPTIONS: .*tvault allow-name -p default LD_PRELOAD NODE_OPTIONS$/m,
  );
  assert.equal(v.run(['allow-name', 'LD_PRELOAD', 'NODE_OPTIONS']).code, 0);
  const env = v.run(['env'], viaAgent);
  assert.equal(env.code, 0, env.stderr);
  assert.match(env.stdout, /^export NODE_OPTIONS='--no-warnings'$/m);
  const run = v.run(showBoth, viaAgent);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, '/nonexistent/evil.so|--no-warnings|ok');
  // --only: the agent returns only the allowed names it serves.
  assert.equal(v.run(['env', '--only', 'NODE_OPTIONS,PLAIN'], viaAgent).code, 0);

  const db = join(v.vault, 'vault.db');
  sql(db, `UPDATE meta SET value = X'00' || value WHERE key LIKE 'allowed_names:%'`);
  assertOneLineError(assert, v.run(['env'], viaAgent), 8, /integrity check failed for the allowed names/);
});

test('the bash hook: tvault_load refuses a dangerous name until the project allows it, then loads it', (t) => {
  const v = makeVault(t);
  for (const [k, val] of [
    ['NODE_OPTIONS', '--no-warnings'],
    ['PLAIN', 'ok'],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  const env = shellEnv(v);
  const load = () =>
    spawnSync(
      'bash',
      [
        '--norc',
        '--noprofile',
        '-c',
        'eval "$(tvault hook bash 2>/dev/null)" || exit 90; tvault_load; s=$?; printf "%s|%s|%s" "$s" "${NODE_OPTIONS-unset}" "${PLAIN-unset}"',
      ],
      {
        env,
        encoding: 'utf8',
      },
    );
  const refused = load();
  assert.match(refused.stdout, /^[1-9]\d*\|unset\|unset$/, 'the shell was left as it was');
  assert.match(refused.stderr, /refusing to inject NODE_OPTIONS: .*tvault allow-name -p default NODE_OPTIONS/);
  assert.equal(v.run(['allow-name', 'NODE_OPTIONS']).code, 0);
  assert.equal(load().stdout, '0|--no-warnings|ok');
});

// The dangerous-name rule (packages/cli/src/dangerous-env.ts, docs/SECURITY.md "Names tvault
// will not inject"): names that point a program at code or configuration. The classifier is
// bundled and tested in-process against a table; the CLI test shows `set`/`import` warning and
// `run`/`env` refusing, as a user sees it.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOneLineError, makeVault, bundleSources } from './helpers.mjs';

let isDangerous;

before(async () => {
  ({ isDangerous } = (await bundleSources('dangerous', { dangerous: 'packages/cli/src/dangerous-env.ts' })).require('./dangerous.cjs'));
});

// Each name with why it runs code: the class, not a list of accidents.
const DANGEROUS = {
  // shells: mail checks expand $(...) in MAILPATH messages; history and readline files
  MAIL: 'shell',
  MAILPATH: 'shell',
  HISTFILE: 'shell',
  INPUTRC: 'shell',
  FCEDIT: 'shell',
  BASH_ENV: 'shell',
  ZDOTDIR: 'shell',
  // config locations: the config names commands to run
  GIT_DIR: 'config',
  GIT_WORK_TREE: 'config',
  GIT_COMMON_DIR: 'config',
  GIT_CONFIG: 'config',
  GIT_CONFIG_GLOBAL: 'config',
  GIT_CONFIG_SYSTEM: 'config',
  GIT_CONFIG_COUNT: 'config',
  GIT_CONFIG_KEY_0: 'config',
  GIT_CONFIG_VALUE_0: 'config',
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
  // toolchain homes and module paths
  CARGO_HOME: 'runtime',
  RUSTUP_HOME: 'runtime',
  GEM_HOME: 'runtime',
  GEM_PATH: 'runtime',
  NODE_OPTIONS: 'runtime',
  PYTHONPATH: 'runtime',
  DOTNET_STARTUP_HOOKS: 'runtime',
  GOTOOLCHAIN: 'runtime',
  JAVA_HOME: 'runtime',
  // npm reads npm_config_* in any case; yarn reads YARN_*
  npm_config_script_shell: 'npm',
  npm_config_prefix: 'npm',
  NPM_CONFIG_USERCONFIG: 'npm',
  Npm_Config_Node_Options: 'npm',
  YARN_YARN_PATH: 'yarn',
  YARN_RC_FILENAME: 'yarn',
  // editors, pagers, askpass a tool starts
  EDITOR: 'tool',
  GIT_PAGER: 'tool',
  SUDO_ASKPASS: 'tool',
  LESSEDIT: 'tool',
  PSQL_PAGER: 'tool',
  // loader and trust
  LD_PRELOAD: 'loader',
  DYLD_INSERT_LIBRARIES: 'loader',
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
];

test('the classifier: names that point a program at code or configuration are dangerous, plain secrets are not', () => {
  const missed = Object.keys(DANGEROUS).filter((n) => !isDangerous(n));
  assert.deepEqual(missed, [], 'these names make programs run code but pass as plain');
  const flagged = PLAIN.filter((n) => isDangerous(n));
  assert.deepEqual(flagged, [], 'these are ordinary secret names');
});

test('set and import warn about MAILPATH, GIT_DIR, npm_config_*; run and env refuse them', (t) => {
  const v = makeVault(t);
  const set = v.run(['set', 'MAILPATH', '--stdin'], { input: '/tmp/m?$(id)' });
  assert.equal(set.code, 0, set.stderr);
  assert.match(
    set.stderr,
    /warning: MAILPATH changes how programs load or shells start; tvault run and tvault env will refuse it unless --allow-dangerous MAILPATH/,
  );
  const file = join(v.dir, 'in.env');
  writeFileSync(file, 'GIT_DIR=/tmp/evil\nnpm_config_script_shell=/tmp/x\nKUBECONFIG=/tmp/k\nPLAIN=1\n');
  const imp = v.run(['import', file]);
  assert.equal(imp.code, 0, imp.stderr);
  for (const n of ['GIT_DIR', 'npm_config_script_shell', 'KUBECONFIG']) assert.match(imp.stderr, new RegExp(`warning: ${n} changes how programs load`));
  assert.doesNotMatch(imp.stderr, /PLAIN/);
  const run = v.run(['run', '--', 'true']);
  assertOneLineError(assert, run, 125, /refusing to inject (?=.*MAILPATH)(?=.*GIT_DIR)(?=.*npm_config_script_shell)(?=.*KUBECONFIG)/);
  const env = v.run(['env', '--format', 'json']);
  assertOneLineError(assert, env, 1, /refusing to inject .*MAILPATH/);
  const only = v.run(['run', '--only', 'PLAIN', '--', 'true']);
  assert.equal(only.code, 0, only.stderr);
});

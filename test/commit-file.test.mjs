// Committable secrets files (issue 13) as a team uses them, with real git and the real age CLI:
// seal, commit, clone and open with TVAULT_IDENTITY_KEY only (no vault, no passphrase), run/env
// --from, one-line diffs, the merge driver (clean union and a reported conflict), the diff
// textconv, recipients add/remove (re-keying; the old commit stays readable to the removed one),
// the wrap read by `age -d`, every tamper case (exit 8), and ci github.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac, hkdfSync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOneLineError, makeVault, requireCommand, tempDir, tvault } from './helpers.mjs';

const FILE = 'secrets.tvault.env';
const NO_PASS = { TVAULT_PASSPHRASE: undefined, TVAULT_PASSPHRASE_FILE: undefined };

function keygen(dir, name) {
  const path = join(dir, `${name}.key`);
  execFileSync('age-keygen', ['-o', path], { stdio: 'ignore' });
  const key = readFileSync(path, 'utf8').trim().split('\n').pop();
  const recipient = execFileSync('age-keygen', ['-y', path], { encoding: 'utf8' }).trim();
  return { path, key, recipient };
}

/** git in `cwd` with a throwaway identity and no global or system config. */
function gitIn(home) {
  const env = {
    ...process.env,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.com',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.com',
    TVAULT_DIR: undefined,
  };
  for (const k of Object.keys(env)) if (k.startsWith('TVAULT_')) delete env[k];
  return (cwd, args, extra = {}) => {
    const r = spawnSync('git', args, { cwd, env: { ...env, ...extra }, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}

/** A vault with three secrets, two age keys (alice, bob), and a git repository sealed for alice. */
function team(t) {
  requireCommand(t, 'git');
  requireCommand(t, 'age');
  const v = makeVault(t);
  for (const [k, val] of [
    ['API_KEY', 'sk-1'],
    ['DB_URL', 'postgres://u:p@h/db'],
    ['MULTI', 'line one\nline two'],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  const alice = keygen(v.dir, 'alice');
  const bob = keygen(v.dir, 'bob');
  const repo = join(v.dir, 'repo');
  const git = gitIn(v.dir);
  assert.equal(git(v.dir, ['init', '-q', '-b', 'main', repo]).code, 0);
  const g = (args, extra) => {
    const r = git(repo, args, extra);
    assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const inRepo = (args, opts = {}) => v.run(args, { cwd: repo, ...opts });
  /** As CI: only the identity key; no vault directory, no passphrase. */
  const asKey = (key, args, opts = {}) =>
    tvault(args, { cwd: repo, ...opts, env: { ...NO_PASS, TVAULT_DIR: join(v.dir, 'no-vault-here'), TVAULT_IDENTITY_KEY: key, ...opts.env } });
  const sealed = inRepo(['seal', '-r', alice.recipient]);
  assert.equal(sealed.code, 0, sealed.stderr);
  const path = join(repo, FILE);
  return { ...v, alice, bob, repo, git, g, inRepo, asKey, path };
}

test('seal, commit, clone, then open, env --from and run --from with TVAULT_IDENTITY_KEY only (no vault, no passphrase)', (t) => {
  const x = team(t);
  const text = readFileSync(x.path, 'utf8');
  assert.match(text, /^#tvault-file v1 mac=\S{43}\n#recipient age1\S+ \S+\nAPI_KEY=\S+\nDB_URL=\S+\nMULTI=\S+\n$/);
  for (const v of ['sk-1', 'postgres', 'line one']) assert.ok(!text.includes(v), 'no value in the clear');
  x.g(['add', FILE]);
  x.g(['commit', '-qm', 'secrets']);
  const clone = join(x.dir, 'clone');
  assert.equal(x.git(x.dir, ['clone', '-q', x.repo, clone]).code, 0);
  const opened = x.asKey(x.alice.key, ['open', FILE, '--format', 'json'], { cwd: clone });
  assert.equal(opened.code, 0, opened.stderr);
  assert.deepEqual(JSON.parse(opened.stdout), { API_KEY: 'sk-1', DB_URL: 'postgres://u:p@h/db', MULTI: 'line one\nline two' });
  assert.ok(!existsSync(join(x.dir, 'no-vault-here')), 'nothing made a vault');
  const env = x.asKey(x.alice.key, ['env', '--from', FILE, '--only', 'API_KEY'], { cwd: clone });
  assert.equal(env.stdout, "export API_KEY='sk-1'\n");
  const run = x.asKey(x.alice.key, ['run', '--from', FILE, '--', 'sh', '-c', 'printf "%s|%s|%s" "$API_KEY" "$MULTI" "${TVAULT_IDENTITY_KEY-unset}"; exit 7'], {
    cwd: clone,
  });
  assert.equal(run.code, 7, 'the child exit code passes through');
  assert.equal(run.stdout, 'sk-1|line one\nline two|unset', 'TVAULT_IDENTITY_KEY is stripped from the child');
  const byFile = x.asKey(undefined, ['open', FILE, '--identity', x.alice.path, '--only', 'DB_URL'], { cwd: clone });
  assert.equal(byFile.stdout, "DB_URL='postgres://u:p@h/db'\n");
});

test('re-sealing after one change leaves a one-line diff (plus the header); nothing changed leaves the file identical', (t) => {
  const x = team(t);
  x.g(['add', FILE]);
  x.g(['commit', '-qm', 'v1']);
  const before = readFileSync(x.path, 'utf8');
  assert.equal(x.inRepo(['seal', '--update', FILE], { env: { TVAULT_IDENTITY_KEY: x.alice.key } }).code, 0);
  assert.equal(readFileSync(x.path, 'utf8'), before, 'unchanged values keep their bytes');
  assert.equal(x.run(['set', 'DB_URL', '--stdin'], { input: 'postgres://new' }).code, 0);
  const up = x.inRepo(['seal', '--update', FILE], { env: { TVAULT_IDENTITY_KEY: x.alice.key } });
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stderr, /2 lines changed/);
  const diff = x.g(['diff', '-U0', '--no-color', FILE]);
  const changed = diff
    .split('\n')
    .filter((l) => /^[-+][^-+]/.test(l))
    .map((l) => l.slice(0, l.indexOf(l.startsWith('#', 1) ? ' ' : '=') + 1))
    .sort();
  assert.deepEqual(changed, ['+#tvault-file ', '+DB_URL=', '-#tvault-file ', '-DB_URL='], diff);
});

test('the merge driver: different keys changed on two branches merge cleanly and still authenticate; the same key is a reported conflict', (t) => {
  const x = team(t);
  const inst = x.inRepo(['git', 'install']);
  assert.equal(inst.code, 0, inst.stderr);
  assert.equal(inst.stdout, '*.tvault.env merge=tvault diff=tvault eol=lf\n');
  writeFileSync(join(x.repo, '.gitattributes'), inst.stdout);
  x.g(['add', '.']);
  x.g(['commit', '-qm', 'base']);
  const key = { TVAULT_IDENTITY_KEY: x.alice.key };
  const change = (branch, k, val) => {
    x.g(['checkout', '-q', '-b', branch, 'main']);
    assert.equal(x.run(['set', k, '--stdin'], { input: val }).code, 0);
    assert.equal(x.inRepo(['seal', '--update', FILE], { env: key }).code, 0);
    x.g(['commit', '-qam', `${k} on ${branch}`]);
    assert.equal(x.run(['set', k, '--stdin'], { input: k === 'API_KEY' ? 'sk-1' : 'postgres://u:p@h/db' }).code, 0); // the vault back as it was
  };
  change('a', 'API_KEY', 'sk-from-a');
  change('b', 'DB_URL', 'db-from-b');
  change('c', 'API_KEY', 'sk-from-c');
  x.g(['checkout', '-q', 'a']);
  const m = x.git(x.repo, ['merge', '--no-edit', 'b'], key);
  assert.equal(m.code, 0, `clean merge: ${m.stdout}${m.stderr}`);
  assert.match(m.stdout + m.stderr, /merged \(3 keys, 1 recipients\)/, 'the driver ran');
  const got = x.asKey(x.alice.key, ['open', FILE, '--format', 'json']);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual(JSON.parse(got.stdout), { API_KEY: 'sk-from-a', DB_URL: 'db-from-b', MULTI: 'line one\nline two' });
  // The real conflict: API_KEY changed on a and on c.
  const c = x.git(x.repo, ['merge', '--no-edit', 'c'], key);
  assert.notEqual(c.code, 0, 'a conflict, not a silent resolution');
  assert.match(c.stderr, /conflict: API_KEY changed on both sides/);
  assert.match(x.g(['status', '--porcelain']), /^UU secrets\.tvault\.env$/m);
  // What is left is still a valid, authenticated file (ours for API_KEY), for the user to fix.
  assert.equal(JSON.parse(x.asKey(x.alice.key, ['open', FILE, '--format', 'json']).stdout).API_KEY, 'sk-from-a');
  x.g(['merge', '--abort']);
  // Without an identity the driver cannot re-authenticate: a conflict, never an unauthenticated file.
  x.g(['checkout', '-q', '-b', 'd', 'c']);
  const n = x.git(x.repo, ['merge', '--no-edit', 'b']);
  assert.notEqual(n.code, 0);
  assert.match(n.stderr, /cannot merge, left as a conflict .*no identity/);
});

test('the diff textconv: names and a fingerprint of what changed without a key; values only with --values and an identity', (t) => {
  const x = team(t);
  assert.equal(x.inRepo(['git', 'install']).code, 0);
  writeFileSync(join(x.repo, '.gitattributes'), '*.tvault.env merge=tvault diff=tvault eol=lf\n');
  x.g(['add', '.']);
  x.g(['commit', '-qm', 'v1']);
  assert.equal(x.run(['set', 'API_KEY', '--stdin'], { input: 'sk-2' }).code, 0);
  assert.equal(x.inRepo(['seal', '--update', FILE], { env: { TVAULT_IDENTITY_KEY: x.alice.key } }).code, 0);
  const plain = x.g(['diff', '--no-color', FILE]);
  assert.match(plain, /^-API_KEY = sealed:[0-9a-f]{12}$/m);
  assert.match(plain, /^\+API_KEY = sealed:[0-9a-f]{12}$/m);
  assert.match(plain, /^ DB_URL = sealed:/m, 'an unchanged key shows as unchanged');
  assert.ok(!plain.includes('sk-'), 'no value');
  // Even with the key in the environment, values need --values.
  assert.ok(!x.g(['diff', '--no-color', FILE], { TVAULT_IDENTITY_KEY: x.alice.key }).includes('sk-2'));
  assert.equal(x.inRepo(['git', 'install', '--values']).code, 0);
  const withKey = x.g(['diff', '--no-color', FILE], { TVAULT_IDENTITY_KEY: x.alice.key });
  assert.match(withKey, /^-API_KEY='sk-1'$/m);
  assert.match(withKey, /^\+API_KEY='sk-2'$/m);
  const noKey = x.g(['diff', '--no-color', FILE]);
  assert.ok(!noKey.includes('sk-2') && /API_KEY = sealed:/.test(noKey), 'without an identity: the sealed view');
  assert.equal(x.inRepo(['git', 'uninstall']).code, 0);
  assert.equal(x.git(x.repo, ['config', '--get', 'diff.tvault.textconv']).code, 1, 'uninstall removed it');
});

test('recipients add re-seals for the new one (other lines kept); remove re-keys: the removed one cannot open the new file, can open the old commit', (t) => {
  const x = team(t);
  assert.equal(x.inRepo(['recipients', 'add', x.alice.recipient], { env: { TVAULT_IDENTITY_KEY: x.alice.key } }).code, 0);
  const before = readFileSync(x.path, 'utf8').split('\n');
  const add = x.inRepo(['recipients', 'add', x.bob.recipient], { env: { TVAULT_IDENTITY_KEY: x.alice.key } });
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stderr, /re-sealed secrets\.tvault\.env/);
  const after = readFileSync(x.path, 'utf8').split('\n');
  assert.equal(after.filter((l) => !before.includes(l)).length, 2, 'the header and one new #recipient line');
  assert.deepEqual(readFileSync(join(x.repo, '.tvault-recipients'), 'utf8').trim().split('\n').sort(), [x.alice.recipient, x.bob.recipient].sort());
  assert.equal(x.asKey(x.bob.key, ['open', FILE]).code, 0);
  x.g(['add', '.']);
  x.g(['commit', '-qm', 'bob']);
  const rm = x.inRepo(['recipients', 'remove', x.bob.recipient], { env: { TVAULT_IDENTITY_KEY: x.alice.key } });
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stderr, /new file key/);
  assert.match(rm.stderr, /can still read every committed version/);
  const changed = readFileSync(x.path, 'utf8').split('\n');
  assert.equal(changed.filter((l) => after.includes(l) && l).length, 0, 'every line changed (new file key)');
  assertOneLineError(assert, x.asKey(x.bob.key, ['open', FILE]), 3, /is not a recipient/);
  assert.equal(x.asKey(x.alice.key, ['open', FILE]).code, 0);
  // The old commit is still readable by bob: documented, not hidden.
  const old = x.g(['show', `HEAD:${FILE}`]);
  const r = x.asKey(x.bob.key, ['open', '-', '--only', 'API_KEY'], { input: old });
  assert.equal(r.stdout, "API_KEY='sk-1'\n");
  assert.equal(x.inRepo(['recipients', 'list']).stdout, `${x.alice.recipient}\n`);
  assertOneLineError(assert, x.inRepo(['recipients', 'remove', x.bob.recipient]), 4, /is not in/);
});

test('the wrap is standard age: `age -d` recovers the file key, and it authenticates the file per FORMAT.md', (t) => {
  const x = team(t);
  const text = readFileSync(x.path, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('#recipient '));
  const [, recipient, wrap] = line.split(' ');
  assert.equal(recipient, x.alice.recipient);
  const fileKey = execFileSync('age', ['-d', '-i', x.alice.path], { input: Buffer.from(wrap, 'base64url') });
  assert.equal(fileKey.length, 32);
  const macKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'tvault-file v1 mac', 32));
  const body = text.slice(text.indexOf('\n') + 1);
  const mac = createHmac('sha256', macKey).update(`tvault-file v1\n${body}`).digest('base64url');
  assert.equal(text.split('\n')[0], `#tvault-file v1 mac=${mac}`);
  // And tvault opens what the age CLI wraps: a recipient line made with `age -r` by a holder of the key.
  const bobWrap = execFileSync('age', ['-r', x.bob.recipient], { input: fileKey }).toString('base64url');
  const lines = text.split('\n');
  const withBob = [lines[0], ...[line, `#recipient ${x.bob.recipient} ${bobWrap}`].sort(), ...lines.slice(2)];
  const body2 = withBob.slice(1).join('\n');
  const mac2 = createHmac('sha256', macKey).update(`tvault-file v1\n${body2}`).digest('base64url');
  writeFileSync(x.path, [`#tvault-file v1 mac=${mac2}`, ...withBob.slice(1)].join('\n'));
  const r = x.asKey(x.bob.key, ['open', FILE, '--only', 'API_KEY']);
  assert.equal(r.stdout, "API_KEY='sk-1'\n", r.stderr);
});

test('tampering, bad input and format versions: one line, the right exit code, nothing overwritten', async (t) => {
  const x = team(t);
  const good = readFileSync(x.path, 'utf8');
  const L = good.split('\n').slice(0, -1);
  const j = (ls) => `${ls.join('\n')}\n`;
  x.g(['add', FILE]);
  x.g(['commit', '-qm', 'v1']);
  assert.equal(x.run(['set', 'API_KEY', '--stdin'], { input: 'sk-newer' }).code, 0);
  assert.equal(x.inRepo(['seal', '--update', FILE], { env: { TVAULT_IDENTITY_KEY: x.alice.key } }).code, 0);
  const newer = readFileSync(x.path, 'utf8').split('\n');
  const strangerWrap = execFileSync('age', ['-r', x.bob.recipient], { input: Buffer.alloc(32, 9) }).toString('base64url');
  const cases = [
    ['a deleted line', j(L.filter((_, i) => i !== 3)), 8, /does not authenticate/],
    ['a truncated file', good.slice(0, good.length - 20), 8, /truncated/],
    ['two lines swapped', j([L[0], L[1], L[3], L[2], L[4]]), 8, /does not authenticate/],
    ['a line from an older commit', j([newer[0], newer[1], L[2], newer[3], newer[4]]), 8, /does not authenticate/],
    ['a value moved onto another name', j([L[0], L[1], L[2], `DB_URL=${L[2].split('=')[1]}`, L[4]]), 8, /does not authenticate|moved/],
    [
      'a recipient added without the key',
      j([L[0], ...[L[1], `#recipient ${x.bob.recipient} ${strangerWrap}`].sort(), ...L.slice(2)]),
      8,
      /does not authenticate/,
    ],
    ['a recipient line that does not parse', j([L[0], '#recipient age1xyz nope', ...L.slice(1)]), 8, /recipient line does not parse/],
    ['a hand-added comment', j([...L, '# hi']), 8, /line 6/],
    ['a newer format version', j([L[0].replace('v1', 'v9'), ...L.slice(1)]), 1, /format v9, newer .* upgrade tvault/],
    ['mixed line endings', `${L[0]}\r\n${j(L.slice(1))}`, 8, /CRLF/],
  ];
  for (const [name, text, code, pattern] of cases) {
    writeFileSync(x.path, text);
    const r = x.asKey(x.alice.key, ['open', FILE]);
    assertOneLineError(assert, r, code, pattern);
    assert.equal(r.stdout, '', `${name}: nothing printed`);
    const run = x.asKey(x.alice.key, ['run', '--from', FILE, '--', 'true']);
    assert.equal(run.code, 125, `${name}: run --from fails before the child`);
  }
  // A Windows checkout (CRLF on every line) reads as the same file.
  writeFileSync(x.path, good.replace(/\n/g, '\r\n'));
  assert.equal(x.asKey(x.alice.key, ['open', FILE, '--only', 'API_KEY']).stdout, "API_KEY='sk-1'\n");
  writeFileSync(x.path, good);
  assertOneLineError(assert, x.asKey(x.bob.key, ['open', FILE]), 3, /not a recipient/);
  const bad = 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ';
  const r = x.asKey(bad, ['open', FILE]);
  assertOneLineError(assert, r, 2);
  assert.ok(!r.stderr.includes(bad), 'the key is not echoed');
  assertOneLineError(assert, tvault(['open', FILE], { cwd: x.repo, env: { ...NO_PASS, TVAULT_DIR: join(x.dir, 'none') } }), 3, /no identity to open/);
  assertOneLineError(assert, x.asKey(x.alice.key, ['open', 'missing.tvault.env']), 4, /does not exist/);
  // A failing seal over an existing file leaves it as it was, and no temp file behind.
  const fail = x.inRepo(['seal', '-r', 'age1notarecipient']);
  assertOneLineError(assert, fail, 2);
  assert.equal(readFileSync(x.path, 'utf8'), good);
  const noRcp = tvault(['seal', '-o', join(x.repo, 'other.tvault.env')], { cwd: x.dir, env: x.env });
  assertOneLineError(assert, noRcp, 2, /-r age1.*\.tvault-recipients/);
  assert.deepEqual(
    readdirSync(x.repo).filter((n) => n.includes('.tmp-')),
    [],
  );
});

test('ci github: values into $GITHUB_ENV in the multiline form, and ::add-mask:: for every line of every value', (t) => {
  const x = team(t);
  const { dir } = tempDir();
  t.after(() => execFileSync('rm', ['-rf', dir]));
  const ghEnv = join(dir, 'github_env');
  writeFileSync(ghEnv, 'EXISTING=1\n');
  const r = x.asKey(x.alice.key, ['ci', 'github', '--from', FILE], { env: { GITHUB_ENV: ghEnv } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    r.stdout.trim().split('\n').sort(),
    ['::add-mask::line one', '::add-mask::line two', '::add-mask::postgres://u:p@h/db', '::add-mask::sk-1'].sort(),
  );
  const written = readFileSync(ghEnv, 'utf8');
  assert.ok(written.startsWith('EXISTING=1\n'), 'appended');
  assert.match(written, /^MULTI<<(TVAULT_EOF_[0-9a-f]{24})\nline one\nline two\n\1\n/m);
  assertOneLineError(assert, x.asKey(x.alice.key, ['ci', 'github', '--from', FILE]), 2, /GITHUB_ENV is not set/);
  const wf = tvault(['ci', 'init', 'github']);
  assert.match(wf.stdout, /TVAULT_IDENTITY_KEY: \$\{\{ secrets\.TVAULT_IDENTITY_KEY \}\}/);
  assert.match(wf.stdout, /tvault ci github --from secrets\.tvault\.env/);
});

test('run --from applies the dangerous-name filter like run; a bad .tvault-recipients line is a usage error naming the line', (t) => {
  const x = team(t);
  assert.equal(x.run(['set', 'LD_PRELOAD', '--stdin'], { input: '/tmp/evil.so' }).code, 0);
  assert.equal(x.inRepo(['seal', '-r', x.alice.recipient]).code, 0);
  const r = x.asKey(x.alice.key, ['run', '--from', FILE, '--', 'sh', '-c', 'echo ran']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /LD_PRELOAD/);
  assert.equal(r.stdout, '', 'the child never started');
  const ok = x.asKey(x.alice.key, ['run', '--from', FILE, '--allow-dangerous', 'LD_PRELOAD', '--', 'sh', '-c', 'printf %s "$API_KEY"'], {
    env: { LD_PRELOAD: undefined },
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'sk-1');
  writeFileSync(join(x.repo, '.tvault-recipients'), `# team\n${x.alice.recipient}\nage1qqqqbadchecksum\n`);
  const before = readFileSync(x.path, 'utf8');
  assertOneLineError(assert, x.inRepo(['seal']), 2, /\.tvault-recipients line 3: /);
  assert.equal(readFileSync(x.path, 'utf8'), before, 'nothing overwritten');
});

test('open with an identity of the vault: the passphrase unlocks it; without one (and no terminal) a one-line refusal, no prompt', (t) => {
  const x = team(t);
  assert.equal(x.run(['identity', 'import', 'alice', '-f', x.alice.path]).code, 0);
  const r = x.inRepo(['open', FILE, '--only', 'API_KEY']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "API_KEY='sk-1'\n");
  const locked = x.inRepo(['open', FILE], { env: NO_PASS });
  assertOneLineError(assert, locked, 3, /locked/);
  assert.equal(locked.stdout, '');
  // seal --update finds the same identity in the vault: no TVAULT_IDENTITY_KEY needed.
  assert.equal(x.run(['set', 'API_KEY', '--stdin'], { input: 'sk-9' }).code, 0);
  const up = x.inRepo(['seal', '--update', FILE]);
  assert.equal(up.code, 0, up.stderr);
  assert.equal(x.asKey(x.alice.key, ['open', FILE, '--only', 'API_KEY']).stdout, "API_KEY='sk-9'\n");
});

test('merge driver: a branch that removed a recipient (new file key) merges with one that changed a value; the result stays re-keyed', (t) => {
  const x = team(t);
  const key = { TVAULT_IDENTITY_KEY: x.alice.key };
  writeFileSync(join(x.repo, '.tvault-recipients'), `${x.alice.recipient}\n${x.bob.recipient}\n`);
  assert.equal(x.inRepo(['seal', '--update', FILE], { env: key }).code, 0);
  assert.equal(x.inRepo(['git', 'install']).code, 0);
  writeFileSync(join(x.repo, '.gitattributes'), '*.tvault.env merge=tvault diff=tvault eol=lf\n');
  x.g(['add', '.']);
  x.g(['commit', '-qm', 'base']);
  x.g(['checkout', '-q', '-b', 'revoke']);
  assert.equal(x.inRepo(['recipients', 'remove', x.bob.recipient], { env: key }).code, 0);
  x.g(['commit', '-qam', 'remove bob']);
  x.g(['checkout', '-q', '-b', 'change', 'main']);
  assert.equal(x.run(['set', 'DB_URL', '--stdin'], { input: 'db-2' }).code, 0);
  assert.equal(x.inRepo(['seal', '--update', FILE], { env: key }).code, 0);
  x.g(['commit', '-qam', 'db']);
  const m = x.git(x.repo, ['merge', '--no-edit', 'revoke'], key);
  assert.equal(m.code, 0, m.stdout + m.stderr);
  assert.equal(JSON.parse(x.asKey(x.alice.key, ['open', FILE, '--format', 'json']).stdout).DB_URL, 'db-2');
  assertOneLineError(assert, x.asKey(x.bob.key, ['open', FILE]), 3, /not a recipient/);
  // The file key itself, by the age CLI: the merge's is not the one bob could unwrap on main or change.
  const fileKeyAt = (rev) => {
    const line = x
      .g(['show', `${rev}:${FILE}`])
      .split('\n')
      .find((l) => l.startsWith(`#recipient ${x.alice.recipient} `));
    return execFileSync('age', ['-d', '-i', x.alice.path], { input: Buffer.from(line.split(' ')[2], 'base64url') }).toString('hex');
  };
  const merged = fileKeyAt('HEAD');
  assert.notEqual(merged, fileKeyAt('HEAD^1'), 'not the key of our side (which bob had)');
  assert.notEqual(merged, fileKeyAt('main'));
});

// `tvault audit` and `tvault audit verify`: every kind of event is recorded with names and
// actors but never a value, the filters work, --follow streams, and the chain catches edits,
// deletions, reorderings, and a rewrite by someone without the passphrase.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PASS, makeVault, sql, tvaultSpawn } from './helpers.mjs';

const VALUE = 'audit-canary-value-7f3a';

function seeded(t) {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: VALUE }).code, 0);
  assert.equal(v.run(['get', 'API_KEY']).stdout, `${VALUE}\n`);
  assert.equal(v.run(['env']).code, 0);
  assert.equal(v.run(['get', 'API_KEY'], { env: { TVAULT_PASSPHRASE: 'wrong' } }).code, 6);
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assert.equal(v.run(['use', 'backend']).code, 0);
  assert.equal(v.run(['export', '-p', 'default', '--format', 'json']).code, 0);
  return { v, db: join(v.vault, 'vault.db') };
}

const rows = (v, args = []) => {
  const r = v.run(['audit', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim()
    ? r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
    : [];
};

test('audit lists every kind of event with names and actors, never a value', (t) => {
  const { v, db } = seeded(t);
  const all = rows(v);
  const ops = all.map((r) => `${r.op}${r.ok ? '' : '!'}`);
  for (const op of ['init', 'unlock', 'set', 'get', 'getall', 'unlock!', 'project.create', 'project.use', 'export'])
    assert.ok(ops.includes(op), `${op} in ${ops}`);
  const get = all.find((r) => r.op === 'get');
  assert.deepEqual(get.keys, ['API_KEY']);
  assert.equal(get.via, 'direct');
  assert.equal(typeof get.pid, 'number');
  assert.equal(get.uid, process.getuid());
  const text = v.run(['audit']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^TIME\s+OP\s+RESULT/);
  assert.match(text.stdout, /unlock\s+FAILED/);
  for (const out of [text.stdout, JSON.stringify(all), readFileSync(db).toString('latin1')]) {
    assert.ok(!out.includes(VALUE), 'a value reached the audit trail');
    assert.ok(!out.includes(PASS), 'the passphrase reached the audit trail');
  }
});

test('audit filters: --op, --project, --since', (t) => {
  const { v } = seeded(t);
  assert.deepEqual([...new Set(rows(v, ['--op', 'get']).map((r) => r.op))], ['get']);
  assert.deepEqual([...new Set(rows(v, ['--op', 'project']).map((r) => r.op))].sort(), ['project.create', 'project.use']);
  assert.ok(rows(v, ['--project', 'backend']).every((r) => r.project === 'backend'));
  assert.ok(rows(v, ['--since', '1h']).length >= 8);
  assert.equal(rows(v, ['--since', new Date(Date.now() + 3_600_000).toISOString()]).length, 0);
  const bad = v.run(['audit', '--since', 'yesterday-ish']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^tvault: --since: /);
});

test('audit --follow prints new rows as they are written', async (t) => {
  const { v } = seeded(t);
  const child = tvaultSpawn(['audit', '--follow', '--json', '--op', 'get', '--since', '1s'], { env: v.env });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(v.run(['get', '-p', 'default', 'API_KEY']).code, 0);
  const deadline = Date.now() + 5000;
  while (!out.includes('"op":"get"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /"op":"get".*"keys":\["API_KEY"\]/);
});

test('audit verify passes on an untouched vault and names the row after an edit, a deletion or a swap', (t) => {
  const { v, db } = seeded(t);
  const ok = v.run(['audit', 'verify']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^audit chain intact: \d+ rows, head \d+:[0-9a-f]{16}$/m);

  const verify = () => v.run(['audit', 'verify']);
  const original = sql(db, 'SELECT quote(detail) FROM audit WHERE id = 4');
  sql(db, "UPDATE audit SET detail = 'edited' WHERE id = 4");
  let r = verify();
  assert.equal(r.code, 8);
  assert.match(r.stderr, /^tvault: audit chain broken at row 4: its content was changed\n$/);
  sql(db, `UPDATE audit SET detail = ${original} WHERE id = 4`);
  assert.equal(verify().code, 0);

  sql(db, 'UPDATE audit SET id = -1 WHERE id = 3; UPDATE audit SET id = 3 WHERE id = 4; UPDATE audit SET id = 4 WHERE id = -1;');
  r = verify();
  assert.equal(r.code, 8);
  assert.match(r.stderr, /broken at row 3: its link to the previous row is broken/);
  sql(db, 'UPDATE audit SET id = -1 WHERE id = 3; UPDATE audit SET id = 3 WHERE id = 4; UPDATE audit SET id = 4 WHERE id = -1;');
  assert.equal(verify().code, 0);

  sql(db, 'DELETE FROM audit WHERE id = 5');
  r = verify();
  assert.equal(r.code, 8);
  assert.match(r.stderr, /broken at row 6: row 5 is missing/);
});

test('a chain rewritten without the passphrase passes the plain hash check but not audit verify', (t) => {
  const { v, db } = seeded(t);
  // The attacker edits row 3 and recomputes every hash after it, as FORMAT.md documents.
  sql(db, 'UPDATE audit SET keys = \'["SOMETHING_ELSE"]\' WHERE id = 3');
  const all = JSON.parse(
    sql(
      db,
      "SELECT json_group_array(json_object('id',id,'ts',ts,'op',op,'ok',ok,'project',project,'keys',keys,'via',via,'uid',uid,'pid',pid,'token_id',token_id,'detail',detail)) FROM (SELECT * FROM audit ORDER BY id)",
    ),
  );
  let prev = Buffer.alloc(32);
  for (const r of all) {
    const hash = createHash('sha256')
      .update(prev)
      .update(JSON.stringify([r.id, r.ts, r.op, r.ok, r.project, r.keys, r.via, r.uid, r.pid, r.token_id, r.detail]))
      .digest();
    sql(db, `UPDATE audit SET prev_hash = X'${prev.toString('hex')}', hash = X'${hash.toString('hex')}' WHERE id = ${r.id}`);
    prev = hash;
  }
  const doctor = v.run(['doctor', '--json']);
  assert.equal(JSON.parse(doctor.stdout).checks.find((c) => c.check === 'audit chain').status, 'ok', 'the unkeyed check cannot see this');
  const r = v.run(['audit', 'verify']);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /broken at row 3: its authentication code does not match/);

  // Stripping the MACs does not help: rows of keyed operations must carry one.
  sql(db, 'UPDATE audit SET mac = NULL');
  const stripped = v.run(['audit', 'verify']);
  assert.equal(stripped.code, 8);
  assert.match(stripped.stderr, /must be authenticated and is not/);
});

test('audit verify needs the passphrase', (t) => {
  const { v } = seeded(t);
  const r = v.run(['audit', 'verify'], { env: { TVAULT_PASSPHRASE: 'wrong' } });
  assert.equal(r.code, 6);
});

test('the agent logs the audit chain head at start and stop: an anchor outside the vault', async (t) => {
  const { startAgent, agentLog, AGENT_ONLY } = await import('./agent-helpers.mjs');
  const { v } = seeded(t);
  const agent = await startAgent(t, v);
  assert.equal(v.run(['get', '-p', 'default', 'API_KEY'], { env: AGENT_ONLY }).stdout, `${VALUE}\n`);
  assert.equal(v.run(['agent', 'stop']).code, 0);
  await agent.done;
  const events = agentLog(v).events;
  const start = events.find((e) => e.ev === 'start');
  const stop = events.find((e) => e.ev === 'stop');
  assert.match(start.auditHead, /^\d+:[0-9a-f]{16}$/);
  assert.match(stop.auditHead, /^\d+:[0-9a-f]{16}$/);
  assert.ok(Number(stop.auditHead.split(':')[0]) > Number(start.auditHead.split(':')[0]));
  // The logged head is the row the chain held at that moment: a later rewrite of that row (or
  // of anything before it) changes its hash, which the log outside the vault still remembers.
  for (const anchor of [start.auditHead, stop.auditHead]) {
    const [id, prefix] = anchor.split(':');
    assert.equal(sql(join(v.vault, 'vault.db'), `SELECT lower(hex(hash)) FROM audit WHERE id = ${id}`).slice(0, 16), prefix);
  }
  assert.equal(v.run(['audit', 'verify']).code, 0);
});

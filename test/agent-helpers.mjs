// Helpers for the agent tests: start a real agent on a temp vault, talk to it over its socket
// with a raw client, and poll (with a deadline, never a bare sleep) for what should happen.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { BIN, PASS, ROOT, baseEnv, tvaultSpawn } from './helpers.mjs';

export const NOBODY = 65534;
export const SETPRIV = ['--reuid=65534', '--regid=65534', '--clear-groups'];
/** Env overrides that let a client use the agent: makeVault's run() disables it by default. */
export const AGENT_ON = { TVAULT_NO_AGENT: undefined };
/** ...and that take the passphrase away, so only the agent can answer (a direct unlock exits 3). */
export const AGENT_ONLY = { TVAULT_NO_AGENT: undefined, TVAULT_PASSPHRASE: undefined };

/** Polls fn until it returns a truthy value; throws after timeoutMs. */
export async function waitFor(fn, { timeout = 10_000, interval = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export const sockPath = (vault) => join(vault, 'agent.sock');
export const pidPath = (vault) => join(vault, 'agent.pid');

/** Resolves { code, signal } when the child exits. */
export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Starts `tvault agent start ...args` for vault v (from makeVault) and waits for its one line
 * on stdout. opts: env (merged), prefix (e.g. ['setpriv', ...SETPRIV]) to run it as someone
 * else, stdio. The agent is killed after the test if it is still running.
 */
export async function startAgent(t, v, args = [], opts = {}) {
  const env = { TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(v.dir, 'state'), ...opts.env };
  const child = opts.prefix
    ? spawn(opts.prefix[0], [...opts.prefix.slice(1), process.execPath, BIN, 'agent', 'start', ...args], { env: baseEnv(env), stdio: 'pipe' })
    : tvaultSpawn(['agent', 'start', ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = exited(child);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await done;
    }
  });
  const agent = { child, done, sock: sockPath(v.vault), stdout: () => stdout, stderr: () => stderr };
  const first = await Promise.race([
    waitFor(() => stdout.includes('\n'), { timeout: 15_000, what: `the agent's line (stderr: ${stderr})` }).then(() => 'line'),
    done.then(() => 'exit'),
  ]);
  if (first === 'exit' && !stdout.includes('\n')) {
    const r = await done;
    throw new Error(`agent exited (${r.code ?? r.signal}) before listening: ${stderr}`);
  }
  agent.line = stdout.split('\n')[0];
  agent.pid = Number(/pid (\d+)/.exec(agent.line)?.[1]);
  return agent;
}

/** Starts an agent expected to fail; resolves { code, stdout, stderr }. */
export function startAgentFails(v, args = [], opts = {}) {
  const env = { TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(v.dir, 'state'), ...opts.env };
  const r = spawnSync(process.execPath, [BIN, 'agent', 'start', ...args], { env: baseEnv(env), encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Sends raw bytes (then half-closes unless keepOpen) and collects everything until the agent
 * closes. A reset after the answer (the agent closes without reading the rest) is not an error.
 */
export function rawRequest(sock, payload, { keepOpen = false, timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    const chunks = [];
    let err = null;
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no answer from ${sock} within ${timeout} ms`));
    }, timeout);
    c.on('connect', () => {
      if (payload !== undefined && payload !== null) c.write(payload);
      if (!keepOpen) c.end();
    });
    c.on('data', (d) => chunks.push(d));
    c.on('error', (e) => (err = e));
    c.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text && err) return reject(err);
      const line = text.split('\n')[0];
      let json = null;
      try {
        json = JSON.parse(line);
      } catch {
        /* left null */
      }
      resolve({ text, json, error: err?.code ?? null });
    });
  });
}

export async function request(sock, obj) {
  const r = await rawRequest(sock, JSON.stringify(obj) + '\n');
  if (!r.json) throw new Error(`not a JSON answer: ${JSON.stringify(r.text)}`);
  return r.json;
}

/** The vault's audit rows (read-only; SQLite WAL lets this run beside the agent). */
export function auditRows(vault) {
  const Database = createRequire(join(ROOT, 'packages/core/package.json'))('better-sqlite3');
  const db = new Database(join(vault, 'vault.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM audit ORDER BY id').all();
  } finally {
    db.close();
  }
}

/** Runs tvault in a new session without a controlling terminal, so no prompt is possible. */
export function tvaultNoTty(args, opts = {}) {
  const r = spawnSync('setsid', ['-w', process.execPath, BIN, ...args], {
    env: baseEnv(opts.env),
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeout ?? 30_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export const gone = (path) => !existsSync(path);

// ---- capability tokens (issue 4) ------------------------------------------------------------

/** Hex SHA-256 of a token, as the token file's `sha256:` lines hold it. */
export const tokenHash = (token) => createHash('sha256').update(token).digest('hex');
/** The token_id that logs and audit rows show for a token. */
export const tokenIdOf = (token) => tokenHash(token).slice(0, 8);

/** Writes a token file (mode 0600 unless given) and returns its path. */
export function writeTokens(path, text, mode = 0o600) {
  writeFileSync(path, text, { mode });
  chmodSync(path, mode); // writeFileSync's mode applies only when it creates the file
  return path;
}

/** The agent's log for a vault from makeVault (startAgent points XDG_STATE_HOME there), parsed. */
export function agentLog(v) {
  const path = join(v.dir, 'state/tvault/agent.log');
  if (!existsSync(path)) return { text: '', events: [] };
  const text = readFileSync(path, 'utf8');
  return {
    text,
    events: text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  };
}

/** Every regular file under dir (recursively) whose bytes contain needle. */
export function filesContaining(dir, needle) {
  const hits = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

// V8's code cache for the entry bundle (read by packages/cli/bin/tvault, which says when it is
// used): `node scripts/code-cache.mjs packages/cli/dist/tvault.cjs` writes
// packages/cli/dist/tvault.cjs.cache. scripts/build.mjs runs it in a child process of plain
// `node`, whose V8 flags are those of `tvault` run from a shell (V8 rejects data made under
// other flags).
//
// The data is taken after the fast path has run `tvault get` and `tvault env` against a stand-in
// agent (a worker thread answering fixed lines on a socket in a temp dir), so that it holds the
// functions those runs compile, not only the top level.
//
// File layout: MAGIC, u32 LE source length, u32 LE data length, the bundle's exact bytes, then
// V8's data twice (see bin/tvault for why both copies and the source).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Script } from 'node:vm';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

export const MAGIC = 'tvault-code-cache 1\n';

export function encodeCache(source, data) {
  const head = Buffer.alloc(MAGIC.length + 8);
  head.write(MAGIC, 'latin1');
  head.writeUInt32LE(source.length, MAGIC.length);
  head.writeUInt32LE(data.length, MAGIC.length + 4);
  return Buffer.concat([head, source, data, data]);
}

export function decodeCache(buf) {
  const at = MAGIC.length + 8;
  const srcLen = buf.readUInt32LE(MAGIC.length);
  const dataLen = buf.readUInt32LE(MAGIC.length + 4);
  return { source: buf.subarray(at, at + srcLen), data: buf.subarray(at + srcLen, at + srcLen + dataLen) };
}

/** Compiles and runs the bundle as bin/tvault does, for these argvs, and returns V8's data. */
async function warmData(bundle, source) {
  const dir = mkdtempSync(join(tmpdir(), 'tvault-code-cache-'));
  try {
    const vault = join(dir, 'v');
    mkdirSync(vault, { mode: 0o700 });
    const sock = join(vault, 'agent.sock');
    const agent = new Worker(new URL(import.meta.url), { workerData: { sock } });
    await new Promise((ok, fail) => (agent.once('message', ok), agent.once('error', fail)));
    for (const k of Object.keys(process.env)) if (k.startsWith('TVAULT_')) delete process.env[k];
    process.env.TVAULT_DIR = vault;
    const script = new Script(Module.wrap(source.toString('utf8')), { filename: bundle });
    const fn = script.runInThisContext();
    const real = createRequire(bundle);
    // The full CLI is never needed (the stand-in agent answers): a stub, should the fast path hand over.
    const req = (id) => (id === './cli.cjs' ? { main: () => undefined } : real(id));
    for (const argv of [
      ['get', 'WARM'],
      ['env', '--format', 'shell'],
    ]) {
      process.argv = [process.execPath, bundle, ...argv];
      const mod = { exports: {} };
      fn.call(mod.exports, mod.exports, req, mod, bundle, resolve(bundle, '..'));
    }
    await agent.terminate();
    return script.createCachedData();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The stand-in agent: answers a get with a value and anything else with two secrets. */
function standInAgent({ sock }) {
  const answer = (req) =>
    JSON.stringify(
      req.includes('"get"')
        ? { v: 1, ok: true, project: 'default', key: 'WARM', value: 'x' }
        : { v: 1, ok: true, project: 'default', secrets: { A: '1', B: 'two words' } },
    ) + '\n';
  const server = createServer({ allowHalfOpen: true }, (s) => {
    let req = '';
    s.on('data', (d) => (req += d));
    s.on('end', () => s.end(answer(req)));
    s.on('error', () => s.destroy());
  });
  server.listen(sock, () => parentPort.postMessage('listening'));
}

async function main(bundle) {
  const source = readFileSync(bundle);
  const data = await warmData(bundle, source);
  const out = `${bundle}.cache`;
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, encodeCache(source, data), { mode: 0o644 });
  chmodSync(tmp, 0o644); // whatever the umask: bin/tvault ignores a cache that others may write
  renameSync(tmp, out);
}

/** Writes the cache for bundle in a child process of plain node (see the top of this file). */
export function writeCodeCache(bundle) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), bundle], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`code cache for ${bundle}: ${r.stderr.trim()}`);
}

if (!isMainThread) standInAgent(workerData);
else if (fileURLToPath(import.meta.url) === resolve(process.argv[1] ?? '')) await main(resolve(process.argv[2]));

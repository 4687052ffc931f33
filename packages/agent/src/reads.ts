// The read ops: decrypt through core without blocking the event loop for long, encode straight
// into answer Buffers, and return only once the read's audit row is committed (the caller's
// `audit`, see audit-queue.ts). Every decrypted value is zeroed before returning.
//
// A getall of a large project (3,000 values of 16 KB: 48 MB) is decrypted and encoded in
// chunks, yielding to the event loop between them, so that other clients are served meanwhile;
// the chunk size adapts to keep each step near STEP_MS. The rows are read once, at the start
// (Vault.sealedSnapshot): the answer is the project as it was then, and a write that commits
// during a long getall is not in it.
//
// A raw reply (`reply`, PROTOCOL.md "Raw replies") takes the same path: the same snapshot, checks
// and audit row; only the encoding differs (the value's bytes, or the shell text of
// @tvault/core/env-format, written from the value bytes, after a header that gives its length).
import { type AuditEvent, TvaultError, type Vault, zero } from '@tvault/core';
import { checkShellNames, shellLinesBytes } from '@tvault/core/env-format';
import type { ReadRequest } from '@tvault/protocol';
import { ProtocolError, rawHeader, rawValue, secretsPart, valueLine } from './protocol';

export interface ReadResult {
  /** The answer line, or its parts (one per chunk) for a project read in chunks. */
  line: Buffer | Buffer[];
  project: string;
  keys: readonly string[];
}

/** What a read needs from the agent: the KEK for each step (it may be wiped meanwhile) and the audit. */
export interface ReadContext {
  kek(): Buffer;
  audit(ev: AuditEvent): Promise<void>;
}

const STEP_MS = 2;
// The first chunk: the keys whose ciphertexts fit in FIRST_BYTES, at most FIRST_CHUNK of them
// (1,000 short values, ~140 KB, in one step of ~1-2 ms and no turn of the loop; values of 16 KB,
// 16 at a time), then sized by the time each step took.
const FIRST_BYTES = 256 << 10;
const FIRST_CHUNK = 1024;
const MAX_CHUNK = 4096;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The names that passed checkShellNames, by the frozen names array of a cached project
 * (SealedSnapshot.names), with the project and allow list they passed with: a getall of the
 * same unchanged project does not check 1,000 names again (~0.1 ms). Any change to the rows or
 * the cache gives a new array; another allow list or project checks again.
 */
const shellChecked = new WeakMap<readonly string[], string>();

function checkShellOnce(names: readonly string[], allowed: readonly string[], project: string): void {
  const passed = `${project}\0${allowed.join('\0')}`;
  if (shellChecked.get(names) === passed) return;
  try {
    checkShellNames(names, { allowDangerous: allowed, project });
  } catch (err) {
    if (err instanceof TvaultError) throw new ProtocolError('unformattable', `${err.message} (reply shell)`);
    throw err;
  }
  if (Object.isFrozen(names)) shellChecked.set(names, passed);
}

export function serveRead(vault: Vault, req: ReadRequest, ctx: ReadContext): Promise<ReadResult> {
  return req.op === 'get' ? serveGet(vault, req, ctx) : serveProject(vault, req, ctx);
}

/**
 * A `get`: decrypted and encoded at once, answered once its row is committed. Plain promises
 * rather than async functions: the agent serves thousands a second, and each async frame and
 * its promise is garbage that brings the next GC pause, which every client in flight waits
 * for (docs/PERFORMANCE.md). A failure before the audit throws, as an async function would reject.
 */
function serveGet(vault: Vault, req: ReadRequest & { op: 'get' }, ctx: ReadContext): Promise<ReadResult> {
  const project = req.project ?? vault.currentProject();
  const value = vault.readSecretUnaudited(ctx.kek(), project, req.key);
  let line: Buffer;
  try {
    line = req.reply === 'value' ? rawValue(value) : valueLine(project, req.key, value);
  } finally {
    zero(value);
  }
  const keys = [req.key];
  return audited(ctx.audit({ op: 'get', project, keys }), [line], { line, project, keys });
}

async function serveProject(vault: Vault, req: ReadRequest, ctx: ReadContext): Promise<ReadResult> {
  const project = req.project ?? vault.currentProject();
  const sel = req.op === 'getselected' ? { only: req.only, prefix: req.prefix } : {};
  // One read of the rows, checked against the authenticated manifest: a key whose rows were
  // deleted fails here (exit 8). Then decrypted a chunk at a time.
  const snap = vault.sealedSnapshot(ctx.kek(), project, sel);
  const parts: Buffer[] = [];
  try {
    const names = snap.names;
    // The project's allowed names (verified under the KEK) that this answer holds: the client
    // applies the same allow list as a direct read (core/dangerous-names.ts).
    let allowed = vault.allowedNames(ctx.kek(), project);
    if (allowed.length) {
      const have = new Set(names);
      allowed = allowed.filter((n) => have.has(n));
    }
    // reply shell: every name is checked before any value is decrypted, exactly as the CLI's
    // formatEnv would check them; a refusal serves nothing, so it writes no audit row.
    const shell = req.op === 'getall' && req.reply === 'shell';
    if (shell) checkShellOnce(names, allowed, project);
    let chunk = snap.fit(0, FIRST_BYTES, FIRST_CHUNK);
    for (let at = 0; at < names.length || !parts.length;) {
      const t0 = performance.now();
      ctx.kek(); // still unlocked: a lock meanwhile ends the read here
      // reply shell: opened and written in C where the agent's native helpers load (the same bytes).
      const to = Math.min(at + chunk, names.length);
      const lines = shell ? snap.openShell(at, to) : null;
      if (lines) {
        parts.push(lines);
        at = to;
      } else {
        const secrets = snap.open(at, at + chunk);
        try {
          at += secrets.length;
          parts.push(shell ? shellLinesBytes(secrets) : secretsPart(project, secrets, !parts.length, at >= names.length, allowed));
        } finally {
          zero(...secrets.map((s) => s.value));
        }
      }
      if (at >= names.length) break;
      const took = performance.now() - t0;
      chunk = took < STEP_MS / 2 ? Math.min(chunk * 2, MAX_CHUNK) : took > STEP_MS * 2 ? Math.max(1, chunk >> 1) : chunk;
      await nextTurn();
    }
    if (shell) parts.unshift(rawHeader(parts.reduce((n, p) => n + p.length, 0)));
    return await audited(ctx.audit({ op: req.op, project, keys: names }), parts, { line: parts.length === 1 ? parts[0] : parts, project, keys: names });
  } catch (err) {
    parts.forEach((p) => p.fill(0));
    throw err;
  } finally {
    snap.close();
  }
}

/** The result once the audit row is written; if it cannot be, the answer is wiped and the read fails. */
function audited(row: Promise<void>, answer: Buffer[], result: ReadResult): Promise<ReadResult> {
  return row.then(
    () => result,
    (err: unknown) => {
      answer.forEach((b) => b.fill(0));
      throw err;
    },
  );
}

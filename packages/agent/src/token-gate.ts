// The token gate (--require-token): after the uid check, every request must carry a token of
// the token file that has not expired and whose scope covers the op, the project and the keys.
//
// Lookup: one SHA-256 of the presented token, then a Map keyed by the hex hash. The Map's
// string comparison is not constant-time, but what it compares are hashes: learning how many
// leading characters of SHA-256(guess) match a stored hash tells an attacker nothing that
// brings a token (a preimage) any closer. The raw tokens themselves are never compared.
import type { Request } from '@tvault/protocol';
import { ProtocolError } from './protocol';
import { type TokenSpec, describeScope, hashToken, isUnrestricted } from '@tvault/tokens';

export class TokenSet {
  private readonly byHash: Map<string, TokenSpec>;

  constructor(
    readonly file: string,
    specs: readonly TokenSpec[],
  ) {
    this.byHash = new Map(specs.map((s) => [s.hash, s]));
  }

  get size(): number {
    return this.byHash.size;
  }

  /** token_ids, for the log. */
  ids(): string[] {
    return [...this.byHash.values()].map((s) => s.id);
  }

  /** The tokens of this set that `other` no longer holds (revoked by a reload). */
  removedIn(other: TokenSet): string[] {
    return [...this.byHash.values()].filter((s) => !other.byHash.has(s.hash)).map((s) => s.id);
  }

  find(token: string | undefined): TokenSpec | undefined {
    return token ? this.byHash.get(hashToken(token)) : undefined;
  }
}

const scope = (why: string) => new ProtocolError('token_scope', `not in scope: ${why}`);
const list = (keys: readonly string[]) => keys.join(', ');

/** The project a request reads: a project-scoped token's own project when the request names none. */
function projectFor(t: TokenSpec, project: string | null | undefined): string | null {
  if (t.project === undefined) return project ?? null;
  if (project != null && project !== t.project) throw scope(`project '${project}' (this token is limited to project '${t.project}')`);
  return t.project;
}

function checkKeys(t: TokenSpec, wanted: readonly string[]): void {
  const allowed = t.keys!;
  const outside = wanted.find((k) => !allowed.includes(k));
  if (outside !== undefined) throw scope(`key '${outside}' (this token may read only: ${list(allowed)})`);
}

/**
 * The keys an exec may inject: a token with keys= gets them (or the named ones among them); a
 * prefix cannot be checked against a list, as with getselected. The command is checked where it
 * is resolved (exec.ts, allowedCommand).
 */
function execSelection(t: TokenSpec, only: string[] | undefined, prefix: string | undefined): string[] | undefined {
  if (!t.keys) return only;
  if (prefix !== undefined && !only) throw scope(`this token may use only named keys (${list(t.keys)}); a prefix needs --only with them`);
  if (!only) return [...t.keys];
  checkKeys(t, only);
  return only;
}

/**
 * Checks a request against its token and returns it with the project resolved for a scoped
 * token. Throws token_required (no or unknown token), token_expired, or token_scope.
 */
export function authorize<R extends Request>(t: TokenSpec | undefined, req: R, now: number): R {
  if (!t) throw new ProtocolError('token_required', 'token required or invalid');
  if (t.expiresAt !== undefined && now >= t.expiresAt) {
    throw new ProtocolError('token_expired', `token expired at ${new Date(t.expiresAt).toISOString()} (token_id ${t.id}); ask for a new one`);
  }
  // The agent answers lock (and unlock) before the token gate, for its own uid without a token only.
  if (req.op === 'lock') throw new ProtocolError('permission_denied', 'a capability token cannot lock the agent');
  if (req.op === 'stop') {
    if (!isUnrestricted(t)) throw scope('only an unrestricted token (no project, no keys) may stop the agent');
    return req;
  }
  const project = projectFor(t, req.project);
  if (t.execOnly && (req.op === 'get' || req.op === 'getall' || req.op === 'getselected')) {
    throw new ProtocolError(
      'exec_only',
      `this token may run commands with its secrets but not read them (${describeScope(t)}; token_id ${t.id}); use tvault run --broker -- COMMAND`,
    );
  }
  if (req.op === 'exec') return { ...req, project, only: execSelection(t, req.only, req.prefix) };
  // names: metadata only, so an exec-only token may ask; a keys= token names only its keys
  // (the agent leaves the others out of the answer), and asking for another is refused.
  if (req.op === 'names') {
    if (t.keys && req.only) checkKeys(t, req.only);
    return { ...req, project };
  }
  if (t.keys) {
    if (req.op === 'get') checkKeys(t, [req.key]);
    else if (req.op === 'getall')
      throw scope(`this token may read only named keys (${list(t.keys)}); ask for them by name, e.g. tvault env --only ${t.keys.join(',')}`);
    else if (req.op === 'getselected') {
      // A prefix alone would return whatever matches: only an explicit list can be checked.
      if (!req.only) throw scope(`this token may read only named keys (${list(t.keys)}); a prefix needs --only with them`);
      checkKeys(t, req.only);
    }
  }
  // Object.assign, not { ...req, project }: under load V8 promoted what such a clone referenced
  // to the old generation, lengthening every GC pause (see audit-queue.ts's record). req is
  // parseRequest's object of named fields, so no own `__proto__` key reaches Object.assign's set.
  return Object.assign({}, req, { project });
}

// The one check of "is this file or directory private enough to trust": its type, its owner and
// the permission bits of group and others. Every place that trusts a path (the vault directory,
// the token file, a passphrase file, the agent's files, its log, the delegate directory, the
// client's socket directory) states its rule as a PrivacyRule and calls this; the rules differ
// on purpose (a socket directory may be traversable, a token file may not even be readable),
// the check and the wording of its refusals do not. Loads nothing heavy: the fast path uses it.
import { TvaultError } from './errors';

export interface PrivacyRule {
  /** What the path must be. */
  type?: 'directory' | 'file' | 'socket';
  /** Permission bits that group and others must not hold: 0o077 none at all, 0o022 no writing. */
  forbid: 0o077 | 0o022;
  /** A root-owned object passes too (a system directory like /run/user holds sockets of ours). */
  rootMayOwn?: boolean;
  /** Another uid's object passes as well (a delegate dials the agent user's directory). */
  anyOwner?: boolean;
}

/** The first thing wrong with an object under a rule. */
export type PrivacyFinding =
  { problem: 'type'; expected: NonNullable<PrivacyRule['type']> } | { problem: 'owner'; uid: number } | { problem: 'mode'; mode: number };

interface StatLike {
  uid: number;
  mode: number;
  isDirectory(): boolean;
  isFile(): boolean;
  isSocket(): boolean;
}

const myUid = (): number | undefined => process.getuid?.();

/** The permission bits as four octal digits: 0700, 0644. */
export const octalMode = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/** Checks a stat result (of the object in hand: fstat an open fd rather than stat a path). */
export function privacyFinding(st: StatLike, rule: PrivacyRule): PrivacyFinding | null {
  const t = rule.type;
  if (t && !(t === 'directory' ? st.isDirectory() : t === 'file' ? st.isFile() : st.isSocket())) return { problem: 'type', expected: t };
  const me = myUid();
  if (me !== undefined && !rule.anyOwner && st.uid !== me && !(rule.rootMayOwn && st.uid === 0)) return { problem: 'owner', uid: st.uid };
  if (st.mode & rule.forbid) return { problem: 'mode', mode: st.mode };
  return null;
}

/** Who the message is about, and what to tell the user. */
export interface PrivacySubject {
  /** What it is: 'vault directory', 'token file'. */
  what: string;
  path: string;
  /** The mode to chmod to (or `go-w`); default: what the rule leaves (0700 for a directory, 0600 else). */
  chmod?: string;
  /** Why the rule matters, said after the mode: ", who could replace the socket". */
  why?: string;
  /** The whole remedy after the mode, when it says more than "fix it with: chmod ...". */
  remedy?: string;
}

/**
 * The refusal, one shape for every rule:
 *   `<what> <path> is not a <type>`
 *   `<what> <path> is owned by uid U, not by you (uid ME); refusing to use it`
 *   `<what> <path> is accessible|writable by group or others (mode 0750)<why>; fix it with: chmod 700 <path>` (a directory)
 *   `<what> <path> has mode 0644<why>; <remedy or: fix it with: chmod 600 <path>>` (anything else)
 */
export function privacyMessage(s: PrivacySubject, f: PrivacyFinding, rule: PrivacyRule): string {
  const subject = `${s.what} ${s.path}`;
  if (f.problem === 'type') return `${subject} is not a ${f.expected === 'file' ? 'regular file' : f.expected}`;
  if (f.problem === 'owner') return `${subject} is owned by uid ${f.uid}, not by you (uid ${myUid()}); refusing to use it`;
  const noWrite = rule.forbid === 0o022;
  const dir = rule.type === 'directory';
  const remedy = s.remedy ?? `fix it with: chmod ${s.chmod ?? (noWrite ? 'go-w' : dir ? '700' : '600')} ${s.path}`;
  const mode = octalMode(f.mode);
  const found = dir ? `is ${noWrite ? 'writable' : 'accessible'} by group or others (mode ${mode})` : `has mode ${mode}`;
  return `${subject} ${found}${s.why ?? ''}; ${remedy}`;
}

/** Throws a one-line TvaultError (exit 1) when the object breaks the rule. */
export function checkPrivate(st: StatLike, s: PrivacySubject, rule: PrivacyRule): void {
  const f = privacyFinding(st, rule);
  if (f) throw new TvaultError(privacyMessage(s, f, rule));
}

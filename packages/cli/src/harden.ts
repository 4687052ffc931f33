// The CLI holds the passphrase, the KEK and values (for the whole life of `tvault run`), so it
// hardens itself as the agent does, before anything reads a secret: this module is the first
// import of the entry (fast.ts), and runs once per process. What it does and does not protect
// against is in docs/SECURITY.md.
import { writeSync } from 'node:fs';
import { TvaultError } from '@tvault/core/base';
import { nativeAddon } from './native-addon';

export interface Hardening {
  /** Non-dumpable with no core files (Linux), or the platform's best (macOS): secrets may be handled. */
  ok: boolean;
  /** Why not, for the refusal. */
  why?: string;
  /** The caller's soft core limit, given back to a `tvault run` child. */
  coreSoftBefore?: number;
}

/** Set by the entry bundle, read by the full CLI (a separate bundle) in the same process. */
interface HardeningMemo {
  tvaultHardening?: Hardening;
}

/** Variables whose values must not stay in the environment block that /proc/PID/environ shows. */
const SECRET_VARS = ['TVAULT_PASSPHRASE', 'TVAULT_NEW_PASSPHRASE', 'TVAULT_AGENT_TOKEN', 'TVAULT_IDENTITY_KEY'];

/**
 * Whether a Node inspector (an unauthenticated debugger on localhost) is open in this process.
 * Loading node:inspector costs several ms, so only when a flag could have opened one.
 */
function inspectorOpen(): boolean {
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  if (!flags.includes('--inspect') && !flags.includes('--debug')) return false;
  return !!(require('node:inspector') as typeof import('node:inspector')).url();
}

function harden(): Hardening {
  let native: typeof import('@tvault/native');
  try {
    native = nativeAddon();
  } catch (err) {
    return { ok: false, why: `its native addon did not load (${(err as Error).message.split('\n')[0]})` };
  }
  // The soft core limit only: a `tvault run` child gets the caller's limit back (run.ts).
  const h = native.harden(true);
  // Values are copied to the heap (getenv and process.env still see them) and wiped where
  // /proc/PID/environ reads them, which a `tvault run` child could otherwise read of its parent.
  native.scrubEnv(SECRET_VARS);
  const ok = process.platform !== 'linux' || (h.dumpable && h.coreLimit);
  return { ok, why: ok ? undefined : 'PR_SET_DUMPABLE or RLIMIT_CORE failed', coreSoftBefore: h.coreSoftBefore };
}

/** Hardens this process once; refuses (exit 1) to go on with an inspector open. */
export function hardenProcess(): Hardening {
  const memo = globalThis as HardeningMemo;
  if (memo.tvaultHardening) return memo.tvaultHardening;
  // Node answers SIGUSR1 by opening its inspector; a listener of our own replaces that.
  // `run` forwards SIGUSR1 to its child instead.
  process.on('SIGUSR1', () => {});
  if (process.platform !== 'win32' && inspectorOpen()) {
    writeSync(
      2,
      'tvault: the Node inspector is active in this process (--inspect, or NODE_OPTIONS); tvault refuses to handle secrets where a debugger can read them\n',
    );
    process.exit(1);
  }
  memo.tvaultHardening = process.platform === 'win32' ? { ok: true } : harden();
  return memo.tvaultHardening;
}

/** Throws unless this process is hardened: called before a passphrase is read. */
export function requireHardened(): void {
  const h = hardenProcess();
  if (!h.ok) throw new TvaultError(`refusing to read the passphrase: this process cannot be protected from debuggers and core dumps (${h.why})`);
}

/** Gives a child about to be spawned the caller's core limit; returns a function that takes it back. */
export function childCoreLimit(): () => void {
  const h = hardenProcess();
  if (!h.ok || h.coreSoftBefore === undefined || h.coreSoftBefore === 0) return () => {};
  const native = nativeAddon();
  native.setCoreLimit(h.coreSoftBefore);
  return () => native.setCoreLimit(0);
}

hardenProcess();

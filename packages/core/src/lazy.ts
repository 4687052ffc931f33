// Heavy and native modules are loaded on first use, never at start-up, so that the CLI's
// agent path (a Node start, a connect, one line of JSON) does not pay for them.
// The bundler keeps these modules external; require() resolves them from node_modules.
import type BetterSqlite3 from 'better-sqlite3';
import type * as Nacl from 'tweetnacl';
import { join } from 'node:path';
import type * as Age from './age';

let sqlite: typeof BetterSqlite3 | undefined;
let nacl: typeof Nacl | undefined;
let age: typeof Age | undefined;
let sodium: Sodium | null | undefined;

/** What tvault uses of sodium-native (which ships no types): libsodium's crypto_secretbox. */
export interface Sodium {
  /** c = MAC(16) || ciphertext; c.length = m.length + 16. */
  crypto_secretbox_easy(c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  /** m.length = c.length - 16; false when the MAC does not verify. */
  crypto_secretbox_open_easy(m: Uint8Array, c: Uint8Array, n: Uint8Array, k: Uint8Array): boolean;
}

export function loadSqlite(): typeof BetterSqlite3 {
  return (sqlite ??= require('better-sqlite3'));
}

export function loadNacl(): typeof Nacl {
  return (nacl ??= require('tweetnacl'));
}

/**
 * libsodium through sodium-native (its prebuilt binary), or null where it does not load (no
 * prebuild for this platform, a foreign libc): the caller then keeps tweetnacl. ~25 ms to load,
 * so only a long-lived reader asks for it (crypto.ts, useNativeSecretbox).
 */
export function loadSodium(): Sodium | null {
  if (sodium === undefined) {
    try {
      sodium = require('sodium-native') as Sodium;
    } catch {
      sodium = null;
    }
  }
  return sodium;
}

/**
 * The age format (age.ts), its own bundle next to the one that loads this module (dist/age.cjs):
 * only the identity commands and reads by identity pay for it.
 */
export function loadAge(): typeof Age {
  return (age ??= require(join(__dirname, 'age.cjs')) as typeof Age);
}

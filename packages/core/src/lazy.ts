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

export function loadSqlite(): typeof BetterSqlite3 {
  return (sqlite ??= require('better-sqlite3'));
}

export function loadNacl(): typeof Nacl {
  return (nacl ??= require('tweetnacl'));
}

/**
 * The age format (age.ts), its own bundle next to the one that loads this module (dist/age.cjs):
 * only the identity commands and reads by identity pay for it.
 */
export function loadAge(): typeof Age {
  return (age ??= require(join(__dirname, 'age.cjs')) as typeof Age);
}

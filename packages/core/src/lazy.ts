// Heavy and native modules are loaded on first use, never at start-up, so that the CLI's
// agent path (a Node start, a connect, one line of JSON) does not pay for them.
// The bundler keeps these modules external; require() resolves them from node_modules.
import type BetterSqlite3 from 'better-sqlite3';
import type * as Nacl from 'tweetnacl';

let sqlite: typeof BetterSqlite3 | undefined;
let nacl: typeof Nacl | undefined;

export function loadSqlite(): typeof BetterSqlite3 {
  return (sqlite ??= require('better-sqlite3'));
}

export function loadNacl(): typeof Nacl {
  return (nacl ??= require('tweetnacl'));
}

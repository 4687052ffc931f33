// `tvault audit`: read the audit trail (names and actors, never values) and verify its chain.
import { type AuditFilter, type AuditRow, ExitCode, TvaultError } from '@tvault/core';
import type { Y } from './argv';
import { parseSince } from '../flags';
import { isoTime, printJson, printTable } from '../output';
import { type GlobalArgs, Session } from '../session';

interface AuditArgs extends GlobalArgs {
  since?: string;
  op?: string;
  follow?: boolean;
}

function filter(a: AuditArgs, afterId: number): AuditFilter {
  return { afterId, since: a.since ? parseSince(a.since) : undefined, project: a.project, op: a.op };
}

function view(r: AuditRow) {
  return {
    id: r.id,
    time: isoTime(r.ts),
    op: r.op,
    ok: !!r.ok,
    project: r.project,
    keys: r.keys ? (JSON.parse(r.keys) as string[]) : [],
    via: r.via,
    uid: r.uid,
    pid: r.pid,
    token_id: r.token_id,
    detail: r.detail,
  };
}

function print(rows: AuditRow[], json: boolean, header: boolean): void {
  const views = rows.map(view);
  if (json) {
    for (const v of views) process.stdout.write(JSON.stringify(v) + '\n');
    return;
  }
  printTable(
    views.map((v) => [
      v.time,
      v.op,
      v.ok ? 'ok' : 'FAILED',
      v.project ?? '-',
      v.keys.join(',') || '-',
      `${v.via} uid=${v.uid ?? '?'} pid=${v.pid ?? '?'}${v.token_id ? ` token=${v.token_id}` : ''}`,
    ]),
    header ? ['TIME', 'OP', 'RESULT', 'PROJECT', 'KEYS', 'ACTOR'] : undefined,
  );
}

async function list(a: AuditArgs): Promise<void> {
  const vault = new Session(a).openVault();
  try {
    let last = 0;
    let first = true;
    for (;;) {
      const rows = vault.auditRows(filter(a, last));
      if (rows.length || first) print(rows, !!a.json, first);
      if (rows.length) last = rows[rows.length - 1].id;
      first = false;
      if (!a.follow) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    vault.close();
  }
}

async function verify(a: GlobalArgs): Promise<void> {
  const s = new Session(a);
  await s.withUnlocked((vault, kek) => {
    const r = vault.verifyAudit(kek);
    if (a.json) printJson(r);
    if (!r.ok) throw new TvaultError(`audit chain broken at row ${r.id}: ${r.reason}`, ExitCode.INTEGRITY);
    if (!a.json) {
      process.stdout.write(`audit chain intact: ${r.rows} rows, head ${r.head}\n`);
      if (r.unkeyed)
        process.stdout.write(
          `${r.unkeyed} rows carry no MAC (failed unlocks, project switches, backups, token file edits, agent stops, or rows older than the vault's audit key): chained, not authenticated\n`,
        );
    }
  });
}

export function auditCommands(y: Y): Y {
  return y.command('audit', 'show the audit trail (names and actors, never values); audit verify checks it', (c: Y): Y =>
    c
      .command(
        '$0',
        'show the audit trail',
        (l: Y): Y =>
          l
            .option('since', { type: 'string', describe: 'a duration back from now (1h, 7d) or an ISO time' })
            .option('op', { type: 'string', describe: 'only this operation (e.g. get, set, unlock, agent)' })
            .option('follow', { alias: 'f', type: 'boolean', describe: 'keep printing new rows' })
            .example('tvault audit --since 1h --op get', '')
            .example('tvault audit --json --follow', ''),
        list,
      )
      .command('verify', 'check the hash chain and its authentication (needs the passphrase)', (v: Y): Y => v.example('tvault audit verify', ''), verify),
  );
}

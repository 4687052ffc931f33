// Commands on the secrets of one project: set, get, list, delete, history, rollback, search.
import type { Y } from './argv';
import { checkKeyName, usageError } from '@tvault/core';
import { valueReader } from '../input';
import { isoTime, printJson, printTable, warn, writeValue } from '../output';
import { type GlobalArgs, IDENTITY_OPTION, Session } from '../session';
import { warnIfDangerous } from '../dangerous-env';

type A<T> = GlobalArgs & T;

export function secretCommands(y: Y): Y {
  return y
    .command(
      'set <key> [value]',
      'store a secret (the value comes from a hidden prompt, --stdin or -f FILE)',
      (c: Y): Y =>
        c
          .positional('key', { type: 'string', demandOption: true })
          .positional('value', { type: 'string', describe: 'discouraged: lands in shell history and ps' })
          .option('stdin', { type: 'boolean', describe: 'read the value from stdin (one trailing newline, as echo adds, is dropped)' })
          .option('file', { alias: 'f', type: 'string', describe: 'read the value from a file, byte for byte (a final newline is kept)' })
          .option('keep-newline', { type: 'boolean', describe: 'keep the trailing newline from --stdin too' })
          .example('printf %s "$TOKEN" | tvault set API_TOKEN --stdin', 'echo "$TOKEN" | ... stores the same value')
          .example('tvault set SSH_KEY -f ~/.ssh/id_ed25519', "exactly the file's bytes"),
      async (a: A<{ key: string; value?: string; stdin?: boolean; file?: string; keepNewline?: boolean }>) => {
        checkKeyName(a.key); // before any warning, so that a bad name gets one line of error
        const s = new Session(a);
        const source = valueReader({ stdin: a.stdin, file: a.file, value: a.value, keepNewline: a.keepNewline, name: a.key });
        if (a.value !== undefined) warn('a value given as an argument lands in your shell history and is visible in ps; prefer --stdin or the prompt');
        warnIfDangerous(a.key);
        // A typed value is asked for after the passphrase, so that a wrong passphrase loses nothing.
        let value = source.prompted ? undefined : await source.read();
        try {
          await s.withUnlocked(async (vault, kek) => {
            const project = s.project(vault);
            value ??= await source.read();
            const [r] = vault.setSecrets(kek, project, [{ name: a.key, value }]);
            if (a.json) printJson({ project, key: a.key, version: r.version });
            else process.stderr.write(`set ${a.key} in ${project} (version ${r.version})\n`);
          });
        } finally {
          value?.fill(0);
        }
      },
    )
    .command(
      'get <key>',
      'print a secret',
      (c: Y): Y =>
        c
          .positional('key', { type: 'string', demandOption: true })
          .option('raw', { type: 'boolean', describe: 'print the value exactly, without a trailing newline' })
          .option('identity', IDENTITY_OPTION)
          .example('tvault get DATABASE_URL', '')
          .example('tvault get -p backend API_KEY --raw | pbcopy', ''),
      async (a: A<{ key: string; raw?: boolean }>) => {
        writeValue(a.key, await new Session(a).readSecret(a.key), a);
      },
    )
    .command(
      ['list', 'ls'],
      'list secret names and metadata (never values)',
      (c: Y): Y => c.option('prefix', { type: 'string' }).example('tvault list --json', ''),
      (a: A<{ prefix?: string }>) => {
        const s = new Session(a);
        const vault = s.openVault();
        try {
          const project = s.project(vault);
          const rows = vault.list(project, { prefix: a.prefix });
          if (a.json) return printJson({ project, secrets: rows.map((r) => ({ ...r, created_at: isoTime(r.created_at), updated_at: isoTime(r.updated_at) })) });
          printTable(
            rows.map((r) => [r.name, String(r.version), isoTime(r.updated_at)]),
            ['NAME', 'VERSION', 'UPDATED'],
          );
        } finally {
          vault.close();
        }
      },
    )
    .command(
      ['delete <key>', 'rm <key>'],
      'delete a secret (its history stays; --purge erases it)',
      (c: Y): Y =>
        c
          .positional('key', { type: 'string', demandOption: true })
          .option('purge', { type: 'boolean', describe: 'erase the secret and every past version' })
          .example('tvault delete OLD_TOKEN', ''),
      async (a: A<{ key: string; purge?: boolean }>) => {
        const s = new Session(a);
        // A delete needs no value key, but it is a write: unlocking proves the caller may write,
        // and the key authenticates its audit row.
        await s.withUnlocked((vault, kek) => {
          const project = s.project(vault);
          vault.deleteSecret(project, a.key, !!a.purge, kek);
          if (a.json) printJson({ project, key: a.key, deleted: true, purged: !!a.purge });
          else process.stderr.write(`${a.purge ? 'purged' : 'deleted'} ${a.key} from ${project}\n`);
        });
      },
    )
    .command(
      'history <key>',
      'show the versions of a secret',
      (c: Y): Y => c.positional('key', { type: 'string', demandOption: true }).example('tvault history API_KEY', ''),
      (a: A<{ key: string }>) => {
        const s = new Session(a);
        const vault = s.openVault();
        try {
          const project = s.project(vault);
          const rows = vault.history(project, a.key);
          if (a.json) return printJson({ project, key: a.key, versions: rows.map((r) => ({ ...r, created_at: isoTime(r.created_at) })) });
          printTable(
            rows.map((r) => [String(r.version), r.op, isoTime(r.created_at), r.current ? 'current' : '']),
            ['VERSION', 'CHANGE', 'WHEN', ''],
          );
        } finally {
          vault.close();
        }
      },
    )
    .command(
      'rollback <key>',
      'make an earlier version current again (as a new version)',
      (c: Y): Y =>
        c
          .positional('key', { type: 'string', demandOption: true })
          .option('to', { type: 'number', demandOption: true, describe: 'the version to restore' })
          .example('tvault rollback API_KEY --to 2', ''),
      async (a: A<{ key: string; to: number }>) => {
        if (!Number.isInteger(a.to) || a.to < 1) throw usageError('--to must be a version number (see tvault history KEY)');
        const s = new Session(a);
        await s.withUnlocked((vault, kek) => {
          const project = s.project(vault);
          const v = vault.rollback(kek, project, a.key, a.to);
          if (a.json) printJson({ project, key: a.key, restored: a.to, version: v });
          else process.stderr.write(`restored ${a.key} to version ${a.to} (now version ${v})\n`);
        });
      },
    )
    .command(
      'search [pattern]',
      'find secrets by name: a word they contain, or a pattern with * and ? (case-insensitive)',
      (c: Y): Y =>
        c
          .positional('pattern', { type: 'string', describe: 'a part of the name (token), or a pattern with * and ? (*_TOKEN)' })
          .option('prefix', { type: 'string', describe: 'names starting with this (case-sensitive)' })
          .option('name-like', { type: 'string', describe: 'the same as PATTERN' })
          .example('tvault search token', 'every name containing token, TOKEN, Token...')
          .example('tvault search "*_KEY"', 'names ending in _KEY'),
      (a: A<{ pattern?: string; prefix?: string; nameLike?: string }>) => {
        if (a.pattern !== undefined && a.nameLike !== undefined) throw usageError('give the pattern once: as a word or with --name-like');
        const nameLike = a.pattern ?? a.nameLike;
        if (a.prefix === undefined && !nameLike) throw usageError('give a pattern (tvault search token) or --prefix');
        const s = new Session(a);
        const vault = s.openVault();
        try {
          const project = s.project(vault);
          const rows = vault.search(project, { prefix: a.prefix, nameLike });
          if (a.json) return printJson({ project, secrets: rows.map((r) => ({ ...r, created_at: isoTime(r.created_at), updated_at: isoTime(r.updated_at) })) });
          printTable(
            rows.map((r) => [r.name, String(r.version), isoTime(r.updated_at)]),
            ['NAME', 'VERSION', 'UPDATED'],
          );
        } finally {
          vault.close();
        }
      },
    );
}

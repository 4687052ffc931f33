// `tvault identity`: this vault's age identities (X25519 key pairs). The private keys are sealed
// under the KEK in vault.db; a plaintext key exists only where `identity export` writes it.
// Projects are shared with an identity's recipient (age1…) by `tvault projects share`.
import { isatty } from 'node:tty';
import { readFileSync } from 'node:fs';
import { TvaultError, errnoText, parseIdentityText, readIdentityFile, usageError } from '@tvault/core';
import { type Y, unknownCommand } from './argv';
import { isoTime, printJson, printTable, warn, writeStdoutSync } from '../output';
import { type GlobalArgs, Session } from '../session';

type A<T> = GlobalArgs & T;

/** The key to import: -f FILE, --stdin, never an argument (it would land in shell history and ps). */
function importedKey(a: { file?: string; stdin?: boolean }): Buffer {
  if ((a.file !== undefined) === !!a.stdin) throw usageError('give the identity one way: -f FILE (e.g. from age-keygen) or --stdin');
  if (a.file !== undefined) {
    const { key, warning } = readIdentityFile(a.file);
    if (warning) warn(warning);
    return key;
  }
  let text: Buffer;
  try {
    text = readFileSync(0);
  } catch (err) {
    throw new TvaultError(`cannot read stdin: ${errnoText(err)}`);
  }
  try {
    return parseIdentityText(text, 'stdin');
  } finally {
    text.fill(0);
  }
}

async function newIdentity(a: A<{ name: string; file?: string; stdin?: boolean }>, imported: boolean) {
  const key = imported ? importedKey(a) : undefined;
  try {
    await new Session(a).withUnlocked(async (vault, kek) => {
      const id = await vault.addIdentity(kek, a.name, key);
      if (a.json) printJson({ name: id.name, recipient: id.recipient, created_at: isoTime(id.created_at) });
      else {
        process.stdout.write(`${id.recipient}\n`);
        process.stderr.write(`${imported ? 'imported' : 'created'} identity ${id.name}; share a project with it: tvault projects share ${id.name}\n`);
      }
    });
  } finally {
    key?.fill(0);
  }
}

export function identityCommands(y: Y): Y {
  return y
    .example('tvault identity new ci && tvault projects share ci', '')
    .command(
      'new <name>',
      'create an age X25519 identity (its private key sealed in the vault)',
      (c: Y): Y => c.positional('name', { type: 'string', demandOption: true }).example('tvault identity new laptop', ''),
      (a: A<{ name: string }>) => newIdentity(a, false),
    )
    .command(
      'import <name>',
      'add an existing age identity (e.g. from age-keygen) from a file or stdin',
      (c: Y): Y =>
        c
          .positional('name', { type: 'string', demandOption: true })
          .option('file', { alias: 'f', type: 'string', describe: 'an age identity file (AGE-SECRET-KEY-1…; # comments are skipped)' })
          .option('stdin', { type: 'boolean', describe: 'read the identity from stdin' })
          .example('tvault identity import me -f ~/.config/age/key.txt', ''),
      (a: A<{ name: string; file?: string; stdin?: boolean }>) => newIdentity(a, true),
    )
    .command(
      ['list', 'ls'],
      "list this vault's identities (name, recipient, created; never a private key)",
      (c: Y): Y => c.example('tvault identity list --json', ''),
      (a: GlobalArgs) => {
        const vault = new Session(a).openVault();
        try {
          const rows = vault.listIdentities();
          if (a.json) return printJson(rows.map((r) => ({ name: r.name, recipient: r.recipient, created_at: isoTime(r.created_at) })));
          printTable(
            rows.map((r) => [r.name, r.recipient, isoTime(r.created_at)]),
            ['NAME', 'RECIPIENT', 'CREATED'],
          );
        } finally {
          vault.close();
        }
      },
    )
    .command(
      'show <name>',
      "print an identity's recipient (age1…), to give to whoever shares with it",
      (c: Y): Y => c.positional('name', { type: 'string', demandOption: true }).example('tvault identity show laptop', ''),
      (a: A<{ name: string }>) => {
        const vault = new Session(a).openVault();
        try {
          const id = vault.identity(a.name);
          if (a.json) printJson({ name: id.name, recipient: id.recipient });
          else process.stdout.write(`${id.recipient}\n`);
        } finally {
          vault.close();
        }
      },
    )
    .command(
      'export <name>',
      "print an identity's private key (only to a terminal, or with --force): a credential",
      (c: Y): Y =>
        c
          .positional('name', { type: 'string', demandOption: true })
          .option('force', { type: 'boolean', describe: 'write it to a pipe or file too (for a CI secret store)' })
          .example('tvault identity export ci --force | gh secret set TVAULT_IDENTITY_KEY', ''),
      async (a: A<{ name: string; force?: boolean }>) => {
        if (!a.force && !isatty(1))
          throw usageError(`identity export writes a private key; standard output is not a terminal, so add --force to write it to a pipe or file`);
        await new Session(a).withUnlocked((vault, kek) => {
          const key = vault.exportIdentity(kek, a.name);
          try {
            writeStdoutSync(`${key.toString('latin1')}\n`);
          } finally {
            key.fill(0);
          }
        });
      },
    )
    .command(
      'delete <name>',
      "delete an identity's key from this vault (projects shared with it stay shared: unshare them)",
      (c: Y): Y => c.positional('name', { type: 'string', demandOption: true }).example('tvault identity delete old-laptop', ''),
      async (a: A<{ name: string }>) => {
        await new Session(a).withUnlocked((vault, kek) => {
          const id = vault.deleteIdentity(kek, a.name);
          const still = vault.unmatchedRecipients().filter((r) => r.recipient === id.recipient);
          if (a.json) printJson({ deleted: id.name, recipient: id.recipient, still_shared: still.map((r) => r.project) });
          else process.stderr.write(`deleted identity ${id.name}\n`);
          if (still.length)
            warn(`${id.recipient} can still read ${still.map((r) => r.project).join(', ')}; to revoke it: tvault projects unshare -p PROJECT ${id.recipient}`);
        });
      },
    )
    .command(...unknownCommand(y, 'give an identity subcommand: new, import, list, show, export or delete', 'identity'));
}

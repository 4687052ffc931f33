// Projects: each has its own data key; `use` sets the vault's current project.
import { type Y, unknownCommand } from './argv';
import { usageError } from '@tvault/core';
import { isoTime, printJson, printTable } from '../output';
import { type GlobalArgs, Session } from '../session';

type A<T> = GlobalArgs & T;

async function useProject(a: A<{ name: string }>) {
  const s = new Session(a);
  const vault = s.openVault();
  try {
    vault.useProject(a.name);
    if (a.json) printJson({ current: a.name });
    else process.stderr.write(`now using project ${a.name}\n`);
  } finally {
    vault.close();
  }
}

export function projectCommands(y: Y): Y {
  return y
    .command('projects', 'create, list, use, delete and share projects', (p: Y): Y =>
      p
        .example('tvault projects create backend && tvault use backend', '')
        .command(
          'create <name>',
          'create a project with its own data key',
          (c: Y): Y => c.positional('name', { type: 'string', demandOption: true }).example('tvault projects create backend', ''),
          async (a: A<{ name: string }>) => {
            const s = new Session(a);
            await s.withUnlocked((vault, kek) => {
              vault.createProject(kek, a.name);
              if (a.json) printJson({ created: a.name });
              else process.stderr.write(`created project ${a.name}\n`);
            });
          },
        )
        .command(
          ['list', 'ls'],
          'list projects',
          (c: Y): Y => c.example('tvault projects list --json', ''),
          (a: GlobalArgs) => {
            const s = new Session(a);
            const vault = s.openVault();
            try {
              const current = vault.currentProject();
              const rows = vault.listProjects();
              if (a.json)
                return printJson(rows.map((r) => ({ name: r.name, secrets: r.secrets, created_at: isoTime(r.created_at), current: r.name === current })));
              printTable(
                rows.map((r) => [r.name === current ? `* ${r.name}` : `  ${r.name}`, String(r.secrets), isoTime(r.created_at)]),
                ['  NAME', 'SECRETS', 'CREATED'],
              );
            } finally {
              vault.close();
            }
          },
        )
        .command(
          'use <name>',
          'make a project the current one',
          (c: Y): Y => c.positional('name', { type: 'string', demandOption: true }).example('tvault projects use backend', ''),
          useProject,
        )
        .command(
          'delete <name>',
          'delete a project and all its secrets (not the current one: tvault use another first)',
          (c: Y): Y =>
            c
              .positional('name', { type: 'string', demandOption: true })
              .option('yes', { type: 'boolean', describe: 'confirm: every secret of the project is erased' })
              .example('tvault projects delete old-app --yes', ''),
          async (a: A<{ name: string; yes?: boolean }>) => {
            if (!a.yes) throw usageError(`deleting project '${a.name}' erases all its secrets; add --yes to confirm`);
            const s = new Session(a);
            await s.withUnlocked((vault, kek) => {
              vault.deleteProject(a.name, kek);
              if (a.json) printJson({ deleted: a.name });
              else process.stderr.write(`deleted project ${a.name}\n`);
            });
          },
        )
        .command(
          'share <recipient>',
          "wrap the project's key to an age recipient (age1…, or an identity of this vault)",
          (c: Y): Y => c.positional('recipient', { type: 'string', demandOption: true }).example('tvault projects share -p backend age1…', ''),
          async (a: A<{ recipient: string }>) => {
            const s = new Session(a);
            await s.withUnlocked(async (vault, kek) => {
              const project = s.project(vault);
              const recipient = await vault.share(kek, project, a.recipient);
              if (a.json) printJson({ project, shared: recipient });
              else process.stderr.write(`shared project ${project} with ${recipient}\n`);
            });
          },
        )
        .command(
          'recipients',
          'list who can read the project: the passphrase and each age recipient (no unlock)',
          (c: Y): Y => c.example('tvault projects recipients -p backend --json', ''),
          (a: GlobalArgs) => {
            const s = new Session(a);
            const vault = s.openVault();
            try {
              const project = s.project(vault);
              const rows = vault.recipients(project);
              if (a.json)
                return printJson({
                  project,
                  recipients: rows.map((r) => ({ recipient: r.recipient, identity: r.identity, created_at: isoTime(r.created_at) })),
                });
              printTable(
                rows.map((r) => [r.recipient, r.identity ?? (r.recipient === 'passphrase' ? '' : '-'), isoTime(r.created_at)]),
                ['RECIPIENT', 'IDENTITY', 'SINCE'],
              );
            } finally {
              vault.close();
            }
          },
        )
        .command(
          'unshare <recipient>',
          'take a recipient off: a new project key, every value and past version sealed again, in one transaction',
          (c: Y): Y => c.positional('recipient', { type: 'string', demandOption: true }).example('tvault projects unshare -p backend laptop', ''),
          async (a: A<{ recipient: string }>) => {
            const s = new Session(a);
            await s.withUnlocked(async (vault, kek) => {
              const project = s.project(vault);
              const r = await vault.unshare(kek, project, a.recipient);
              if (a.json) printJson({ project, unshared: r.recipient, reencrypted: r.versions });
              else
                process.stderr.write(
                  `unshared project ${project} from ${r.recipient}: new project key, ${r.versions} values re-encrypted; rotate the credentials it could read\n`,
                );
            });
          },
        )
        .command(...unknownCommand(p, 'give a projects subcommand: create, list, use, delete, share, recipients or unshare', 'projects')),
    )
    .command(
      'use <name>',
      'make a project the current one (same as projects use)',
      (c: Y): Y => c.positional('name', { type: 'string', demandOption: true }).example('tvault use backend', ''),
      useProject,
    );
}

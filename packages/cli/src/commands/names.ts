// Allowing dangerous names per project: `tvault allow-name NAME...`, `--list`, `--remove`.
// The list lives in the vault (core/allowed-names.ts), MACed under the KEK and audited, so
// every change and every listing needs the passphrase; `run` and the applied `env` formats
// read it through the same unlock or the agent (dangerous-env.ts).
import type { Y } from './argv';
import { usageError } from '@tvault/core';
import { isDangerous } from '@tvault/core/env-format';
import { printJson, warn } from '../output';
import { type GlobalArgs, Session } from '../session';

type Args = GlobalArgs & { names?: string[]; list?: boolean; remove?: boolean };

async function allowName(a: Args) {
  const names = (a.names ?? []).flatMap((n) => String(n).split(',')).filter(Boolean);
  if (a.list && (names.length || a.remove)) throw usageError('--list takes no names: tvault allow-name --list');
  if (!a.list && !names.length) throw usageError('name the variables to allow: tvault allow-name NAME... (or --list, --remove NAME)');
  const s = new Session(a);
  await s.withUnlocked((vault, kek) => {
    const project = s.project(vault);
    if (a.list) {
      const allowed = vault.allowedNames(kek, project);
      if (a.json) return printJson({ project, allowed });
      process.stdout.write(allowed.map((n) => `${n}\n`).join(''));
      return;
    }
    const before = new Set(vault.allowedNames(kek, project));
    const after = vault.changeAllowedNames(kek, project, a.remove ? { remove: names } : { add: names });
    if (!a.remove) for (const n of names) if (!isDangerous(n)) warn(`${n} is not a blocked name; allowing it changes nothing`);
    const changed = names.filter((n) => before.has(n) === !!a.remove);
    if (a.json) return printJson({ project, allowed: after, changed });
    const verb = a.remove ? 'no longer allowed' : 'allowed';
    process.stderr.write(
      changed.length
        ? `${changed.join(', ')} ${verb} in ${project} (tvault run and tvault env pass ${a.remove ? 'them no longer' : 'them on'})\n`
        : `nothing changed in ${project}\n`,
    );
  });
}

export function nameCommands(y: Y): Y {
  return y.command(
    'allow-name [names..]',
    'let run and env (shell, fish, github) pass on these dangerous names for the project (kept in the vault, audited)',
    (c: Y): Y =>
      c
        .positional('names', { type: 'string', array: true, describe: 'variable names, e.g. NODE_OPTIONS' })
        .option('list', { type: 'boolean', describe: "print the project's allowed names" })
        .option('remove', { type: 'boolean', describe: 'stop allowing these names' })
        .example('tvault allow-name NODE_OPTIONS', 'tvault run passes NODE_OPTIONS on from now on')
        .example('tvault allow-name --list', '')
        .example('tvault allow-name --remove NODE_OPTIONS', '')
        .epilogue('The dangerous names are those that make a program load code or configuration from their value (docs/SECURITY.md).'),
    allowName,
  );
}

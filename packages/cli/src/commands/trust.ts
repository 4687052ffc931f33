// Trusting a tvault.toml: allow (again after any edit or move) and deny.
import type { Y } from './argv';
import { Vault, noVaultError, usageError } from '@tvault/core';
import { printJson } from '../output';
import { CONFIG_NAME, allow, deny, findConfig } from '../project-config';
import { type GlobalArgs, Session } from '../session';

type A<T> = GlobalArgs & T;

/** The file the user means: the one named, else the nearest one walking up. */
function target(path: string | undefined): string {
  const p = path ?? findConfig();
  if (!p) throw usageError(`no ${CONFIG_NAME} here or in a parent directory`);
  return p;
}

export function trustCommands(y: Y): Y {
  return y
    .command(
      'allow [path]',
      `trust a ${CONFIG_NAME} as it is now (again after any edit or move)`,
      (c: Y): Y => c.positional('path', { type: 'string' }).example('tvault allow', '').example('tvault allow ~/src/app/tvault.toml', ''),
      (a: A<{ path?: string }>) => {
        const s = new Session(a);
        if (!Vault.exists(s.dir)) throw noVaultError(s.dir);
        const path = allow(s.dir, target(a.path));
        if (a.json) printJson({ allowed: path });
        else process.stderr.write(`allowed ${path}\n`);
      },
    )
    .command(
      'deny [path]',
      `stop trusting a ${CONFIG_NAME}`,
      (c: Y): Y => c.positional('path', { type: 'string' }).example('tvault deny', ''),
      (a: A<{ path?: string }>) => {
        const s = new Session(a);
        const path = target(a.path);
        const n = deny(s.dir, path);
        if (a.json) printJson({ denied: path, forgotten: n });
        else process.stderr.write(n ? `denied ${path}\n` : `${path} was not allowed\n`);
      },
    );
}

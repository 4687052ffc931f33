// `tvault agent install|uninstall`: a user service that starts the agent at login (systemd on
// Linux, launchd on macOS). The unit's text is agent-units.ts; the `agent start` flags written
// into it are checked by flags.ts with the rules of `agent start` itself.
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TvaultError, privacyFinding, privacyMessage, resolveVaultDir, writeFileAtomic } from '@tvault/core';
import type { Y } from './argv';
import { type AgentStartFlags, startArgs } from '../flags';
import { printJson } from '../output';
import { PASSPHRASE_FILE } from '../passphrase';
import type { GlobalArgs } from '../session';
import { type UnitTarget, defaultPassphraseFile, nextSteps, platformTarget, renderUnit, stopHint, unitPath } from './agent-units';

type A<T> = GlobalArgs & T;

function target(a: { target?: string }): UnitTarget {
  const t = (a.target as UnitTarget | undefined) ?? platformTarget();
  if (!t) throw new TvaultError(`no service manager support on ${process.platform}; give --target systemd or --target launchd to print a unit`);
  return t;
}

/** What the agent will say about the passphrase file at login, said now instead. */
function passphraseFileWarning(path: string): string | null {
  let st;
  try {
    st = statSync(path);
  } catch {
    return `create the passphrase file first: install -d -m 700 ${join(path, '..')} && install -m 600 /dev/null ${path}, then put the passphrase in it`;
  }
  const f = privacyFinding(st, PASSPHRASE_FILE);
  return f && privacyMessage({ what: 'the passphrase file', path, remedy: `the agent refuses it until: chmod 600 ${path}` }, f, PASSPHRASE_FILE);
}

/** install has no --require-token of its own: a --token-file means it. */
type InstallArgs = Omit<AgentStartFlags, 'requireToken' | 'ioTimeout' | 'locked'> & { target?: string; dryRun?: boolean; passphraseFile?: string };

async function install(a: A<InstallArgs>) {
  const t = target(a);
  const dir = resolveVaultDir(a.vault);
  // Locked at login unless a passphrase file is named; idling wipes the key and keeps the service up.
  const passphraseFile = a.passphraseFile ? resolve(a.passphraseFile) : undefined;
  const args = startArgs({ ...a, requireToken: a.tokenFile !== undefined, locked: !passphraseFile, onIdle: a.onIdle ?? 'lock' });
  const text = renderUnit(t, { vaultDir: dir === resolveVaultDir(undefined, {}) ? undefined : dir, startArgs: args, passphraseFile });
  const path = unitPath(t);
  if (a.dryRun) {
    process.stdout.write(text);
    process.stderr.write(`(dry run: would write ${path})\n`);
    return;
  }
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileAtomic(path, text, 0o644); // a unit half-written, or through a planted link, is never loaded
  if (a.json) printJson({ installed: path, target: t });
  else process.stderr.write(`wrote ${path}\nnext: ${nextSteps(t, path)}${passphraseFile ? '' : ', then tvault unlock'}\n`);
  const warning = passphraseFile && passphraseFileWarning(passphraseFile);
  if (warning) process.stderr.write(`tvault: warning: ${warning}\n`);
}

async function uninstall(a: A<{ target?: string; dryRun?: boolean }>) {
  const t = target(a);
  const path = unitPath(t);
  if (!existsSync(path)) {
    process.stderr.write(`nothing to remove: ${path} does not exist\n`);
    return;
  }
  if (a.dryRun) {
    process.stdout.write(`would remove ${path}\n`);
    return;
  }
  rmSync(path);
  if (a.json) printJson({ removed: path, target: t });
  else process.stderr.write(`removed ${path}\nif it was running, stop it with: ${stopHint(t, path)}\n`);
}

const targetOption = (c: Y): Y =>
  c
    .option('target', { choices: ['systemd', 'launchd'], describe: "service manager (default: this platform's)" })
    .option('dry-run', { type: 'boolean', describe: 'print instead of writing' });

export function serviceCommands(y: Y): Y {
  return y
    .command(
      'install',
      'install a user service that starts the agent at login (systemd on Linux, launchd on macOS)',
      (c: Y): Y =>
        targetOption(c)
          .option('idle', { type: 'string', describe: 'pass --idle to the agent' })
          .option('max-ttl', { type: 'string', describe: 'pass --max-ttl to the agent' })
          .option('log-max-size', { type: 'string', describe: 'pass --log-max-size to the agent' })
          .option('on-idle', { choices: ['lock', 'exit'], describe: 'pass --on-idle to the agent (default: lock, the service keeps running)' })
          .option('passphrase-file', {
            type: 'string',
            describe: `unlock at start from this 0600 file (e.g. ${defaultPassphraseFile()}); without it the agent starts --locked`,
          })
          .option('token-file', { type: 'string', describe: 'start it with --require-token --token-file PATH' })
          .option('allow-uid', { type: 'string', array: true, describe: 'pass --allow-uid UID (repeatable; needs --token-file)' })
          .option('delegate-dir', { type: 'string', describe: 'pass --delegate-dir DIR (needs --token-file)' })
          .example('tvault agent install --dry-run', 'print the unit: it starts --locked --on-idle lock, and tvault unlock warms it')
          .example('tvault agent install --token-file ~/.tvault/agent-tokens --allow-uid 1001 --delegate-dir /srv/tvault', 'a unit that serves a delegate')
          .example('tvault agent install --idle 1h && systemctl --user daemon-reload && systemctl --user enable --now tvault-agent', ''),
      install,
    )
    .command(
      'uninstall',
      'remove the user service written by install',
      (c: Y): Y => targetOption(c).example('tvault agent uninstall', 'after: systemctl --user disable --now tvault-agent'),
      uninstall,
    );
}

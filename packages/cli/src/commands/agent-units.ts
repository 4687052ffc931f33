// Service definitions for running the agent at login: a systemd user unit (Linux) and a launchd
// agent (macOS). The committed files systemd/tvault-agent.service and
// launchd/dev.tvault.agent.plist are the single source: `tvault agent install` renders them with
// absolute paths (this node, this tvault) instead of relying on the service manager's PATH.
// The agent starts --locked --on-idle lock: it needs no passphrase at login, `tvault unlock` (or
// the first read at a terminal) warms it, and idling only wipes the key. The passphrase is never
// part of a unit: with --passphrase-file, only the path of a 0600 file is (unlocked at start).
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { TvaultError, usageError } from '@tvault/core';

export type UnitTarget = 'systemd' | 'launchd';

export interface RenderOptions {
  /** Set only when the vault is not the default one (~/.tvault). */
  vaultDir?: string;
  /** Extra `agent start` flags, e.g. ['--locked', '--on-idle', 'lock', '--idle', '1h']. */
  startArgs: string[];
  /** A 0600 file the agent unlocks with at start; none: it starts --locked. */
  passphraseFile?: string;
}

/** Where the repository's files are, seen from the bundle (packages/cli/dist). */
const ROOT = join(__dirname, '..', '..', '..');
const TEMPLATES: Record<UnitTarget, string> = {
  systemd: join(ROOT, 'systemd', 'tvault-agent.service'),
  launchd: join(ROOT, 'launchd', 'dev.tvault.agent.plist'),
};
export const BIN = join(__dirname, '..', 'bin', 'tvault');

export function platformTarget(): UnitTarget | null {
  return process.platform === 'linux' ? 'systemd' : process.platform === 'darwin' ? 'launchd' : null;
}

export function defaultPassphraseFile(): string {
  return join(homedir(), '.config', 'tvault', 'passphrase');
}

export function unitPath(target: UnitTarget, env: NodeJS.ProcessEnv = process.env): string {
  if (target === 'launchd') return join(homedir(), 'Library', 'LaunchAgents', 'dev.tvault.agent.plist');
  const config = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(config, 'systemd', 'user', 'tvault-agent.service');
}

function template(target: UnitTarget): string {
  try {
    return readFileSync(TEMPLATES[target], 'utf8');
  } catch {
    throw new TvaultError(`the ${target} template ${TEMPLATES[target]} is missing from this installation`);
  }
}

/** One ExecStart argument: systemd expands % and $, and splits on spaces unless quoted. */
function systemdArg(s: string): string {
  const escaped = s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"'\\]/.test(escaped) ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped;
}

function systemdEnv(name: string, value: string): string {
  return `Environment=${systemdArg(`${name}=${value}`)}`;
}

const INSTALLED = '# Written by `tvault agent install` (remove it with `tvault agent uninstall`).';
const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function renderSystemd(o: RenderOptions, text: string): string {
  const exec = [process.execPath, BIN, 'agent', 'start', ...o.startArgs].map(systemdArg).join(' ');
  // With a token file, SIGHUP reloads it: `systemctl --user reload tvault-agent`. Without one,
  // SIGHUP would stop the agent, so there is no ExecReload that could do that by surprise.
  const reload = o.startArgs.includes('--token-file') ? '\nExecReload=/bin/kill -HUP $MAINPID' : '';
  const env = o.vaultDir ? `\n${systemdEnv('TVAULT_DIR', o.vaultDir)}` : '';
  const credential = o.passphraseFile ? `\nLoadCredential=tvault-passphrase:${o.passphraseFile.replace(/%/g, '%%')}` : '';
  const body = text.replace(/^ExecStart=.*$/m, () => `ExecStart=${exec}${reload}${env}${credential}`);
  return `${INSTALLED}\n${body}`;
}

function renderLaunchd(o: RenderOptions, text: string): string {
  const args = [process.execPath, BIN, 'agent', 'start', ...o.startArgs].map((a) => `    <string>${xml(a)}</string>`).join('\n');
  const env: Array<[string, string]> = [];
  if (o.passphraseFile) env.push(['TVAULT_PASSPHRASE_FILE', o.passphraseFile]);
  if (o.vaultDir) env.push(['TVAULT_DIR', o.vaultDir]);
  const envDict = env.length
    ? `\n  <key>EnvironmentVariables</key>\n  <dict>\n${env.map(([k, v]) => `    <key>${k}</key>\n    <string>${xml(v)}</string>`).join('\n')}\n  </dict>`
    : '';
  return text
    .replace(/(<!DOCTYPE[^>]*>\n)/, (doctype) => `${doctype}<!-- ${INSTALLED.slice(2)} -->\n`)
    .replace(/ {2}<key>ProgramArguments<\/key>\n {2}<array>[\s\S]*?<\/array>/, () => `  <key>ProgramArguments</key>\n  <array>\n${args}\n  </array>${envDict}`);
}

/** The unit for `target`, from the committed template (or `text`, a template given in a test). */
export function renderUnit(target: UnitTarget, o: RenderOptions, text = template(target)): string {
  checkUnitStrings(o);
  return target === 'systemd' ? renderSystemd(o, text) : renderLaunchd(o, text);
}

/**
 * Refuses a control character in anything written into a unit: a newline in a path would start
 * a unit line of its own (`ExecStartPre=...`, a second `Environment=`), which quoting cannot
 * prevent, and a plist cannot hold most of them. Names the field, not its text.
 */
function checkUnitStrings(o: RenderOptions): void {
  const fields: Array<[string, string]> = [
    ['the path of node', process.execPath],
    ['the path of tvault', BIN],
    ['the vault directory (--vault or TVAULT_DIR)', o.vaultDir ?? ''],
    ['--passphrase-file', o.passphraseFile ?? ''],
    ...o.startArgs.map((arg, i): [string, string] => {
      const flag = o.startArgs[i - 1];
      return [flag?.startsWith('--') && !arg.startsWith('--') ? flag : 'an agent start flag', arg];
    }),
  ];
  for (const [what, text] of fields) {
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    if (/[\x00-\x1f\x7f-\x9f]/.test(text))
      throw usageError(`${what} contains a control character (a newline would add lines to the unit); refusing to write it`);
  }
}

export function nextSteps(target: UnitTarget, path: string): string {
  return target === 'systemd' ? 'systemctl --user daemon-reload && systemctl --user enable --now tvault-agent' : `launchctl bootstrap gui/$(id -u) ${path}`;
}

export function stopHint(target: UnitTarget, path: string): string {
  return target === 'systemd' ? 'systemctl --user disable --now tvault-agent' : `launchctl bootout gui/$(id -u) ${path}`;
}

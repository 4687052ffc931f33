// Reading a whole project out: env (print for a shell or tool), run (inject into a child), export.
import type { Y } from './argv';
import { ExitCode, TvaultError, usageError } from '@tvault/core';
import { ENV_FORMATS, checkInjectable, formatEnv } from '@tvault/core/env-format';
import { childEnv, pristineBase, runChild, RUN_FAILED, shouldMask } from '../run';
import { runMasked } from '../run-masked';
import type { TokenInfo } from '@tvault/protocol';
import { agentRequest } from '../agent-client';
import { runBrokered } from '../broker';
import { type GlobalArgs, IDENTITY_OPTION, type PlainSecret, type ProjectSecrets, Session } from '../session';
import { readSecretsFrom } from '../commit-files';
import { runMayStartAgent } from '../handoff/coding-agents';

interface SelectArgs extends GlobalArgs {
  only?: string;
  prefix?: string;
  /** --from FILE: a committable file (tvault seal) instead of the vault. */
  from?: string;
}

const selection = (a: SelectArgs) => ({
  only: a.only
    ? a.only
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean)
    : undefined,
  prefix: a.prefix || undefined,
});

function selectOptions(c: Y): Y {
  return c
    .option('only', { type: 'string', describe: 'comma-separated key names' })
    .option('prefix', { type: 'string', describe: 'only keys starting with this' })
    .option('identity', IDENTITY_OPTION);
}

/** The selected secrets: of a committable file with --from (no vault needed), else of the project. */
function readSelected(a: SelectArgs, s: Session, sel: ReturnType<typeof selection>): Promise<ProjectSecrets> {
  // A committable file carries no allow list (names are checked as for any new project).
  return a.from !== undefined ? readSecretsFrom(s, a.from, sel).then((r) => ({ ...r, allowed: [] })) : s.readSecrets(sel);
}

interface RunArgs extends SelectArgs {
  /** Skips the question before a coding agent is run with the real vault's secrets (handoff/coding-agents.ts). */
  yes?: boolean;
  broker?: boolean;
  mask?: boolean;
  strict?: boolean;
  pristine?: boolean;
  allowDangerous?: string[];
}

function runOptions(c: Y): Y {
  return selectOptions(c)
    .option('from', { type: 'string', describe: 'read a committable file (tvault seal) instead of the vault: only an identity is needed' })
    .option('broker', {
      type: 'boolean',
      describe: 'let the agent run the command: this process never holds a value (automatic with an exec-only token)',
    })
    .option('mask', {
      type: 'boolean',
      describe:
        "mask the injected values in the command's output (a terminal keeps its colours: the command gets a pty); always on with --broker, and by default inside a tvault handoff (--no-mask turns it off)",
    })
    .option('strict', { type: 'boolean', describe: 'fail if a key named by --only or required by tvault.toml is missing (run: before the child starts)' })
    .option('pristine', { type: 'boolean', describe: 'give the child only the secrets plus a minimal PATH, HOME and TERM' })
    .option('yes', { type: 'boolean', describe: 'do not ask before running a coding agent (claude, codex…) with your secrets; see tvault handoff' })
    .option('allow-dangerous', {
      type: 'string',
      array: true,
      describe: 'let this dangerous name through for this one command (repeatable); tvault allow-name NAME allows it for the project',
    });
}

/** Splits `--allow-dangerous A,B` as well as repeated flags. */
const allowedNames = (a: RunArgs) =>
  (a.allowDangerous ?? [])
    .flatMap((n) => String(n).split(','))
    .map((n) => n.trim())
    .filter(Boolean);

/**
 * Checks, builds the child's environment and runs it; resolves with the exit code. Any failure
 * of tvault's own before the child exists (locked, not found, --strict, a refused name) is
 * 125, so that a caller can tell it from the child's own exit status.
 */
export async function runWithSecrets(a: RunArgs, cmd: string[]): Promise<number> {
  if (!cmd.length) throw usageError('nothing to run: tvault run -- COMMAND [ARGS...]');
  if (!runMayStartAgent(cmd, !!a.yes)) {
    process.stderr.write(`tvault: not started; hand it a scoped session instead: tvault handoff -- ${cmd.join(' ')}\n`);
    return RUN_FAILED;
  }
  const s = new Session(a);
  const sel = selection(a);
  if (a.broker || tokenIsExecOnly(s)) return runThroughAgent(a, s, sel, cmd);
  let secrets: PlainSecret[];
  try {
    const read = await readSelected(a, s, sel);
    secrets = read.secrets;
    checkStrict(a, s, sel.only, secrets);
    checkInjectable(
      secrets.map((x) => x.name),
      [...read.allowed, ...allowedNames(a)],
      read.project,
    );
  } catch (err) {
    if (err instanceof TvaultError) {
      process.stderr.write(`tvault: ${err.message}\n`);
      return RUN_FAILED;
    }
    throw err;
  }
  const inject = Object.fromEntries(secrets.map((x) => [x.name, x.value]));
  const env = childEnv(a.pristine ? pristineBase() : process.env, inject);
  const opts = a.pristine ? { lookupPath: process.env.PATH ?? '' } : {};
  if (shouldMask(a)) return runMasked(cmd, env, secrets, opts);
  return runChild(cmd, env, opts);
}

/** With TVAULT_AGENT_TOKEN, whether the agent says the token may only exec (then run is brokered). */
function tokenIsExecOnly(s: Session): boolean {
  if (!process.env.TVAULT_AGENT_TOKEN) return false;
  const res = agentRequest(s.dir, { op: 'status' });
  return !!res?.ok && (res.token as TokenInfo | undefined)?.execOnly === true;
}

/** --broker: the agent runs the command (broker.ts); only names leave this process. */
async function runThroughAgent(a: RunArgs, s: Session, sel: { only?: string[]; prefix?: string }, cmd: string[]): Promise<number> {
  if (a.pristine || a.allowDangerous?.length || a.strict) {
    process.stderr.write('tvault: --broker: the agent builds the environment itself; --pristine, --allow-dangerous and --strict do not apply\n');
    return RUN_FAILED;
  }
  if (a.mask === false) {
    process.stderr.write('tvault: --broker: the agent always masks the values in the output; --no-mask does not apply\n');
    return RUN_FAILED;
  }
  try {
    return await runBrokered({ vaultDir: s.dir, project: s.explicitProject(), argv: cmd, ...sel });
  } catch (err) {
    if (err instanceof TvaultError) {
      process.stderr.write(`tvault: ${err.message}\n`);
      return RUN_FAILED;
    }
    throw err;
  }
}

/**
 * --strict: every key named by --only, and every `required` key of tvault.toml, must exist.
 * With -p the user chose the project themselves and tvault.toml is not read at all.
 */
function checkStrict(a: RunArgs, s: Session, only: string[] | undefined, secrets: PlainSecret[]): void {
  if (!a.strict) return;
  const have = new Set(secrets.map((x) => x.name));
  const required = a.project ? [] : (s.projectConfig()?.required ?? []);
  const want = [...(only ?? []), ...required];
  const missing = [...new Set(want)].filter((k) => !have.has(k));
  if (missing.length) throw new TvaultError(`--strict: missing ${missing.join(', ')}`, ExitCode.NOT_FOUND);
}

const SKIP_RULE =
  "A value with no dotenv form that npm dotenv, python-dotenv and direnv all read back exactly (one holding ${...}, or a ' or line " +
  'break together with ", \\ or $) is left out: every other ' +
  'key is written, each one left out is named on stderr with the reason (never the value), and the exit status is 1.';

/**
 * Writes what could be rendered; then names each value left out (dotenv only) and exits 1, so
 * that one value never costs the whole project and a script still sees that something is missing.
 */
function writeSkipping(text: string, skipped: string[], format: string): void {
  process.stdout.write(text);
  if (!skipped.length) return;
  for (const s of skipped) process.stderr.write(`tvault: left out ${s}\n`);
  process.stderr.write(`tvault: ${skipped.length} value${skipped.length > 1 ? 's' : ''} left out of the ${format} output; --format json carries every value\n`);
  process.exitCode = ExitCode.ERROR;
}

const RUN_EXIT_CODES =
  "Exit status: the command's own; 128+N if signal N killed it; 125 if tvault failed before starting it (locked, " +
  'not found, --strict, a refused name); 126 if it is not executable; 127 if it is not found.';

/**
 * The command after the first `--`, exactly as the user gave it. Not yargs' `--` array: it turns
 * `-0` into 0 and `007` into 7 (`tvault run -- env -0` would run `env 0`).
 */
function commandAfterDashes(): string[] {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--');
  return i < 0 ? [] : argv.slice(i + 1);
}

export function envCommands(y: Y): Y {
  return y
    .command(
      'env',
      "print the project's secrets for a shell or tool (or, with -- CMD, run it like `run`)",
      (c: Y): Y =>
        runOptions(c)
          .option('format', { type: 'string', default: 'shell', describe: `one of ${ENV_FORMATS.join(', ')}` })
          .option('export', { type: 'boolean', default: true, describe: 'shell: export K=...; fish: set -gx. --export=false (or --no-export) drops it' })
          .example('eval "$(tvault env)"', '')
          .example('tvault env --format dotenv > .env.local', '')
          .example('tvault env --format github >> "$GITHUB_ENV"', '')
          .example('tvault env -- ./server', '')
          .epilogue(`dotenv: ${SKIP_RULE}`),
      async (a: RunArgs & { format: string; export: boolean }) => {
        const cmd = commandAfterDashes();
        if (cmd.length) {
          process.exitCode = await runWithSecrets(a, cmd);
          return;
        }
        if (a.json) a.format = 'json';
        if (!ENV_FORMATS.includes(a.format as never)) throw usageError(`unknown format '${a.format}'; use one of: ${ENV_FORMATS.join(', ')}`);
        const s = new Session(a);
        const sel = selection(a);
        const { project, secrets, allowed } = await readSelected(a, s, sel);
        checkStrict(a, s, sel.only, secrets);
        // Rendered in full before anything is written: a refusal prints nothing on stdout.
        const skipped: string[] = [];
        const text = formatEnv(secrets, a.format, {
          export: a.export,
          allowDangerous: [...allowed, ...allowedNames(a)],
          project,
          onUnwritable: (name, reason) => skipped.push(`${name}: ${reason}`),
        });
        writeSkipping(text, skipped, a.format);
      },
    )
    .command(
      'run',
      "run a command with the project's secrets in its environment",
      (c: Y): Y =>
        runOptions(c)
          .example('tvault run -- npm start', '')
          .example('tvault run --only DATABASE_URL -- psql', '')
          .example('tvault run --pristine -- ./deploy.sh', '')
          .epilogue(RUN_EXIT_CODES),
      async (a: RunArgs) => {
        process.exitCode = await runWithSecrets(a, commandAfterDashes());
      },
    )
    .command(
      'export',
      'write every secret of the project to stdout (dotenv, json or yaml)',
      (c: Y): Y =>
        selectOptions(c)
          .option('format', { type: 'string', default: 'dotenv', choices: ['dotenv', 'json', 'yaml'] })
          .example('tvault export --format json > secrets.json', '')
          .example('tvault export > .env', 'dotenv that npm dotenv, python-dotenv and direnv read back alike')
          .epilogue(SKIP_RULE),
      async (a: SelectArgs & { format: string }) => {
        const { secrets } = await new Session(a).readSecrets(selection(a), 'export');
        const format = a.json ? 'json' : a.format;
        const skipped: string[] = [];
        writeSkipping(formatEnv(secrets, format, { export: false, onUnwritable: (name, reason) => skipped.push(`${name}: ${reason}`) }), skipped, format);
      },
    );
}

// Reading a whole project out: env (print for a shell or tool), run (inject into a child), export.
import type { Y } from './argv';
import { TvaultError, usageError } from '@tvault/core';
import { isDangerous } from '../dangerous-env';
import { ENV_FORMATS, formatEnv } from '../env-format';
import { childEnv, runChild, RUN_FAILED } from '../run';
import { type GlobalArgs, type PlainSecret, Session } from '../session';

interface SelectArgs extends GlobalArgs {
  only?: string;
  prefix?: string;
}

const selection = (a: SelectArgs) => ({
  only: a.only ? a.only.split(',').map((k) => k.trim()).filter(Boolean) : undefined,
  prefix: a.prefix || undefined,
});

function selectOptions(c: Y): Y {
  return c
    .option('only', { type: 'string', describe: 'comma-separated key names' })
    .option('prefix', { type: 'string', describe: 'only keys starting with this' });
}

interface RunArgs extends SelectArgs {
  strict?: boolean;
  pristine?: boolean;
  allowDangerous?: string[];
  '--'?: Array<string | number>;
}

function runOptions(c: Y): Y {
  return selectOptions(c)
    .option('strict', { type: 'boolean', describe: 'fail before starting if a key named by --only or required by tvault.toml is missing' })
    .option('pristine', { type: 'boolean', describe: 'give the child only the secrets plus a minimal PATH, HOME and TERM' })
    .option('allow-dangerous', { type: 'string', array: true, describe: 'allow injecting this loader/shell variable (repeatable)' });
}

/** Checks, builds the child's environment and runs it; resolves with the exit code. */
export async function runWithSecrets(a: RunArgs, cmd: string[]): Promise<number> {
  if (!cmd.length) throw usageError('nothing to run: tvault run -- COMMAND [ARGS...]');
  const s = new Session(a);
  const sel = selection(a);
  let secrets: PlainSecret[];
  try {
    ({ secrets } = await s.readSecrets(sel));
    checkStrict(a, s, sel.only, secrets);
    checkDangerous(secrets, a.allowDangerous ?? []);
  } catch (err) {
    // tvault's own failure before the child exists: 125, with the reason on stderr.
    if (err instanceof TvaultError) {
      process.stderr.write(`tvault: ${err.message}\n`);
      return RUN_FAILED;
    }
    throw err;
  }
  const inject = Object.fromEntries(secrets.map((x) => [x.name, x.value]));
  const base = a.pristine ? pristineBase() : process.env;
  return runChild(cmd, childEnv(base, inject));
}

function checkStrict(a: RunArgs, s: Session, only: string[] | undefined, secrets: PlainSecret[]): void {
  if (!a.strict) return;
  const have = new Set(secrets.map((x) => x.name));
  const want = [...(only ?? []), ...(s.projectConfig()?.required ?? [])];
  const missing = [...new Set(want)].filter((k) => !have.has(k));
  if (missing.length) throw new TvaultError(`--strict: missing ${missing.join(', ')}`, 4);
}

function checkDangerous(secrets: PlainSecret[], allowed: string[]): void {
  const bad = secrets.map((x) => x.name).filter((n) => isDangerous(n) && !allowed.includes(n));
  if (bad.length) {
    throw new TvaultError(`refusing to inject ${bad.join(', ')}: ${bad.length > 1 ? 'these change' : 'it changes'} how programs load or shells start; add --allow-dangerous ${bad[0]} if you mean it`);
  }
}

function pristineBase(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  if (process.env.HOME) env.HOME = process.env.HOME;
  if (process.env.TERM) env.TERM = process.env.TERM;
  return env;
}

const commandAfterDashes = (a: RunArgs) => (a['--'] ?? []).map(String);

export function envCommands(y: Y): Y {
  return y
    .command(
      'env',
      'print the project\'s secrets for a shell or tool (or, with -- CMD, run it like `run`)',
      (c: Y): Y =>
        runOptions(c)
          .option('format', { type: 'string', default: 'shell', describe: `one of ${ENV_FORMATS.join(', ')}` })
          .option('export', { type: 'boolean', default: true, describe: 'prefix lines with export (shell, dotenv); --export=false drops it' })
          .example('eval "$(tvault env)"', '')
          .example('tvault env --format dotenv > .env.local', '')
          .example('tvault env -- ./server', ''),
      async (a: RunArgs & { format: string; export: boolean }) => {
        const cmd = commandAfterDashes(a);
        if (cmd.length) {
          process.exitCode = await runWithSecrets(a, cmd);
          return;
        }
        if (a.json) a.format = 'json';
        if (!ENV_FORMATS.includes(a.format as never)) throw usageError(`unknown format '${a.format}'; use one of: ${ENV_FORMATS.join(', ')}`);
        const s = new Session(a);
        const sel = selection(a);
        const { secrets } = await s.readSecrets(sel);
        checkStrict(a, s, sel.only, secrets);
        process.stdout.write(formatEnv(secrets, a.format, { export: a.export }));
      },
    )
    .command(
      'run',
      'run a command with the project\'s secrets in its environment',
      (c: Y): Y =>
        runOptions(c)
          .example('tvault run -- npm start', '')
          .example('tvault run --only DATABASE_URL -- psql', '')
          .example('tvault run --pristine -- ./deploy.sh', ''),
      async (a: RunArgs) => {
        process.exitCode = await runWithSecrets(a, commandAfterDashes(a));
      },
    )
    .command(
      'export',
      'write every secret of the project to stdout (dotenv, json or yaml)',
      (c: Y): Y =>
        selectOptions(c)
          .option('format', { type: 'string', default: 'dotenv', choices: ['dotenv', 'json', 'yaml'] })
          .example('tvault export --format json > secrets.json', ''),
      async (a: SelectArgs & { format: string }) => {
        const { secrets } = await new Session(a).readSecrets(selection(a), 'export');
        process.stdout.write(formatEnv(secrets, a.json ? 'json' : a.format, { export: false }));
      },
    );
}

// The tvault command line. Every failure ends here as one line on stderr and an exit code
// from the documented table; a stack trace is shown only with TVAULT_DEBUG=1.
import yargs from 'yargs/yargs';
import { ExitCode, TvaultError, usageError } from '@tvault/core';
import { secretCommands } from './commands/secrets';
import { envCommands } from './commands/env';
import { projectCommands } from './commands/projects';
import { vaultCommands } from './commands/vault';
import { trustCommands } from './commands/trust';
import { auditCommands } from './commands/audit';
import { unknownCommand } from './commands/argv';
import { exitQuietlyOnClosedStdout } from './output';

declare const TVAULT_VERSION: string;

function fail(err: unknown): never {
  if (err instanceof TvaultError) {
    process.stderr.write(`tvault: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  if (process.env.TVAULT_DEBUG === '1') console.error(err);
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`tvault: internal error: ${msg.split('\n')[0]}\n`);
  process.exit(ExitCode.ERROR);
}

async function main(argv: string[]): Promise<void> {
  const cli = yargs(argv)
    .scriptName('tvault')
    .version(typeof TVAULT_VERSION === 'string' ? TVAULT_VERSION : '0.0.0-dev')
    .parserConfiguration({ 'populate--': true })
    .option('vault', { type: 'string', global: true, describe: 'vault directory (default: $TVAULT_DIR or ~/.tvault)' })
    .option('project', { alias: 'p', type: 'string', global: true, describe: 'project (default: tvault.toml, then the current project)' })
    .option('agent', { type: 'boolean', global: true, default: true, describe: 'use a running agent for reads (--no-agent or TVAULT_NO_AGENT=1 to skip it)' })
    .option('json', { type: 'boolean', global: true, describe: 'machine-readable output' }) ;
  // Checked once for every command: an empty -p '' (or a bare -p, --project=) must not fall
  // back to the current project. The name itself is checked where it is used.
  cli.middleware((argv) => {
    if (argv.project === '') throw usageError('-p/--project needs a project name (leave it out for the current project)');
  }, true);
  vaultCommands(cli);
  secretCommands(cli);
  projectCommands(cli);
  envCommands(cli);
  trustCommands(cli);
  auditCommands(cli);
  await cli
    .command('agent', 'run and control the unlock agent', (y) => require('./commands/agent').agentCommands(y))
    .command('hook [shell]', 'print shell integration: bash, zsh, fish or direnv', (y) => require('./commands/hook').hookOptions(y), (a) =>
      require('./commands/hook').hookCommand(a),
    )
    .command(...(unknownCommand(cli, 'give a command') as unknown as [string, string])) // last: it reads the names above
    .usage('$0 <command> [options]')
    .strict()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .epilogue('Exit codes: 0 ok, 1 error, 2 usage, 3 locked, 4 not found, 5 not initialized, 6 wrong passphrase, 8 integrity failure.')
    .fail((msg, err) => {
      if (err) fail(err);
      process.stderr.write(`tvault: ${String(msg).replace(/\s*\n\s*/g, ' ')} (see tvault --help)\n`);
      process.exit(ExitCode.USAGE);
    })
    .parseAsync();
}

// `tvault list | head -1` ends quietly with 141, like other tools.
exitQuietlyOnClosedStdout();

// If the event loop runs dry while a command is still pending, something it awaited will never
// answer: exit 0 would claim a success (a `set` that wrote nothing), so fail instead.
let finished = false;
process.once('beforeExit', () => {
  if (!finished) fail(new Error('the command stopped before it finished; nothing more was done'));
});
main(process.argv.slice(2)).then(() => (finished = true), fail);

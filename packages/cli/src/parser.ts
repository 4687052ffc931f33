// The full CLI's command line: global options and every command, without the failure handler
// and the parse call, which main.ts adds. Apart from main.ts (whose import runs the CLI) so
// that a test can parse an argv with it, e.g. fast-args.parity.test.ts against the fast path.
import type { Argv } from 'yargs';
import yargs from 'yargs/yargs';
import { secretCommands } from './commands/secrets';
import { envCommands } from './commands/env';
import { projectCommands } from './commands/projects';
import { vaultCommands } from './commands/vault';
import { trustCommands } from './commands/trust';
import { auditCommands } from './commands/audit';

declare const TVAULT_VERSION: string;

export function buildParser(argv: string[]): Argv {
  const cli = yargs(argv)
    .scriptName('tvault')
    .version(typeof TVAULT_VERSION === 'string' ? TVAULT_VERSION : '0.0.0-dev')
    .parserConfiguration({ 'populate--': true })
    .option('vault', { type: 'string', global: true, describe: 'vault directory (default: $TVAULT_DIR or ~/.tvault)' })
    .option('project', { alias: 'p', type: 'string', global: true, describe: 'project (default: tvault.toml, then the current project)' })
    .option('agent', { type: 'boolean', global: true, default: true, describe: 'use a running agent for reads (--no-agent or TVAULT_NO_AGENT=1 to skip it)' })
    .option('json', { type: 'boolean', global: true, describe: 'machine-readable output' }) ;
  vaultCommands(cli);
  secretCommands(cli);
  projectCommands(cli);
  envCommands(cli);
  trustCommands(cli);
  auditCommands(cli);
  return cli
    .command('agent', 'run and control the unlock agent', (y) => require('./commands/agent').agentCommands(y))
    .command('hook [shell]', 'print shell integration: bash, zsh, fish or direnv', (y) => require('./commands/hook').hookOptions(y), (a) =>
      require('./commands/hook').hookCommand(a),
    )
    .demandCommand(1, 'give a command; see tvault --help')
    .strict()
    .recommendCommands()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .epilogue('Exit codes: 0 ok, 1 error, 2 usage, 3 locked, 4 not found, 5 not initialized, 6 wrong passphrase, 8 integrity failure.') as Argv;
}

// The full CLI's command line: global options and every command, without the failure handler
// and the parse call, which main.ts adds. Apart from main.ts so that a test can parse an argv
// with it (fast-args.parity.test.ts, against the fast path's parser).
import type { Argv } from 'yargs';
import yargs from 'yargs/yargs';
import { usageError } from '@tvault/core';
import type { Answer } from '@tvault/protocol';
import { secretCommands } from './commands/secrets';
import { envCommands } from './commands/env';
import { projectCommands } from './commands/projects';
import { vaultCommands } from './commands/vault';
import { trustCommands } from './commands/trust';
import { nameCommands } from './commands/names';
import { auditCommands } from './commands/audit';
import { type Y, unknownCommand } from './commands/argv';
import { scopeGlobalOptions } from './global-options';
import { commitCommands } from './commands/commit';

declare const TVAULT_VERSION: string;

export const VERSION = typeof TVAULT_VERSION === 'string' ? TVAULT_VERSION : '0.0.0-dev';

/** `fastPathAnswer`: what the agent already told fast.ts for this command (see main.ts). */
export function buildParser(argv: string[], fastPathAnswer?: Answer | null): Argv {
  const cli = yargs(argv)
    .scriptName('tvault')
    .version(VERSION)
    .alias('V', 'version')
    .help()
    .alias('h', 'help')
    .parserConfiguration({ 'populate--': true })
    .option('vault', { type: 'string', global: true, describe: 'vault directory (default: $TVAULT_DIR or ~/.tvault)' })
    .option('project', { alias: 'p', type: 'string', global: true, describe: 'project (default: tvault.toml, then the current project)' })
    .option('agent', { type: 'boolean', global: true, default: true, describe: 'use a running agent for reads (--no-agent or TVAULT_NO_AGENT=1 to skip it)' })
    .option('json', { type: 'boolean', global: true, describe: 'machine-readable output' })
    // What the fast path already heard from the agent reaches the commands' Session through their
    // arguments; set here, after parsing, so no command line can put it there.
    .middleware((a: Record<string, unknown>) => void (a.fastPathAnswer = fastPathAnswer));
  // Checked once for every command: an empty -p '' (or a bare -p, --project=) must not fall
  // back to the current project. (A malformed name is each command's usage error, in its words.)
  cli.middleware((a) => {
    if (a.project === '') throw usageError('-p/--project needs a project name (leave it out for the current project)');
  }, true);
  scopeGlobalOptions(cli);
  vaultCommands(cli);
  secretCommands(cli);
  projectCommands(cli);
  envCommands(cli);
  trustCommands(cli);
  nameCommands(cli);
  auditCommands(cli);
  // The answer to the completion scripts' `tvault --get-yargs-completions WORDS` (under a hidden
  // command name: yargs' own script is not used). Four parameters: yargs passes its default.
  cli.completion('__yargs-completion-script', false, (cur: string, argv: Y, fallback: Y, done: Y) =>
    require('./commands/completion').complete(cur, argv, fallback, done),
  );
  commitCommands(cli);
  return cli
    .command('identity', 'age identities: create, import, list, show, export, delete', (y) => require('./commands/identity').identityCommands(y))
    .command(
      'handoff',
      'run a coding agent against a scoped session vault in RAM: it gets the secrets, never your vault key',
      (y) => require('./commands/handoff').handoffCommand(y),
      (a) => require('./commands/handoff').handoffHandler(a),
    )
    .command('agent', 'run and control the unlock agent', (y) =>
      require('./commands/agent')
        .agentCommands(y)
        .example('tvault agent start', 'unlock once; reads are then answered without a prompt')
        .example('tvault agent status', ''),
    )
    .command('mcp', 'an MCP server for AI coding agents: run commands with secrets, never show one (mcp install CLIENT sets it up)', (y) =>
      require('./commands/mcp').mcpCommands(y),
    )
    .command(
      'unlock',
      'hand the passphrase to the running agent (started with --locked, or locked since); it stays warm',
      (y) => require('./commands/unlock').unlockCommand(y),
      (a) => require('./commands/unlock').unlockHandler(a),
    )
    .command(
      'lock',
      "wipe the running agent's key; it keeps running until tvault unlock",
      (y) => require('./commands/unlock').lockCommand(y),
      (a) => require('./commands/unlock').lockHandler(a),
    )
    .command(
      'hook [shell]',
      'print shell integration: bash, zsh, fish or direnv',
      (y) => require('./commands/hook').hookOptions(y),
      (a) => require('./commands/hook').hookCommand(a),
    )
    .command(
      'edit',
      "edit the project's secrets in $EDITOR as a dotenv file (kept in RAM, wiped afterwards)",
      (y) => require('./commands/edit').editOptions(y),
      (a) => require('./commands/edit').editCommand(a),
    )
    .command(
      'completion [shell]',
      'print tab completion for bash, zsh or fish',
      (y) => require('./commands/completion').completionOptions(y),
      (a) => require('./commands/completion').completionCommand(a),
    )
    .command(
      'version',
      'print the version (also -V)',
      (y: Y): Y => y.example('tvault version --json', ''),
      (a: { json?: boolean }) => void process.stdout.write(a.json ? JSON.stringify({ version: VERSION }) + '\n' : `tvault ${VERSION}\n`),
    )
    .command(...(unknownCommand(cli, 'give a command') as unknown as [string, string])) // last: it reads the names above
    .usage('$0 <command> [options]')
    .example('tvault init', 'create a vault (asks for a passphrase)')
    .example('tvault set DATABASE_URL', 'store a secret (asks for its value)')
    .example('tvault run -- npm start', "run a program with the project's secrets in its environment")
    .strict()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .epilogue('Exit codes: 0 ok, 1 error, 2 usage, 3 locked, 4 not found, 5 not initialized, 6 wrong passphrase, 8 integrity failure.') as Argv;
}

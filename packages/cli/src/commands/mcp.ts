// `tvault mcp` and `tvault mcp install CLIENT`: the MCP server for coding agents (mcp/server.ts,
// its own bundle dist/mcp.cjs with the SDK, loaded only here) and the configuration block that
// plugs it into a client, with a freshly minted exec-only token (agent-token.ts's mintToken).
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { TvaultError, resolveVaultDir, usageError } from '@tvault/core';
import type { McpOptions } from '../mcp/server';
import { startRefusal } from '../mcp/guard';
import { type CreateArgs, type MintedToken, fileOption, mintToken } from './agent-token';
import { type Y, unknownCommand } from './argv';
import { parseDuration } from '../flags';
import type { GlobalArgs } from '../session';

declare const TVAULT_VERSION: string;
const VERSION = typeof TVAULT_VERSION === 'string' ? TVAULT_VERSION : '0.0.0-dev';

type ServeArgs = GlobalArgs & { timeout?: string; maxTimeout?: string; maxOutput?: number };

const seconds = (text: string | undefined, flag: string, fallback: number) =>
  text === undefined ? fallback : parseDuration(text, flag, { ms: 86_400_000, text: '24h' }) / 1000;

async function serve(a: ServeArgs): Promise<void> {
  const why = startRefusal(process.env);
  if (why) throw new TvaultError(`tvault mcp: ${why}`);
  const timeoutS = seconds(a.timeout, '--timeout', 60);
  const maxTimeoutS = seconds(a.maxTimeout, '--max-timeout', 600);
  if (!timeoutS || !maxTimeoutS || timeoutS > maxTimeoutS) throw usageError('--timeout must be a positive duration no longer than --max-timeout (default 10m)');
  const maxOutput = a.maxOutput ?? 64 * 1024;
  if (!Number.isInteger(maxOutput) || maxOutput < 1024 || maxOutput > 16 * 1024 * 1024)
    throw usageError('--max-output must be a byte count from 1024 to 16777216');
  const o: McpOptions = { vaultDir: resolveVaultDir(a.vault), project: a.project ?? null, timeoutS, maxTimeoutS, maxOutput, version: VERSION };
  // Its own bundle beside this one: only this command loads the SDK.
  const { serveMcp } = require(join(__dirname, 'mcp.cjs')) as typeof import('../mcp/server');
  await serveMcp(o);
}

/** The clients `install` knows, and how each spells its configuration. */
export const MCP_CLIENTS = ['claude', 'cursor', 'codex', 'vscode', 'windsurf', 'json'] as const;
type Client = (typeof MCP_CLIENTS)[number];

interface ServerSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** The configuration block for a client, and where it goes. */
export function configBlock(client: Client, s: ServerSpec): { where: string; text: string } {
  const stdio = { command: s.command, args: s.args, env: s.env };
  const mcpServers = JSON.stringify({ mcpServers: { tvault: stdio } }, null, 2);
  switch (client) {
    case 'claude':
      return { where: 'Claude Code: add "tvault" under "mcpServers" in ~/.claude.json (user scope; never a committed .mcp.json)', text: mcpServers };
    case 'cursor':
      return { where: 'Cursor: ~/.cursor/mcp.json (never a committed .cursor/mcp.json)', text: mcpServers };
    case 'windsurf':
      return { where: 'Windsurf: ~/.codeium/windsurf/mcp_config.json', text: mcpServers };
    case 'vscode':
      return {
        where: 'VS Code: your user mcp.json (MCP: Open User Configuration), never a committed .vscode/mcp.json',
        text: JSON.stringify({ servers: { tvault: { type: 'stdio', ...stdio } } }, null, 2),
      };
    case 'codex': {
      // A TOML basic string is a JSON string, but for DEL, which TOML wants escaped too.
      const q = (v: string) => JSON.stringify(v).replace(/\x7f/g, '\\u007F');
      const env = Object.entries(s.env).map(([k, v]) => `${k} = ${q(v)}`);
      return {
        where: 'Codex: ~/.codex/config.toml',
        text: ['[mcp_servers.tvault]', `command = ${q(s.command)}`, `args = [${s.args.map(q).join(', ')}]`, '', '[mcp_servers.tvault.env]', ...env].join('\n'),
      };
    }
    case 'json':
      return { where: 'any MCP client that reads the common "mcpServers" JSON', text: mcpServers };
  }
}

/** The tvault this is (bin/tvault, resolved): the client starts the same one. */
const selfCommand = () => {
  try {
    return realpathSync(process.argv[1]);
  } catch {
    return 'tvault';
  }
};

async function install(a: CreateArgs & { client: string }): Promise<void> {
  const client = a.client as Client;
  if (!(MCP_CLIENTS as readonly string[]).includes(client)) throw usageError(`unknown MCP client '${a.client}'; give one of: ${MCP_CLIENTS.join(', ')}`);
  const dir = resolveVaultDir(a.vault);
  await mintToken({ ...a, execOnly: true }, (t: MintedToken) => {
    const env: Record<string, string> = { TVAULT_DIR: dir, TVAULT_AGENT_TOKEN: t.token.toString('utf8') };
    const block = configBlock(client, { command: selfCommand(), args: ['mcp', ...(t.project ? ['-p', t.project] : [])], env });
    process.stdout.write(`${block.text}\n`);
    process.stderr.write(
      `put this in ${block.where}; it holds the token, so keep that file private (chmod 600). The agent must run with --require-token (tvault agent start --require-token)\n`,
    );
  });
}

const mintOptions = (c: Y): Y =>
  fileOption(c)
    .option('keys', { type: 'string', describe: 'the only keys it may use, comma-separated (default: all of the project)' })
    .option('allow-cmd', { type: 'string', array: true, describe: "the only command (argv prefix) it may run, like 'npm test' (repeatable; default: any)" })
    .option('ttl', { type: 'string', describe: 'expire the token after this long, like 8h or 30d (default: never)' })
    .option('name', { type: 'string', describe: 'a name to list and revoke the token by' })
    .option('force', { type: 'boolean', describe: 'print the block (it holds the token) even when stdout is not a terminal' });

export function mcpCommands(y: Y): Y {
  return y
    .example('tvault mcp install claude -p backend --keys DATABASE_URL --ttl 30d', "print Claude Code's configuration with a new exec-only token")
    .example('TVAULT_AGENT_TOKEN="$(cat ~/.config/tvault/mcp.token)" tvault mcp', 'what the AI client runs (it speaks MCP on stdin and stdout)')
    .command(
      '$0 [words..]',
      'serve MCP over stdio (started by the AI client, with TVAULT_AGENT_TOKEN: an exec-only token)',
      (c: Y): Y =>
        c
          .option('timeout', { type: 'string', describe: 'how long a command may run when the model asks no other limit (default 60s)' })
          .option('max-timeout', { type: 'string', describe: 'the longest a model may ask for (default 10m)' })
          .option('max-output', { type: 'number', describe: 'bytes kept of each of stdout and stderr (default 65536)' }),
      // A word after `mcp` that is no subcommand is a usage error, in the words of every other level.
      (a: ServeArgs & { words?: string[] }) => (a.words?.length ? unknownCommand(y, 'give an mcp subcommand', 'mcp')[3](a) : serve(a)),
    )
    .command(
      'install <client>',
      `print the configuration for an MCP client (${MCP_CLIENTS.join(', ')}) with a new exec-only token`,
      (c: Y): Y =>
        mintOptions(c)
          .positional('client', { type: 'string', choices: MCP_CLIENTS, describe: 'the AI client' })
          .example("tvault mcp install claude -p backend --keys DATABASE_URL --allow-cmd 'npm test'", 'a token that may only run npm test with DATABASE_URL')
          .example('tvault mcp install cursor -p backend --ttl 30d', ''),
      install,
    );
}

// `tvault mcp` (dist/mcp.cjs, loaded only by that command): an MCP server over stdio, on the
// official SDK, for coding agents that may use secrets but never read one. It holds no key and
// no value: it has an exec-only capability token (TVAULT_AGENT_TOKEN), asks the running agent
// for names (the `names` op) and runs every command through the broker (@tvault/client's
// execWithSecrets, the `exec` op on exec.sock), which injects the values into the child and
// masks them in the output that comes back. Every tool call is audited by the agent.
import { isAbsolute, resolve } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { BrokerError, type ExecResult, execWithSecrets } from '@tvault/client';
import type { NamesAnswer, NamesRequest, TokenInfo } from '@tvault/protocol';
import { agentRequest } from '../agent-client';
import { inspectHandoff } from '../handoff/inspect';
import { refusalText, tokenRefusal } from './guard';

export interface McpOptions {
  vaultDir: string;
  /** The project tools use when the model names none (else the token's, or the vault's current one). */
  project: string | null;
  /** The default and the longest run, in seconds. */
  timeoutS: number;
  maxTimeoutS: number;
  /** Bytes kept of each of stdout and stderr. */
  maxOutput: number;
  version: string;
}

/** A refusal on its way to the model: a tool result with isError, never an exception. */
class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const WITHHELD = '(withheld: a secret injected is shorter than 8 bytes, so it could not be masked in the output)';
const NEVER = 'No tool of this server ever returns a secret value.';
const text = (s: string): CallToolResult => ({ content: [{ type: 'text', text: s }] });
const json = (o: unknown): CallToolResult => text(JSON.stringify(o, null, 2));
const refused = (err: unknown): CallToolResult => {
  if (err instanceof Refusal || err instanceof BrokerError) return { content: [{ type: 'text', text: refusalText(err.code, err.message) }], isError: true };
  return { content: [{ type: 'text', text: `tvault mcp: ${(err as Error).message.split('\n')[0]}` }], isError: true };
};

export async function serveMcp(o: McpOptions): Promise<void> {
  /** Runs in flight: aborted when the client goes away, so that no child outlives the session. */
  const running = new Set<AbortController>();

  /** The agent's one-line answer to a request of ours (the token is added by agentRequest). */
  const ask = (req: Parameters<typeof agentRequest>[1]) => {
    const a = agentRequest(o.vaultDir, req);
    if (!a) throw new Refusal('no_agent', `no tvault agent answers for the vault ${o.vaultDir}`);
    if (!a.ok) throw new Refusal(a.error, a.message);
    return a;
  };

  /** What our token may do, from the agent; refuses unless the agent checks it and it is exec-only. */
  const tokenScope = (): TokenInfo => {
    const token = ask({ op: 'status', project: null }).token as TokenInfo | undefined;
    const why = tokenRefusal(token);
    if (why) throw new Refusal('unsafe_token', why);
    return token!;
  };

  /** The names op; the caller has checked the token (tokenScope) first. */
  const names = (tool: string, project: string | undefined, only?: string[]): NamesAnswer => {
    const req: NamesRequest = { op: 'names', project: project ?? o.project, ...(only && { only }), tool };
    const a = ask(req);
    return { current: (a.current as string | null) ?? null, projects: (a.projects as NamesAnswer['projects']) ?? [] };
  };

  const server = new McpServer({ name: 'tvault', version: o.version }, { instructions: instructions(o) });
  const projectArg = z.string().optional().describe('the tvault project (default: the one this session is scoped to)');
  const readOnly = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

  server.registerTool(
    'list_secrets',
    {
      title: 'List secret names',
      description: `List the tvault projects and the secret names (keys) this session may use, with their version and last update, and the commands it may run. Names and metadata only: ${NEVER} Use a name with run_with_secrets.`,
      inputSchema: { project: projectArg },
      annotations: readOnly,
    },
    async ({ project }) => {
      try {
        const scope = tokenScope();
        return json({ ...names('mcp.list_secrets', project), allowedCommands: scope.allowCmd ?? 'any', note: NEVER });
      } catch (err) {
        return refused(err);
      }
    },
  );

  server.registerTool(
    'check_secrets',
    {
      title: 'Check that secrets exist',
      description: `Check that the named secrets exist and are in this session's scope before running a command that needs them (e.g. DATABASE_URL). Answers present or missing per name: ${NEVER}`,
      inputSchema: { keys: z.array(z.string()).min(1).max(256).describe('the secret names to check'), project: projectArg },
      annotations: readOnly,
    },
    async ({ keys, project }) => {
      try {
        tokenScope();
        const a = names('mcp.check_secrets', project, keys);
        return json({
          projects: a.projects.map((p) => ({ project: p.name, present: p.keys.map((k) => k.name), missing: p.missing ?? [] })),
          note: NEVER,
        });
      } catch (err) {
        return refused(err);
      }
    },
  );

  server.registerTool(
    'run_with_secrets',
    {
      title: 'Run a command with secrets',
      description:
        `Run a command with the named secrets in its environment (as variables of the same names), through the tvault agent. ` +
        `Returns the exit code and the command's stdout and stderr, in which every secret value (and its base64, hex, URL and JSON-escaped forms) is replaced by <masked:NAME>. ` +
        `${NEVER} The command is argv (no shell unless you run one, e.g. ["sh","-c","..."]); it is killed after timeout_seconds (default ${o.timeoutS}, at most ${o.maxTimeoutS}); each output is cut at ${o.maxOutput} bytes. ` +
        `Do not try to print, encode or transform a secret: use it only as the program needs it.`,
      inputSchema: {
        command: z.array(z.string()).min(1).describe('the program and its arguments, e.g. ["npm","test"]'),
        keys: z.array(z.string()).optional().describe('the secrets to inject, by name (default: all the session may use)'),
        project: projectArg,
        cwd: z.string().optional().describe('the working directory (default: where the MCP server runs)'),
        timeout_seconds: z.number().positive().max(o.maxTimeoutS).optional().describe(`kill the command after this long (default ${o.timeoutS})`),
        stdin: z.string().optional().describe("text for the command's stdin (default: none)"),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    async ({ command, keys, project, cwd, timeout_seconds, stdin }, extra) => {
      const abort = new AbortController();
      running.add(abort);
      const cancel = () => abort.abort();
      extra.signal.addEventListener('abort', cancel, { once: true });
      try {
        tokenScope();
        const r = await execWithSecrets({
          argv: command,
          ...(keys && { names: keys }),
          project: project ?? o.project,
          vaultDir: o.vaultDir,
          cwd: cwd === undefined ? process.cwd() : isAbsolute(cwd) ? cwd : resolve(process.cwd(), cwd),
          ...(stdin !== undefined && { input: stdin }),
          timeoutMs: Math.round((timeout_seconds ?? o.timeoutS) * 1000),
          maxOutputBytes: o.maxOutput,
          signal: abort.signal,
          tool: 'mcp.run_with_secrets',
        });
        return runResult(r);
      } catch (err) {
        return refused(err);
      } finally {
        extra.signal.removeEventListener('abort', cancel);
        running.delete(abort);
      }
    },
  );

  server.registerTool(
    'session_scope',
    {
      title: 'Handoff and scope',
      description: `Say whether this session runs inside a tvault handoff, and what it may use: the project, the secret names, the commands it may run, when its token expires. ${NEVER}`,
      inputSchema: {},
      annotations: readOnly,
    },
    async () => {
      try {
        const scope = tokenScope();
        const handoff = inspectHandoff(process.env);
        const a = names('mcp.session_scope', undefined);
        return json({
          handoff,
          token: { id: scope.id, name: scope.name, project: scope.project, expiresAt: scope.expiresAt, execOnly: true },
          keys: scope.keys ?? 'all of the project',
          allowedCommands: scope.allowCmd ?? 'any',
          projects: a.projects.map((p) => ({ project: p.name, keys: p.keys.map((k) => k.name) })),
          note: NEVER,
        });
      } catch (err) {
        return refused(err);
      }
    },
  );

  // The client went away (stdin ended, or it signalled us): end every child first. Closing an
  // exec connection makes the agent kill the child's process group; exiting closes them anyway.
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    running.forEach((a) => a.abort());
    setImmediate(() => process.exit(0));
  };
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, shutdown);
  const transport = new StdioServerTransport();
  transport.onclose = shutdown;
  await server.connect(transport);
}

/** A run's answer: the exit status and the masked output, as text a model reads. */
function runResult(r: ExecResult): CallToolResult {
  const out = {
    exit_code: r.exit?.code ?? null,
    signal: r.exit?.signal ?? null,
    status: r.status,
    ...(r.ended && { ended: r.ended === 'timeout' ? 'killed: timed out' : 'killed: cancelled' }),
    ...(r.message && { message: r.message }),
    project: r.project,
    keys: r.keys,
    // A value too short to mask could be in the output as it is: withheld, not shown (fail closed).
    ...(r.unmasked.length
      ? { unmasked: r.unmasked, stdout: WITHHELD, stderr: WITHHELD }
      : { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') }),
    ...((r.truncated.stdout || r.truncated.stderr) && { truncated: r.truncated }),
  };
  return json(out);
}

function instructions(o: McpOptions): string {
  return (
    `tvault runs commands with secrets for you without ever showing you one. Call list_secrets (or session_scope) to see what you may use, ` +
    `check_secrets before a task that needs particular keys, and run_with_secrets to run a command with them (timeout ${o.timeoutS}s by default). ` +
    `Values are never returned; output is masked.`
  );
}

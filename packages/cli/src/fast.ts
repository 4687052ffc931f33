// The entry point. `tvault get KEY` and `tvault env` are answered here by a running agent
// without loading yargs, SQLite, the KDF or NaCl: a Node start, a connect and one line of
// JSON. Anything else — another command, a flag this parser does not know, no agent, an
// agent that refuses — hands over to the full CLI (dist/cli.cjs), which decides properly.
import { checkProjectName } from '@tvault/core/src/names';
import { resolveVaultDir } from '@tvault/core/src/paths';
import { type AgentMemo, FINAL_ERRORS, agentDisabledByEnv, agentRequest, answerSecrets, finalExitCode, readRequest } from './agent-client';
import { formatEnv } from './env-format';
import { type FastArgs, parseFast } from './fast-args';
import { valueText, writeStdoutSync } from './output';

/** The project named by -p or by an allowed tvault.toml; undefined when neither applies. */
function explicitProject(a: FastArgs, dir: string): string | null {
  if (a.project) return checkProjectName(a.project); // throws: the full CLI reports it (exit 2)
  // Only pay for TOML parsing and hashing when a tvault.toml is actually there.
  const cfg = require('./project-config') as typeof import('./project-config');
  if (!cfg.findConfig()) return null;
  return cfg.loadConfig(dir)?.project ?? null;
}

/** True when the request was answered (output written, exit code set). */
export function tryFastPath(argv: string[]): boolean {
  if (process.platform === 'win32' || agentDisabledByEnv()) return false;
  const a = parseFast(argv);
  if (!a) return false;
  const dir = resolveVaultDir(a.vault);
  let project: string | null;
  try {
    project = explicitProject(a, dir);
  } catch {
    return false; // e.g. an unallowed tvault.toml: the full CLI prints the proper error
  }
  const res = agentRequest(dir, readRequest(project, a));
  // Tell the full CLI what the agent said, so that it neither asks again nor repeats a warning.
  (globalThis as AgentMemo).tvaultAgentAnswer = res;
  if (!res) return false;
  if (!res.ok) {
    if (!FINAL_ERRORS.has(res.error)) return false;
    process.stderr.write(`tvault: ${res.message}\n`);
    process.exitCode = finalExitCode(res.error);
    return true;
  }
  if (a.cmd === 'get') {
    writeStdoutSync(valueText(a.key!, String(res.value), a));
    return true;
  }
  let text: string;
  try {
    text = formatEnv(answerSecrets(res), a.format, { export: a.export });
  } catch {
    return false; // a value this format cannot carry: the full CLI reports it properly
  }
  writeStdoutSync(text);
  return true;
}

// Node opens an unauthenticated debugger on 127.0.0.1:9229 when it receives SIGUSR1; any local
// process could then read this process's memory (values, the passphrase). A listener of our
// own replaces Node's handler. `run` forwards SIGUSR1 to its child instead.
process.on('SIGUSR1', () => {});

let handled = false;
try {
  handled = tryFastPath(process.argv.slice(2));
} catch {
  // anything unexpected: the full CLI decides, and reports properly
}
if (!handled) require('./cli.cjs');

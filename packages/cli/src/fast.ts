// The entry point. `tvault get KEY` and `tvault env` are answered here by a running agent
// without loading yargs, SQLite, the KDF or NaCl: a Node start, a connect and one line of
// JSON. Anything else — another command, a flag this parser does not know, no agent, an
// agent that refuses — hands over to the full CLI (dist/cli.cjs), which decides properly.
import './harden'; // first: before anything can read a secret
import { checkProjectName, resolveVaultDir } from '@tvault/core/base';
import type { Answer } from '@tvault/protocol';
import { agentDisabledByEnv, agentRequest, answerAllowed, answerSecrets, finalRefusal, readRequest } from './agent-client';
import { formatEnv } from '@tvault/core/env-format';
import { type FastArgs, parseFast } from './fast-args';
import { errorJson, valueText, writeStdoutSync } from './output';

/** The project named by -p or by an allowed tvault.toml; undefined when neither applies. */
function explicitProject(a: FastArgs, dir: string): string | null {
  if (a.project) return checkProjectName(a.project); // throws: the full CLI reports it (exit 2)
  // loadConfig walks up once and pays for TOML parsing and hashing only when a tvault.toml is there.
  const cfg = require('./project-config') as typeof import('./project-config');
  return cfg.loadConfig(dir)?.project ?? null;
}

/**
 * What the fast path did: `handled` when it answered (output written, exit code set). Otherwise
 * `asked` holds what the agent said (undefined: it was not asked), which the full CLI gets so
 * that it neither asks again nor repeats a warning.
 */
export type FastResult = { handled: true } | { handled: false; asked?: Answer | null };

export function tryFastPath(argv: string[]): FastResult {
  // A read by identity (TVAULT_IDENTITY_KEY; --identity is a flag parseFast does not know) never asks the agent.
  // Inside a handoff session (TVAULT_HANDOFF) the full CLI's session guard decides: never an agent.
  if (process.platform === 'win32' || agentDisabledByEnv() || process.env.TVAULT_IDENTITY_KEY !== undefined || process.env.TVAULT_HANDOFF !== undefined)
    return { handled: false };
  const a = parseFast(argv);
  if (!a) return { handled: false };
  const dir = resolveVaultDir(a.vault);
  let project: string | null;
  try {
    project = explicitProject(a, dir);
  } catch {
    return { handled: false }; // e.g. an unallowed tvault.toml: the full CLI prints the proper error
  }
  const res = agentRequest(dir, readRequest(project, a));
  if (!res) return { handled: false, asked: res };
  if (!res.ok) {
    const refusal = finalRefusal(res);
    if (!refusal) return { handled: false, asked: res };
    process.stderr.write(a.json ? errorJson(refusal.message, refusal.exitCode) : `tvault: ${refusal.message}\n`);
    process.exitCode = refusal.exitCode;
    return { handled: true };
  }
  if (a.cmd === 'get') {
    writeStdoutSync(valueText(a.key!, String(res.value), a));
    return { handled: true };
  }
  let text: string;
  try {
    text = formatEnv(answerSecrets(res), a.format, { export: a.export, allowDangerous: answerAllowed(res) });
  } catch {
    return { handled: false, asked: res }; // a value this format cannot carry: the full CLI reports it properly
  }
  writeStdoutSync(text);
  return { handled: true };
}

let result: FastResult = { handled: false };
try {
  result = tryFastPath(process.argv.slice(2));
} catch {
  // anything unexpected: the full CLI decides, and reports properly
}
if (!result.handled) (require('./cli.cjs') as typeof import('./main')).main(process.argv.slice(2), result.asked);

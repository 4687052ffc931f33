// The entry point. `tvault get KEY` and `tvault env` are answered here by a running agent
// without loading yargs, SQLite, the KDF or NaCl: a Node start, a connect and one line of
// JSON. Anything else — another command, a flag this parser does not know, no agent, an
// agent that refuses — hands over to the full CLI (dist/cli.cjs), which decides properly.
import './harden'; // first: before anything can read a secret
import { checkProjectName } from '@tvault/core/src/names';
import { resolveVaultDir } from '@tvault/core/src/paths';
import { type AgentMemo, FINAL_ERRORS, agentDisabledByEnv, agentRequest, answerSecrets, finalExitCode, readRequest } from './agent-client';
import { formatEnv } from './env-format';
import { valueText, writeStdoutSync } from './output';

interface FastArgs {
  cmd: 'get' | 'env';
  key?: string;
  vault?: string;
  project?: string;
  raw?: boolean;
  json?: boolean;
  format: string;
  export: boolean;
  only?: string[];
  prefix?: string;
}

const FAST_FORMATS = new Set(['shell', 'fish', 'dotenv', 'json', 'github']);

/** Parses the few shapes the fast path serves; null means "let the full CLI handle it". */
export function parseFast(argv: string[]): FastArgs | null {
  try {
    return parseShapes(argv);
  } catch {
    return null;
  }
}

function parseShapes(argv: string[]): FastArgs | null {
  const [cmd, ...rest] = argv;
  if (cmd !== 'get' && cmd !== 'env') return null;
  const a: FastArgs = { cmd, format: 'shell', export: true };
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const tok = rest[i];
    const eq = tok.indexOf('=');
    const [flag, inline] = tok.startsWith('--') && eq > 0 ? [tok.slice(0, eq), tok.slice(eq + 1)] : [tok, undefined];
    const value = () => {
      const v = inline ?? rest[++i];
      if (v === undefined || v === '') throw new RangeError('missing value');
      return v;
    };
    switch (flag) {
      case '--vault': a.vault = value(); break;
      case '-p': case '--project': a.project = value(); break;
      case '--json': if (inline !== undefined) return null; a.json = true; break;
      case '--raw': if (cmd !== 'get' || inline !== undefined) return null; a.raw = true; break;
      case '--format': if (cmd !== 'env') return null; a.format = value(); break;
      case '--only': if (cmd !== 'env') return null; a.only = value()?.split(',').map((k) => k.trim()).filter(Boolean); break;
      case '--prefix': if (cmd !== 'env') return null; a.prefix = value(); break;
      case '--no-export': if (cmd !== 'env') return null; a.export = false; break;
      case '--export':
        if (cmd !== 'env' || (inline !== undefined && inline !== 'true' && inline !== 'false')) return null;
        a.export = inline !== 'false';
        break;
      default:
        if (tok.startsWith('-')) return null;
        positional.push(tok);
    }
  }
  if (cmd === 'get') {
    if (positional.length !== 1) return null;
    a.key = positional[0];
  } else if (positional.length) return null;
  if (a.json) a.format = 'json';
  return FAST_FORMATS.has(a.format) ? a : null;
}

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

let handled = false;
try {
  handled = tryFastPath(process.argv.slice(2));
} catch {
  // anything unexpected: the full CLI decides, and reports properly
}
if (!handled) require('./cli.cjs');

// The entry point. `tvault get KEY` and `tvault env` are answered here by a running agent
// without loading yargs, SQLite, the KDF or NaCl: a Node start, a connect and one line of
// JSON. Anything else — another command, a flag this parser does not know, no agent, an
// agent that refuses — hands over to the full CLI (dist/cli.cjs), which decides properly.
import { checkProjectName, resolveVaultDir } from '@tvault/core/base';
import type { Answer } from '@tvault/protocol';
import { agentDisabledByEnv, agentRequest, answerSecrets, finalRefusal, readRequest } from './agent-client';
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

/**
 * What the fast path did: `handled` when it answered (output written, exit code set). Otherwise
 * `asked` holds what the agent said (undefined: it was not asked), which the full CLI gets so
 * that it neither asks again nor repeats a warning.
 */
export type FastResult = { handled: true } | { handled: false; asked?: Answer | null };

export function tryFastPath(argv: string[]): FastResult {
  if (process.platform === 'win32' || agentDisabledByEnv()) return { handled: false };
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
    process.stderr.write(`tvault: ${refusal.message}\n`);
    process.exitCode = refusal.exitCode;
    return { handled: true };
  }
  if (a.cmd === 'get') {
    writeStdoutSync(valueText(a.key!, String(res.value), a));
    return { handled: true };
  }
  let text: string;
  try {
    text = formatEnv(answerSecrets(res), a.format, { export: a.export });
  } catch {
    return { handled: false, asked: res }; // a value this format cannot carry: the full CLI reports it properly
  }
  writeStdoutSync(text);
  return { handled: true };
}

// Node opens an unauthenticated debugger on 127.0.0.1:9229 when it receives SIGUSR1; any local
// process could then read this process's memory (values, the passphrase). A listener of our
// own replaces Node's handler. `run` forwards SIGUSR1 to its child instead.
process.on('SIGUSR1', () => {});

let result: FastResult = { handled: false };
try {
  result = tryFastPath(process.argv.slice(2));
} catch {
  // anything unexpected: the full CLI decides, and reports properly
}
if (!result.handled) (require('./cli.cjs') as typeof import('./main')).main(process.argv.slice(2), result.asked);

// The fast path's argv parser: the few shapes of `tvault get` and `tvault env` that a running
// agent can answer. It must agree with the full CLI's yargs parser wherever it accepts an argv
// (fast-args.parity.test.ts checks that); for anything else it returns null and the full CLI
// decides. Kept apart from fast.ts, whose import runs the entry, so that it can be tested alone.
import { checkProjectName } from '@tvault/core/base';

export interface FastArgs {
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
  const given = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    const tok = rest[i];
    const eq = tok.indexOf('=');
    const [flag, inline] = tok.startsWith('--') && eq > 0 ? [tok.slice(0, eq), tok.slice(eq + 1)] : [tok, undefined];
    // yargs makes a repeated option an array, and takes a separate word that starts with "-"
    // for the next flag rather than for this one's value: both are the full CLI's to decide.
    const value = () => {
      const name = flag === '-p' ? '--project' : flag;
      if (given.has(name)) throw new RangeError('repeated');
      given.add(name);
      const v = inline ?? rest[++i];
      if (v === undefined || v === '' || (inline === undefined && v.startsWith('-'))) throw new RangeError('missing value');
      return v;
    };
    switch (flag) {
      case '--vault':
        a.vault = value();
        break;
      case '-p':
      case '--project':
        a.project = value();
        break;
      case '--json':
        if (inline !== undefined) return null;
        a.json = true;
        break;
      case '--raw':
        if (cmd !== 'get' || inline !== undefined) return null;
        a.raw = true;
        break;
      case '--format':
        if (cmd !== 'env') return null;
        a.format = value();
        break;
      case '--only':
        if (cmd !== 'env') return null;
        a.only = value()
          ?.split(',')
          .map((k) => k.trim())
          .filter(Boolean);
        break;
      case '--prefix':
        if (cmd !== 'env') return null;
        a.prefix = value();
        break;
      case '--no-export':
        if (cmd !== 'env' || inline !== undefined) return null;
        a.export = false;
        break;
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
  // An invalid -p is the full CLI's usage error (its middleware checks it); throws: null here.
  if (a.project !== undefined) checkProjectName(a.project);
  return FAST_FORMATS.has(a.format) ? a : null;
}

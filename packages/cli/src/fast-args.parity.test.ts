// Parity: wherever the fast path's parser (fast-args.ts) accepts an argv, the full CLI's yargs
// parser (parser.ts) must accept it too and give the same values; wherever they would differ,
// parseFast must return null so that the full CLI decides. yargs runs for real here, with a
// middleware that captures the parsed argv before any command handler could run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type FastArgs, parseFast } from './fast-args';
import { isTvaultError } from '@tvault/core/base';
import { buildParser } from './parser';

class Parsed {
  constructor(readonly argv: Record<string, unknown>) {}
}
class Refused {
  constructor(readonly message: string) {}
}

/** yargs' verdict on argv: the parsed arguments, or its refusal. No handler runs. */
function yargsParse(argv: string[]): Parsed | Refused {
  try {
    // parse() is synchronous here (the middleware throws before any handler could run); void: its
    // type says it may be a promise.
    void buildParser(argv)
      .exitProcess(false)
      .fail((msg: string | undefined, err: Error | undefined) => {
        throw new Refused(msg ?? err?.message ?? 'failed');
      })
      .middleware((a: Record<string, unknown>) => {
        throw new Parsed(a);
      })
      .parse();
  } catch (e) {
    if (e instanceof Parsed || e instanceof Refused) return e;
    if (isTvaultError(e)) return new Refused(e.message); // a check in a middleware (an invalid -p)
    throw e;
  }
  throw new Error(`yargs neither parsed nor refused ${JSON.stringify(argv)}`);
}

/** What the command handlers (commands/secrets.ts get, commands/env.ts env) make of yargs' argv. */
function asHandlerSees(cmd: string, a: Record<string, unknown>) {
  const common = { vault: a.vault, project: a.project, json: !!a.json };
  if (cmd === 'get') return { cmd, ...common, key: a.key, raw: !!a.raw };
  const only =
    typeof a.only === 'string' && a.only
      ? a.only
          .split(',')
          .map((k) => k.trim())
          .filter(Boolean)
      : undefined;
  return { cmd, ...common, format: a.json ? 'json' : a.format, export: a.export, only, prefix: a.prefix || undefined, runs: a['--'] };
}

function asFastSees(f: FastArgs) {
  const common = { vault: f.vault, project: f.project, json: !!f.json };
  if (f.cmd === 'get') return { cmd: f.cmd, ...common, key: f.key, raw: !!f.raw };
  return { cmd: f.cmd, ...common, format: f.format, export: f.export, only: f.only, prefix: f.prefix, runs: undefined };
}

// [argv, does the fast path serve it?] The second column pins the fast path's reach, so that a
// parseFast that handed everything over would not pass this test by agreeing with nothing.
const VECTORS: Array<[string, boolean]> = [
  // get: the shapes it serves
  ['get K', true],
  ['get DATABASE_URL --raw', true],
  ['get --raw K', true],
  ['get K --json', true],
  ['get K --json --raw', true],
  ['get K --raw --raw', true],
  ['get K -p backend', true],
  ['get -p backend K', true],
  ['get K --project backend', true],
  ['get K --project=backend', true],
  ['get K --project=a=b', false], // not a valid project name: the full CLI's usage error,
  ['get K --vault /tmp/v', true],
  ['get K --vault=/tmp/v -p x', true],
  ['get K -p 123', true],
  ['get 007', true],
  ['get KÉ_Ü', true],
  ['get K=V', true],
  ['get K --project=-x', false], // likewise,
  // get: handed over
  ['get', false],
  ['get K K2', false],
  ['get K --bogus', false],
  ['get K -x', false],
  ['get K -', false],
  ['get -- K', false],
  ['get K --', false],
  ['get K --raw=true', false],
  ['get K --raw=false', false],
  ['get K --json=true', false],
  ['get K --no-raw', false],
  ['get K --no-json', false],
  ['get K --no-agent', false],
  ['get K --agent', false],
  ['get K --format json', false],
  ['get K --only A', false],
  ['get K --prefix A', false],
  ['get K --export', false],
  ['get K --no-export', false],
  ['get K -p', false],
  ['get K --project', false],
  ['get K --project=', false],
  ['get K --vault', false],
  ['get K --vault --json', false],
  ['get -p -x K', false],
  ['get K -p --raw', false],
  ['get K -p a -p b', false],
  ['get K -p a --project b', false],
  ['get K --vault a --vault b', false],
  ['get K -pfoo', false],
  ['get K -p=foo', false],
  ['get K --help', false],
  ['get K --version', false],
  ['get K --key K', false],
  ['get K --Raw', false],
  // env: the shapes it serves
  ['env', true],
  ['env --json', true],
  ['env --format shell', true],
  ['env --format=fish', true],
  ['env --format dotenv', true],
  ['env --format github', true],
  ['env --format json', true],
  ['env --json --format dotenv', true],
  ['env --no-export', true],
  ['env --export', true],
  ['env --export=true', true],
  ['env --export=false', true],
  ['env --no-export --export', true],
  ['env --export --no-export', true],
  ['env --only A,B', true],
  ['env --only=A,B', true],
  ['env --only " A , B ,"', true],
  ['env --only ,', true],
  ['env --prefix APP_', true],
  ['env --prefix=APP_ --only A', true],
  ['env -p backend --format fish --no-export', true],
  ['env --vault /tmp/v', true],
  // env: handed over
  ['env X', false],
  ['env -- ./server', false],
  ['env --', false],
  ['env --format yaml', false],
  ['env --format JSON', false],
  ['env --format', false],
  ['env --format=', false],
  ['env --format shell --format fish', false],
  ['env --only A --only B', false],
  ['env --prefix A --prefix B', false],
  ['env --only', false],
  ['env --only --json', false],
  ['env --prefix -x', false],
  ['env --prefix=', false],
  ['env --export=yes', false],
  ['env --export=1', false],
  ['env --export false', false],
  ['env --no-export=false', false],
  ['env --no-export=true', false],
  ['env --raw', false],
  ['env --strict', false],
  ['env --pristine', false],
  ['env --allow-dangerous LD_PRELOAD', false],
  ['env --no-agent', false],
  ['env -h', false],
  // not a fast command at all
  ['set K', false],
  ['list', false],
  ['run -- env', false],
  ['export', false],
  ['--json get K', false],
  ['-p x get K', false],
  ['', false],
];

/** Splits a vector on spaces, keeping "double-quoted" words whole. */
const words = (line: string) => [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);

for (const [line, served] of VECTORS) {
  test(`parity: tvault ${line}`, () => {
    const argv = words(line);
    const fast = parseFast(argv);
    assert.equal(fast !== null, served, served ? 'the fast path should serve this' : `the fast path should hand this over, parsed ${JSON.stringify(fast)}`);
    if (!fast) return;
    const y = yargsParse(argv);
    assert.ok(y instanceof Parsed, `the fast path accepts what yargs refuses: ${(y as Refused).message}`);
    assert.deepEqual(asFastSees(fast), asHandlerSees(argv[0], y.argv));
  });
}

test('parity: the table covers every flag the fast path knows', () => {
  const flags = new Set(
    VECTORS.flatMap(([l]) => words(l))
      .filter((w) => w.startsWith('-'))
      .map((w) => w.split('=')[0]),
  );
  for (const f of ['--vault', '-p', '--project', '--json', '--raw', '--format', '--only', '--prefix', '--no-export', '--export']) assert.ok(flags.has(f), f);
});

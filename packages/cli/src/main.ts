// The tvault command line (dist/cli.cjs): fast.ts, the entry of every run, calls main() when it
// did not answer by itself. Every failure ends here as one line on stderr and an exit code from
// the documented table; a stack trace is shown only with TVAULT_DEBUG=1.
import { ExitCode, isTvaultError } from '@tvault/core';
import type { Answer } from '@tvault/protocol';
import { errorJson, exitQuietlyOnClosedStdout, wantsJson } from './output';
import { buildParser } from './parser';

/** Set by main() when the command line asks for --json: errors are then one JSON object too. */
let jsonErrors = false;

function fail(err: unknown): never {
  // isTvaultError, not instanceof: the agent bundle throws TvaultErrors of its own copy of core.
  if (isTvaultError(err)) report(err.message, err.exitCode);
  if (process.env.TVAULT_DEBUG === '1') console.error(err);
  const msg = err instanceof Error ? err.message : String(err);
  report(`internal error: ${msg.split('\n')[0]}`, ExitCode.ERROR);
}

function report(message: string, code: number): never {
  process.stderr.write(jsonErrors ? errorJson(message, code) : `tvault: ${message}\n`);
  process.exit(code);
}

async function parse(argv: string[], fastPathAnswer: Answer | null | undefined): Promise<void> {
  await buildParser(argv, fastPathAnswer)
    .fail((msg, err) => {
      if (err) fail(err);
      report(`${String(msg).replace(/\s*\n\s*/g, ' ')} (see tvault --help)`, ExitCode.USAGE);
    })
    .parseAsync();
}

/**
 * Runs the full CLI on argv. `fastPathAnswer` is what the agent told fast.ts for this same
 * command (undefined when it did not ask), so that the agent is not asked twice.
 */
export function main(argv: string[], fastPathAnswer?: Answer | null): void {
  jsonErrors = wantsJson(argv);
  // `tvault list | head -1` ends quietly with 141, like other tools.
  exitQuietlyOnClosedStdout();
  // If the event loop runs dry while a command is still pending, something it awaited will never
  // answer: exit 0 would claim a success (a `set` that wrote nothing), so fail instead.
  let finished = false;
  process.once('beforeExit', () => {
    if (!finished) fail(new Error('the command stopped before it finished; nothing more was done'));
  });
  // The handoff's builder (handoff/builder.ts): this same program, started by the supervisor.
  const run =
    argv[0] === '__handoff-build' && argv.length === 1
      ? (require('./handoff/builder') as typeof import('./handoff/builder')).runBuilder()
      : parse(argv, fastPathAnswer);
  run.then(() => (finished = true), fail);
}

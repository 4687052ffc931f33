// The tvault command line. Every failure ends here as one line on stderr and an exit code
// from the documented table; a stack trace is shown only with TVAULT_DEBUG=1.
import { ExitCode, TvaultError } from '@tvault/core';
import { exitQuietlyOnClosedStdout } from './output';
import { buildParser } from './parser';

function fail(err: unknown): never {
  if (err instanceof TvaultError) {
    process.stderr.write(`tvault: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  if (process.env.TVAULT_DEBUG === '1') console.error(err);
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`tvault: internal error: ${msg.split('\n')[0]}\n`);
  process.exit(ExitCode.ERROR);
}

async function main(argv: string[]): Promise<void> {
  await buildParser(argv)
    .fail((msg, err) => {
      if (err) fail(err);
      process.stderr.write(`tvault: ${String(msg).replace(/\s*\n\s*/g, ' ')} (see tvault --help)\n`);
      process.exit(ExitCode.USAGE);
    })
    .parseAsync();
}

// `tvault list | head -1` ends quietly with 141, like other tools.
exitQuietlyOnClosedStdout();

// If the event loop runs dry while a command is still pending, something it awaited will never
// answer: exit 0 would claim a success (a `set` that wrote nothing), so fail instead.
let finished = false;
process.once('beforeExit', () => {
  if (!finished) fail(new Error('the command stopped before it finished; nothing more was done'));
});
main(process.argv.slice(2)).then(() => (finished = true), fail);

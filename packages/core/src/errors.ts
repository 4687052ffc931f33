// Every failure the user can see carries an exit code from this table; the CLI prints the
// message on one line and exits with the code. Messages never contain secret values.
export const ExitCode = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  LOCKED: 3,
  NOT_FOUND: 4,
  NOT_INITIALIZED: 5,
  WRONG_PASSPHRASE: 6,
  INTEGRITY: 8,
  CANCELLED: 130,
  STDOUT_CLOSED: 141, // `tvault list | head -1`: the status of a program killed by SIGPIPE
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The brand of a TvaultError. Each bundle (dist/cli.cjs, dist/agent.cjs) has its own copy of this
 * class, so the brand, a registered symbol shared by every copy, is what recognises one, not
 * its prototype and not its name.
 */
const BRAND = Symbol.for('tvault.error');

/** Whether err is a TvaultError, from this bundle or another one loaded in the same process. */
export function isTvaultError(err: unknown): err is TvaultError {
  return typeof err === 'object' && err !== null && (err as { [BRAND]?: unknown })[BRAND] === true;
}

export class TvaultError extends Error {
  readonly [BRAND] = true;

  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.ERROR,
  ) {
    super(message);
    this.name = 'TvaultError';
  }

  // `err instanceof TvaultError` holds for another bundle's TvaultError too (see BRAND).
  static [Symbol.hasInstance](err: unknown): boolean {
    return isTvaultError(err);
  }
}

export const usageError = (msg: string) => new TvaultError(msg, ExitCode.USAGE);
export const notFound = (msg: string) => new TvaultError(msg, ExitCode.NOT_FOUND);
export const integrityError = (msg: string) => new TvaultError(msg, ExitCode.INTEGRITY);
export const lockedError = (msg: string) => new TvaultError(msg, ExitCode.LOCKED);

/** A failed system call's code (ENOENT, EACCES), or undefined for any other error. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A failed system call for a one-line message: its code (`ENOENT`, `EISDIR`), else the first
 * line of its message. With sayMissing, ENOENT reads "it does not exist".
 */
export function errnoText(err: unknown, opts: { sayMissing?: boolean } = {}): string {
  const code = errnoCode(err);
  if (code === 'ENOENT' && opts.sayMissing) return 'it does not exist';
  return code ?? String((err as Error)?.message ?? err).split('\n')[0];
}

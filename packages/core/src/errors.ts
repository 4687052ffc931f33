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
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class TvaultError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.ERROR,
  ) {
    super(message);
    this.name = 'TvaultError';
  }
}

export const usageError = (msg: string) => new TvaultError(msg, ExitCode.USAGE);
export const notFound = (msg: string) => new TvaultError(msg, ExitCode.NOT_FOUND);
export const integrityError = (msg: string) => new TvaultError(msg, ExitCode.INTEGRITY);
export const lockedError = (msg: string) => new TvaultError(msg, ExitCode.LOCKED);

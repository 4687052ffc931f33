// Printing: JSON for --json, aligned columns for people. Errors are one line on stderr.
import { writeSync } from 'node:fs';
import { ExitCode, errnoCode, errnoText } from '@tvault/core/base';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function printTable(rows: string[][], header?: string[]): void {
  const all = header ? [header, ...rows] : rows;
  if (!all.length) return;
  const widths = all[0].map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  for (const r of all)
    process.stdout.write(
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd() + '\n',
    );
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Whether argv asks for --json (before any `--`, after which the words are a child's). */
export function wantsJson(argv: string[]): boolean {
  for (const w of argv) {
    if (w === '--') return false;
    if (w === '--json' || w === '--json=true') return true;
  }
  return false;
}

/** An error under --json: one object on stderr, `code` the exit code, `error` its name in the table. */
export function errorJson(message: string, code: number): string {
  const name =
    Object.entries(ExitCode)
      .find(([, c]) => c === code)?.[0]
      .toLowerCase() ?? 'error';
  return JSON.stringify({ error: name, code, message }) + '\n';
}

export function warn(msg: string): void {
  process.stderr.write(`tvault: warning: ${msg}\n`);
}

/** How `get` prints a value: exact bytes with --raw, a JSON object with --json, else a line. */
export function valueText(key: string, value: string, opts: { raw?: boolean; json?: boolean }): string {
  if (opts.json) return JSON.stringify({ key, value }, null, 2) + '\n';
  return opts.raw ? value : value + '\n';
}

export function writeValue(key: string, value: string, opts: { raw?: boolean; json?: boolean }): void {
  process.stdout.write(valueText(key, value, opts));
}

/**
 * Writes to fd 1 without creating process.stdout, which costs the fast path ~2 ms (more on a
 * pipe, where it loads node:net). The bytes are wiped afterwards: they hold secret values. A
 * closed reader ends the process with 141, as exitQuietlyOnClosedStdout does; any other write
 * error ends it with 1 (never a fallback that could print the output twice).
 */
export function writeStdoutSync(text: string): void {
  const buf = Buffer.from(text, 'utf8');
  try {
    for (let off = 0; off < buf.length;) {
      try {
        off += writeSync(1, buf, off);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'EPIPE') process.exit(ExitCode.STDOUT_CLOSED);
        if (code !== 'EAGAIN') {
          process.stderr.write(`tvault: cannot write to standard output: ${errnoText(err)}\n`);
          process.exit(ExitCode.ERROR);
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // a non-blocking pipe is full: wait 1 ms
      }
    }
  } finally {
    buf.fill(0);
  }
}

/**
 * `tvault list | head -1`: once the reader has gone, stop quietly with the status a program
 * killed by SIGPIPE has (128 + 13), as other Unix tools do, instead of an EPIPE stack trace.
 */
export function exitQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.STDOUT_CLOSED);
    throw err;
  });
}

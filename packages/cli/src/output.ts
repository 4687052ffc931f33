// Printing: JSON for --json, aligned columns for people. Errors are one line on stderr.
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function printTable(rows: string[][], header?: string[]): void {
  const all = header ? [header, ...rows] : rows;
  if (!all.length) return;
  const widths = all[0].map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  for (const r of all) process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd() + '\n');
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function warn(msg: string): void {
  process.stderr.write(`tvault: warning: ${msg}\n`);
}


/** How `get` prints a value: exact bytes with --raw, a JSON object with --json, else a line. */
export function writeValue(key: string, value: string, opts: { raw?: boolean; json?: boolean }): void {
  if (opts.json) printJson({ key, value });
  else process.stdout.write(opts.raw ? value : value + '\n');
}

/**
 * `tvault list | head -1`: once the reader has gone, stop quietly with the status a program
 * killed by SIGPIPE has (128 + 13), as other Unix tools do, instead of an EPIPE stack trace.
 */
export function exitQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(141);
    throw err;
  });
}

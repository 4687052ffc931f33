// The one way durations are shown: `agent start`'s line, `agent status`, token expiry.
const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
] as const;

/**
 * Exact: 900000 → "15m", 5400000 → "1h30m", 1500 → "1500ms", 0 → "off".
 * Approximate (a countdown): the largest unit, rounded, as the `ms` package prints it:
 * 5400000 → "2h", 299400 → "5m", 999 → "999ms".
 */
export function formatDuration(ms: number, opts: { approximate?: boolean } = {}): string {
  if (opts.approximate) {
    const n = Math.round(ms / 1000) * 1000;
    if (ms < 1000) return `${ms}ms`;
    const [unit, size] = UNITS.find(([, size]) => n >= size)!;
    return `${Math.round(n / size)}${unit}`;
  }
  if (!ms) return 'off';
  if (ms % 1000) return `${ms}ms`;
  let rest = ms;
  let out = '';
  for (const [unit, size] of UNITS) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}

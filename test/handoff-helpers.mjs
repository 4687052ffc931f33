// Shared by the handoff process tests: a real vault with two projects, fake "agent" scripts that
// report what they see into a file, and a way to read that report.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, makeVault } from './helpers.mjs';

/** A vault with default: A, B, API_KEY and project other: OTHER (all with known values). */
export function handoffVault(t) {
  const v = makeVault(t);
  if (v.run(['projects', 'create', 'other']).code !== 0) throw new Error('projects create failed');
  for (const [p, k, val] of [
    ['default', 'A', 'value-a'],
    ['default', 'B', 'value-b'],
    ['default', 'API_KEY', 'value-api'],
    ['other', 'OTHER', 'value-other'],
  ]) {
    const r = v.run(['set', '-p', p, k, '--stdin'], { input: val });
    if (r.code !== 0) throw new Error(`set failed: ${r.stderr}`);
  }
  return v;
}

/**
 * Writes an executable sh script into dir; `body` runs with $TV set to the tvault command and
 * $REPORT to a file it may append to. Returns { path, report: () => text }.
 */
export function agentScript(dir, name, body) {
  const path = join(dir, name);
  const report = join(dir, `${name}.report`);
  writeFileSync(path, `#!/bin/sh\nTV="${process.execPath} ${BIN}"\nREPORT="${report}"\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, reportFile: report, report: () => (existsSync(report) ? readFileSync(report, 'utf8') : '') };
}

/** key=value lines of a report as an object (the last value of a key wins). */
export function parseReport(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

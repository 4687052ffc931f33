// The coding agents `tvault run` recognises, and its nudge: `tvault run -- claude` hands the
// agent every secret of the project in the clear, and whatever runs as you can then reach the
// rest of your vault the way you can. At a terminal, outside a handoff, run asks whether
// `tvault handoff` was meant (default: no, do not start). Accident-proofing, not a boundary: a
// renamed binary, a wrapper script or `--yes` passes, and a non-interactive run is unchanged.
import { basename } from 'node:path';
import { isatty } from 'node:tty';
import { askLine, hasTty } from '../prompt';
import { inspectHandoff } from './inspect';

/** Program names of well-known AI coding agents (the one list; README "AI coding agents" names them). */
export const CODING_AGENTS: readonly string[] = [
  'aider',
  'amp',
  'claude',
  'cline',
  'codex',
  'copilot',
  'crush',
  'cursor-agent',
  'gemini',
  'goose',
  'opencode',
  'openhands',
  'qwen',
];

/** Whether argv[0] names a coding agent: its file name, without a version or `.js`-like suffix. */
export function isCodingAgent(program: string): boolean {
  const name = basename(program)
    .toLowerCase()
    .replace(/\.(c?js|mjs|exe|sh|py)$/, '');
  return CODING_AGENTS.includes(name);
}

/**
 * Whether `run` may go ahead: yes unless it launches a coding agent from a terminal, outside a
 * handoff, and the user does not say yes to the question. `--yes` skips the question.
 */
export function runMayStartAgent(cmd: string[], yes: boolean): boolean {
  if (yes || !cmd.length || !isCodingAgent(cmd[0])) return true;
  if (!isatty(0) || !hasTty()) return true;
  if (inspectHandoff(process.env).handoff) return true;
  const name = basename(cmd[0]);
  const answer = askLine(
    `tvault: ${name} is a coding agent, and tvault run gives it your secrets with your vault in its reach.\n` +
      `Did you mean: tvault handoff -- ${name}?  Run it with tvault run anyway? [y/N] `,
  );
  return /^y(es)?$/i.test(answer.trim());
}

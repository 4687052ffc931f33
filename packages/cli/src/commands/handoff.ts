// `tvault handoff -- AGENT` (handoff/supervisor.ts) and `tvault handoff inspect` (handoff/inspect.ts).
import { ExitCode } from '@tvault/core';
import type { Y } from './argv';
import { printJson } from '../output';
import type { HandoffArgs } from '../handoff/supervisor';

const HANDOFF_EPILOGUE =
  'The agent gets TVAULT_DIR (the session vault, in RAM), TVAULT_IDENTITY_KEY (its fresh key) and TVAULT_HANDOFF, and none of your ' +
  "tvault credentials. No unlock agent may serve your vault meanwhile. Exit status: the agent's own; 128+N if signal N killed it; " +
  '125 if tvault failed before starting it; 126/127 if it is not executable / not found. See docs/SECURITY.md, "Handoff".';

/** The command after the first `--`, exactly as given (as env.ts's run reads it). */
function commandAfterDashes(): string[] {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--');
  return i < 0 ? [] : argv.slice(i + 1);
}

export function handoffCommand(y: Y): Y {
  return y
    .command(
      'inspect',
      'exit 0 inside a live handoff session, 1 otherwise (unlocks and asks for nothing)',
      (c: Y): Y => c.example('tvault handoff inspect --json', '{"handoff":true,"project":"api","keys":3}'),
      (a: { json?: boolean }) => {
        const { inspectHandoff } = require('../handoff/inspect') as typeof import('../handoff/inspect');
        const state = inspectHandoff(process.env);
        if (a.json) printJson(state);
        process.exitCode = state.handoff ? ExitCode.OK : ExitCode.ERROR;
      },
    )
    .option('only', { type: 'string', describe: 'hand off only these comma-separated keys' })
    .option('prefix', { type: 'string', describe: 'hand off only keys starting with this' })
    .option('ttl', { type: 'string', describe: 'destroy the session vault after this long (30m, 2h), even if the agent still runs' })
    .option('allow-disk', { type: 'boolean', describe: 'put the session vault on disk when no RAM-backed directory is usable' })
    .option('stop-agent', { type: 'boolean', describe: 'stop an unlock agent that serves this vault (handoff refuses to start beside one)' })
    .example('tvault handoff -- claude', "the agent reads the project's secrets, never your vault's key")
    .example('tvault handoff -p api --only DATABASE_URL --ttl 2h -- codex', '')
    .epilogue(HANDOFF_EPILOGUE);
}

export async function handoffHandler(a: HandoffArgs): Promise<void> {
  const { handoff } = require('../handoff/supervisor') as typeof import('../handoff/supervisor');
  process.exitCode = await handoff(a, commandAfterDashes());
}

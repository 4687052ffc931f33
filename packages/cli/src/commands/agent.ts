import type { Argv } from 'yargs';
export function agentCommands(y: Argv): Argv {
  return y.demandCommand(1, 'agent: not yet built');
}

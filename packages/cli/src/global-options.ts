// Which of the global options each command's --help shows. They stay accepted everywhere (a
// script that passes --vault to every call keeps working); help and completion list only those
// that change what the command does. A command missing from the table shows them all.
import type { Y } from './commands/argv';

/** The global options, and the top-level commands whose help hides them. */
const HIDDEN_ON: Record<string, string[]> = {
  vault: ['hook', 'completion', 'version'],
  // -p applies to the commands that work on one project's secrets (and status, which names it).
  project: ['init', 'doctor', 'key', 'backup', 'restore', 'projects', 'use', 'allow', 'deny', 'agent', 'hook', 'completion', 'version'],
  // The agent answers reads only; every other command opens the vault itself.
  agent: [
    'init',
    'status',
    'doctor',
    'key',
    'import',
    'backup',
    'restore',
    'set',
    'list',
    'ls',
    'delete',
    'rm',
    'history',
    'rollback',
    'search',
    'projects',
    'use',
    'allow',
    'deny',
    'audit',
    'agent',
    'hook',
    'completion',
    'version',
    'edit',
    'mcp',
  ],
  json: ['run', 'hook', 'completion', 'edit', 'mcp'],
};

function hideGlobals(y: Y, top: string): void {
  for (const [option, commands] of Object.entries(HIDDEN_ON)) if (commands.includes(top)) y.hide(option);
  y.version(false); // the version is the whole tool's: `tvault -V`, `tvault version`
}

/**
 * Wraps cli.command so that every command's builder (nested ones too: yargs hands builders the
 * same instance) ends by hiding the global options its command has no use for.
 */
export function scopeGlobalOptions(cli: Y): void {
  const add = cli.command.bind(cli);
  let top = '';
  let depth = 0;
  cli.command = (cmd: unknown, desc: unknown, builder?: unknown, ...rest: unknown[]) => {
    if (typeof builder !== 'function') return add(cmd, desc, builder, ...rest);
    const word = String(Array.isArray(cmd) ? cmd[0] : cmd).split(' ')[0];
    const scoped = (y: Y, ...more: unknown[]) => {
      const outer = top;
      if (depth === 0) top = word;
      depth++;
      try {
        const r = builder(y, ...more);
        if (word !== '$0') hideGlobals(y, top);
        return r;
      } finally {
        depth--;
        top = outer;
      }
    };
    return add(cmd, desc, scoped, ...rest);
  };
}

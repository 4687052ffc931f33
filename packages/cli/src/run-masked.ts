// `tvault run --mask -- cmd`: the injected values are masked in the child's output by the
// agent's masker (packages/agent/src/masker.ts), through the same pump as brokered exec
// (packages/agent/src/masked-io.ts): on a pty when stdout is a terminal, through pipes otherwise.
import { type OutputMasker, isTerminal, spawnOnPty } from '@tvault/agent/masked-io';
import { MIN_MASK_BYTES, MaskSet, Masker } from '@tvault/agent/masker';
import { NOT_EXECUTABLE, NOT_FOUND, RUN_FAILED, resolveCommand, runChild } from './run';
import { childCoreLimit } from './harden';

/** Signals forwarded to a pty child: it leads its own session, so the terminal's reach only tvault. */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** The warning for values too short to be masked (the same words for run --broker). */
export function unmaskedWarning(names: string[]): string {
  const n = names.length;
  return `tvault: warning: ${names.join(', ')} ${n > 1 ? 'are' : 'is'} shorter than ${MIN_MASK_BYTES} bytes and ${n > 1 ? 'were' : 'was'} not masked in the output\n`;
}

/** Runs cmd with env, its output masked for the given secrets; resolves with the exit code. */
export function runMasked(
  cmd: string[],
  env: NodeJS.ProcessEnv,
  secrets: Array<{ name: string; value: string }>,
  opts: { lookupPath?: string } = {},
): Promise<number> {
  const values = secrets.map((s) => ({ name: s.name, value: Buffer.from(s.value, 'utf8') }));
  const set = new MaskSet(values); // one automaton for both streams
  const mask = { out: new Masker(set), err: new Masker(set) };
  const unmasked = Masker.unmasked(values);
  values.forEach((v) => v.value.fill(0));
  if (unmasked.length) process.stderr.write(unmaskedWarning(unmasked));
  if (!isTerminal(1)) return runChild(cmd, env, { ...opts, mask });
  return runOnPty(cmd, env, mask, opts.lookupPath ?? env.PATH ?? '');
}

/** The pty case: the child's terminal is a pty whose output is masked onto this one. */
async function runOnPty(cmd: string[], env: NodeJS.ProcessEnv, masker: { out: OutputMasker; err: OutputMasker }, lookupPath: string): Promise<number> {
  // execve does no PATH search: the program is found here, as the caller's shell would.
  const file = resolveCommand(cmd[0], lookupPath);
  if (!file.includes('/')) {
    process.stderr.write(`tvault: ${cmd[0]}: command not found\n`);
    return NOT_FOUND;
  }
  const childEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const restoreLimit = childCoreLimit();
  let child;
  try {
    child = spawnOnPty({ file, argv: cmd, env: childEnv, cwd: process.cwd(), stdio: [0, 1, 2], masker, closeCallerFds: false });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') process.stderr.write(`tvault: ${cmd[0]}: command not found\n`);
    else if (code === 'EACCES' || code === 'ENOEXEC' || code === 'EISDIR' || code === 'EPERM')
      process.stderr.write(`tvault: ${cmd[0]}: not executable (${code})\n`);
    else process.stderr.write(`tvault: cannot run ${cmd[0]}: ${code ?? (err as Error).message}\n`);
    return code === 'ENOENT' ? NOT_FOUND : code === 'EACCES' || code === 'ENOEXEC' || code === 'EISDIR' || code === 'EPERM' ? NOT_EXECUTABLE : RUN_FAILED;
  } finally {
    restoreLimit();
  }
  const c = child;
  const handlers = FORWARDED.map((sig) => [sig, () => c.kill(sig)] as const);
  const winch = () => c.resize();
  handlers.forEach(([sig, h]) => process.on(sig, h));
  process.on('SIGWINCH', winch);
  try {
    const end = await c.done;
    return end.signal !== null ? 128 + end.signal : (end.code ?? RUN_FAILED);
  } finally {
    handlers.forEach(([sig, h]) => process.off(sig, h));
    process.off('SIGWINCH', winch);
  }
}

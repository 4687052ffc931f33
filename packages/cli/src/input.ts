// Reading a secret's value from stdin, a file, or a hidden prompt: never a JS string.
import { readFileSync } from 'node:fs';
import { TvaultError, errnoText, usageError } from '@tvault/core';
import { hasTty, readHidden } from './prompt';

function readAll(fd: number | string): Buffer {
  try {
    return readFileSync(fd);
  } catch (err) {
    throw new TvaultError(`cannot read ${fd === 0 ? 'stdin' : fd}: ${errnoText(err)}`);
  }
}

/**
 * One trailing newline (LF or CRLF) is dropped from --stdin, as `echo "$X" |` adds one (and
 * `printf %s "$X" |` does not, so both habits store the same value). A file is never trimmed:
 * its bytes are the value (an OpenSSH private key without its final newline does not load).
 */
function chompOne(b: Buffer): Buffer {
  let end = b.length;
  if (end && b[end - 1] === 0x0a) {
    end--;
    if (end && b[end - 1] === 0x0d) end--;
  }
  return end === b.length ? b : b.subarray(0, end);
}

export interface ValueSource {
  stdin?: boolean;
  file?: string;
  value?: string;
  keepNewline?: boolean;
  name: string;
}

/**
 * Checks where the value comes from before anything is asked, and returns its reader.
 * `prompted`: the value is typed at a hidden prompt, so `set` asks for the passphrase first
 * and a mistyped passphrase does not lose a value just typed.
 */
export function valueReader(opts: ValueSource): { prompted: boolean; read: () => Promise<Buffer> } {
  const sources = [opts.stdin, opts.file !== undefined, opts.value !== undefined].filter(Boolean).length;
  if (sources > 1) throw usageError('give the value one way: --stdin, -f FILE, or the hidden prompt');
  if (opts.value !== undefined) return { prompted: false, read: async () => Buffer.from(opts.value!, 'utf8') };
  if (opts.stdin || opts.file !== undefined) {
    return {
      prompted: false,
      read: async () => {
        const raw = readAll(opts.stdin ? 0 : opts.file!);
        if (opts.keepNewline || !opts.stdin) return raw;
        const out = Buffer.from(chompOne(raw));
        raw.fill(0);
        return out;
      },
    };
  }
  if (!process.stdin.isTTY && !hasTty()) throw usageError(`no value given for ${opts.name}: pipe it with --stdin, or use -f FILE`);
  if (!process.stdin.isTTY) {
    // stdin is a pipe: the user almost certainly meant --stdin; say so rather than guess.
    throw usageError(`stdin is not a terminal; to read the value of ${opts.name} from it, add --stdin`);
  }
  return { prompted: true, read: () => readHidden(`Value for ${opts.name}: `) };
}

// A hidden prompt on the controlling terminal (/dev/tty, not stdin, so that values can be piped
// in while the passphrase is typed). Keystrokes collect into a Buffer that is zeroed on growth
// and on abort; the passphrase never becomes a JS string.
import { openSync, closeSync, readSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { ExitCode, TvaultError, lockedError } from '@tvault/core';

export function openTty(): number | null {
  try {
    return openSync('/dev/tty', 'r+');
  } catch {
    return null;
  }
}

export function hasTty(): boolean {
  const fd = openTty();
  if (fd === null) return false;
  closeSync(fd);
  return true;
}

/** Reads one hidden line from /dev/tty. Ctrl-C or Ctrl-D on an empty line aborts. */
export function readHidden(prompt: string): Promise<Buffer> {
  const fd = openTty();
  if (fd === null) throw lockedError('no terminal to prompt on');
  const input = new ReadStream(fd);
  input.setRawMode(true); // before the prompt, so that nothing typed after it is ever echoed
  writeSync(fd, prompt);
  let buf = Buffer.alloc(64);
  let len = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const finish = (err: Error | null) => {
      input.setRawMode(false);
      input.removeAllListeners('data');
      writeSync(fd, '\n');
      input.destroy(); // closes fd
      if (err) {
        buf.fill(0);
        reject(err);
      } else {
        const out = Buffer.from(buf.subarray(0, len));
        buf.fill(0);
        resolve(out);
      }
    };
    input.on('data', (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return finish(null);
        if (byte === 0x03) return finish(new TvaultError('cancelled', ExitCode.CANCELLED));
        if (byte === 0x04 && len === 0) return finish(new TvaultError('cancelled', ExitCode.CANCELLED));
        if (byte === 0x7f || byte === 0x08) {
          if (len > 0) buf[--len] = 0;
          continue;
        }
        if (byte === 0x15) {
          buf.fill(0, 0, len);
          len = 0;
          continue;
        }
        if (len === buf.length) {
          const bigger = Buffer.alloc(buf.length * 2);
          buf.copy(bigger);
          buf.fill(0);
          buf = bigger;
        }
        buf[len++] = byte;
      }
      chunk.fill(0);
    });
  });
}

/**
 * Asks a question on /dev/tty and reads one visible line (the terminal's own line editing):
 * for yes/no questions, never for a secret. '' when there is no terminal or it is closed.
 */
export function askLine(question: string): string {
  const fd = openTty();
  if (fd === null) return '';
  try {
    writeSync(fd, question);
    const buf = Buffer.alloc(256);
    let line = '';
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        return line;
      }
      if (n <= 0) return line;
      line += buf.toString('utf8', 0, n);
      if (line.includes('\n')) return line.slice(0, line.indexOf('\n'));
    }
  } finally {
    closeSync(fd);
  }
}

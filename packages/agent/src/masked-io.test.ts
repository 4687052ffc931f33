// The masked-output pump shared by brokered exec and `run --mask`: a value split across the
// source's chunks at every offset reaches the descriptor masked, nothing else changes, and the
// descriptor is closed or kept as asked. (The pty half runs under script(1): test/masked-tty.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, readFileSync, readSync, writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { pipe, pipeTune } from '@tvault/native';
import { Masker } from './masker';
import { childPipe, maskedCopy, maskedPump } from './masked-io';

const VALUE = 'pump-secret-value-31337';
const TEXT = `before ${VALUE} middle ${Buffer.from(VALUE).toString('base64')} after\nprompt> `;

/** TEXT pushed in two pieces split at `at`, copied through a masker into a pipe; what came out. */
async function copied(at: number, autoClose: boolean): Promise<{ out: string; writeEndOpen: boolean }> {
  const [r, w] = pipe();
  const src = new PassThrough();
  const done = maskedCopy(src, w, new Masker([{ name: 'TOKEN', value: Buffer.from(VALUE) }]), { autoClose });
  src.write(Buffer.from(TEXT.slice(0, at)));
  src.end(Buffer.from(TEXT.slice(at)));
  await done;
  // Still open means: w is still this pipe (the same inode as its read end), not a reused number.
  let writeEndOpen: boolean;
  try {
    writeEndOpen = fstatSync(w).ino === fstatSync(r).ino;
  } catch {
    writeEndOpen = false;
  }
  if (writeEndOpen) closeSync(w);
  const out = readFileSync(r, 'latin1');
  closeSync(r);
  return { out, writeEndOpen };
}

test('maskedCopy: the value and its encoding are masked wherever the chunks split; the rest passes unchanged', async () => {
  for (let at = 0; at <= TEXT.length; at++) {
    const { out } = await copied(at, true);
    assert.equal(out, 'before <masked:TOKEN> middle <masked:TOKEN> after\nprompt> ', `split at ${at}`);
  }
});

test('maskedCopy: autoClose closes the descriptor when done; without it (run --mask on its own stdout) it stays open', async () => {
  assert.equal((await copied(3, true)).writeEndOpen, false);
  assert.equal((await copied(3, false)).writeEndOpen, true);
});

const masker = () => new Masker([{ name: 'TOKEN', value: Buffer.from(VALUE) }]);
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads whatever a non-blocking pipe end holds now. */
function drain(fd: number): string {
  const buf = Buffer.alloc(1 << 16);
  let text = '';
  for (;;) {
    try {
      const n = readSync(fd, buf);
      if (!n) return text;
      text += buf.toString('latin1', 0, n);
    } catch {
      return text; // EAGAIN
    }
  }
}

test("maskedPump: a value split across the pipe's reads at every offset is masked; a prompt without a newline appears at once", async () => {
  for (let at = 0; at <= TEXT.length; at += 3) {
    const [src, w] = childPipe();
    const [r, dst] = pipe();
    pipeTune(r, 0); // the test's own read end, non-blocking
    const done = maskedPump(src, dst, masker());
    writeSync(w, TEXT.slice(0, at));
    await tick(2);
    writeSync(w, TEXT.slice(at));
    let seen = '';
    for (let k = 0; k < 200 && !seen.endsWith('prompt> '); k++) {
      await tick(2);
      seen += drain(r);
    }
    assert.equal(seen, 'before <masked:TOKEN> middle <masked:TOKEN> after\nprompt> ', `split at ${at}, before the end of input`);
    closeSync(w);
    await done;
    closeSync(r);
  }
});

test('maskedPump: a non-blocking caller descriptor that fills up (EAGAIN) gets everything, in order, once it is read', async () => {
  const [src, w] = childPipe();
  const [r, dst] = pipe();
  pipeTune(dst, 4096); // the caller's end: non-blocking, and small
  pipeTune(r, 0);
  const line = `line of output ${VALUE}\n`;
  const child = spawn(process.execPath, ['-e', `process.stdout.write(${JSON.stringify(line)}.repeat(40000))`], { stdio: ['ignore', w, 'inherit'] });
  closeSync(w);
  const done = maskedPump(src, dst, masker());
  await tick(100); // the caller's pipe is full long before this
  let got = '';
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    got += drain(r);
    await tick(1);
  }
  got += drain(r);
  closeSync(r);
  await new Promise((res) => (child.exitCode === null ? child.on('exit', res) : res(null)));
  assert.equal(got.length, 'line of output <masked:TOKEN>\n'.length * 40000);
  assert.equal(got, 'line of output <masked:TOKEN>\n'.repeat(40000));
});

test("maskedPump: when the caller's reader is gone (EPIPE), the pipe is closed and the child gets SIGPIPE, as with a plain pipe", async () => {
  const [src, w] = childPipe();
  const [r, dst] = pipe();
  closeSync(r);
  const child = spawn('sh', ['-c', 'while :; do echo output; done'], { stdio: ['ignore', w, 'inherit'] });
  closeSync(w);
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
  await maskedPump(src, dst, masker());
  assert.equal(await exited, 'SIGPIPE');
});

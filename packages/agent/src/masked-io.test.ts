// The masked-output pump shared by brokered exec and `run --mask`: a value split across the
// source's chunks at every offset reaches the descriptor masked, nothing else changes, and the
// descriptor is closed or kept as asked. (The pty half runs under script(1): test/masked-tty.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { pipe } from '@tvault/native';
import { Masker } from './masker';
import { maskedCopy } from './masked-io';

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

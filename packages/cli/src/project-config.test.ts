// The allow record's name (allowId) is SHA-256 from @noble/hashes, so that the fast path need not
// load node:crypto: it must be the digest node:crypto gives, byte for byte, or every record
// written before (and by `tvault allow` on another install) would stop matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { allowId } from './project-config';

const viaNode = (path: string, content: Buffer) => createHash('sha256').update(resolve(path)).update('\0').update(content).digest('hex');

test('allowId is sha256(absolute path, NUL, content) as node:crypto computes it', () => {
  const cases: Array<[string, Buffer]> = [
    ['/home/u/repo/tvault.toml', Buffer.from('project = "app"\n')],
    ['/home/u/repo/tvault.toml', Buffer.alloc(0)],
    ['relative/dir/tvault.toml', Buffer.from('project = "x"\n')], // made absolute against the cwd
    ['/home/ü/répo ✓/tvault.toml', Buffer.from('project = "ü"\n# ✓\n')], // a UTF-8 path and content
    ['/r/tvault.toml', Buffer.from([0, 0xff, 0xfe, 0x0a])], // bytes that are not UTF-8
    ['/r/tvault.toml', Buffer.alloc(200_000, 'a')], // many blocks
    ['/' + 'p'.repeat(55), Buffer.alloc(0)], // message lengths around SHA-256's 64-byte block and its padding
    ['/' + 'p'.repeat(54), Buffer.from('x')],
    ['/' + 'p'.repeat(62), Buffer.from('xy')],
  ];
  for (const [path, content] of cases) assert.equal(allowId(path, content), viaNode(path, content), `${path.slice(0, 40)} + ${content.length} bytes`);
  assert.notEqual(allowId('/a/tvault.toml', Buffer.from('b')), allowId('/a/tvault.tom', Buffer.from('lb')), 'the NUL separates path and content');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closest, distance } from './argv';

const TOP = ['init', 'status', 'doctor', 'key', 'import', 'backup', 'restore', 'set', 'get', 'list', 'delete', 'history', 'rollback', 'search'];
const MORE = [...TOP, 'projects', 'use', 'env', 'run', 'export', 'allow', 'deny', 'audit', 'agent', 'hook', 'version', 'completion', 'edit', 'ls', 'rm'];

test('distance: edits, with a swap of neighbours as one', () => {
  for (const [a, b, d] of [
    ['list', 'list', 0],
    ['lsit', 'list', 1],
    ['gte', 'get', 1],
    ['stauts', 'status', 1],
    ['copy', 'deny', 3],
    ['', 'abc', 3],
    ['kitten', 'sitting', 3],
  ] as const)
    assert.equal(distance(a, b), d, `${a} / ${b}`);
});

test('did you mean: typos get their command; unrelated words and ties get nothing', () => {
  for (const [word, want] of [
    ['lsit', 'list'],
    ['stauts', 'status'],
    ['agnet', 'agent'],
    ['imprt', 'import'],
    ['expotr', 'export'],
    ['hisotry', 'history'],
    ['docter', 'doctor'],
    ['ver', 'version'], // a prefix of one command
    ['roll', 'rollback'],
    ['Get', 'get'],
    ['copy', undefined], // was "deny"
    ['xyz', undefined],
    ['cp', undefined],
    ['de', undefined], // a prefix of two: delete, deny
    ['sat', 'set'],
    ['rn', undefined], // one edit from rm (delete) and from run: a tie
    ['lst', 'list'], // one edit from list and from ls, its alias: no tie
  ] as const)
    assert.equal(closest(word, MORE, { ls: 'list', rm: 'delete' }), want, word);
});

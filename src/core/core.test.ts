import assert from 'node:assert/strict';
import { test } from 'node:test';
import { familiarString, normalizeTagged, parseReference } from './reference.ts';
import { parseSignal } from './signals.ts';

test('short names get the docker.io library path and latest tag', () => {
  assert.deepEqual(parseReference('busybox'), { domain: 'docker.io', path: 'library/busybox', tag: undefined, digest: undefined });
  assert.equal(normalizeTagged('busybox'), 'busybox:latest');
  assert.equal(normalizeTagged('docker.io/library/busybox:1.36'), 'busybox:1.36');
});

test('registries with ports and localhost are domains, not paths', () => {
  assert.equal(normalizeTagged('localhost:5000/app'), 'localhost:5000/app:latest');
  assert.equal(normalizeTagged('registry.example:443/team/app:v1'), 'registry.example:443/team/app:v1');
  assert.equal(normalizeTagged('user/app'), 'user/app:latest');
});

test('digests are kept and not given a tag', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  assert.equal(familiarString(parseReference(`busybox@${d}`)), `busybox@${d}`);
  assert.equal(normalizeTagged(`busybox@${d}`), `busybox@${d}`);
});

test('invalid references are rejected with the docker wording', () => {
  assert.throws(() => parseReference('Busybox'), /must be lowercase/);
  assert.throws(() => parseReference('a:b:c'), /invalid reference format/);
  assert.throws(() => parseReference(''), /invalid reference format/);
  assert.throws(() => parseReference('x@sha256'), /invalid reference format/);
});


test('signals by name, short name, number and real-time offset; bad ones are 400s', () => {
  assert.equal(parseSignal('SIGTERM'), 15);
  assert.equal(parseSignal('kill'), 9);
  assert.equal(parseSignal('10'), 10);
  assert.equal(parseSignal('SIGRTMIN+3'), 37);
  assert.throws(() => parseSignal('189v21'), /Invalid signal: 189v21/);
  assert.throws(() => parseSignal('65'), /Invalid signal/);
});

// The set-up script: quick when everything is there, and a clear message
// naming the problem when it cannot do its job.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const setup = path.join(root, 'scripts', 'setup.mjs');
// Never let these runs reinstall node_modules under the tests that use it.
process.env.BERTH_SETUP_SKIP_NPM = '1';

test('as root with everything installed it succeeds without installing anything', () => {
  const r = spawnSync(process.execPath, [setup, '--test'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /installing/, 'nothing is missing on a machine that ran the set-up before');
});

test('not root: a clear message and a non-zero exit', () => {
  const r = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, setup], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /must run as root/);
});

test('no apt-get and a missing package: the message names what is missing', () => {
  // A PATH without the host tools makes every package look missing; apt-get is not on it either.
  const r = spawnSync(process.execPath, [setup, '--test'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: path.dirname(process.execPath), BERTH_SETUP_PATH_ONLY: '1' },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /missing host packages and no apt-get to install them: .*runc/);
});

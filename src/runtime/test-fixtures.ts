// Shared by the runtime's tests: a tiny busybox root filesystem and
// hand-made ContainerRecords. Real conmon, real runc, no mocks.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ContainerRecord, ContainerConfig, HostConfig } from '../core/types.ts';

/** A root filesystem with static busybox and its applets, plus a user "app" (1000) in groups "app" and "extra". */
export function makeBusyboxRootfs(dir: string): string {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'home/app', 'usr/bin', 'sbin', 'usr/sbin']) {
    mkdirSync(path.join(rootfs, d), { recursive: true });
  }
  chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'busybox') continue;
    try {
      symlinkSync('busybox', path.join(rootfs, 'bin', a));
    } catch {
      // duplicate
    }
  }
  writeFileSync(
    path.join(rootfs, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n');
  // A file that is not executable, for the "permission denied" case.
  writeFileSync(path.join(rootfs, 'bin/notexec'), '#!/bin/sh\necho no\n', { mode: 0o644 });
  return rootfs;
}

export function tempDir(prefix = 'berth-rt-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function testId(): string {
  return randomBytes(32).toString('hex');
}

export function record(opts: {
  id?: string;
  cmd: string[];
  config?: Partial<ContainerConfig>;
  hostConfig?: Partial<HostConfig>;
}): ContainerRecord {
  const id = opts.id ?? testId();
  return {
    Id: id,
    Name: `t-${id.slice(0, 8)}`,
    Created: new Date().toISOString(),
    Image: 'busybox',
    ImageId: 'sha256:' + '0'.repeat(64),
    Config: { Image: 'busybox', Cmd: opts.cmd, Env: [], ...opts.config },
    HostConfig: { LogConfig: { Type: 'json-file' }, ...opts.hostConfig },
    State: {
      Status: 'created',
      Running: false,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 0,
      ExitCode: 0,
      Error: '',
      StartedAt: '0001-01-01T00:00:00Z',
      FinishedAt: '0001-01-01T00:00:00Z',
    },
    RestartCount: 0,
    Node: 'test',
    Path: opts.cmd[0],
    Args: opts.cmd.slice(1),
    LogPath: '',
  };
}

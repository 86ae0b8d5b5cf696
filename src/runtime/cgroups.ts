// cgroupfs clean-up. runc (cgroupfs driver) makes a directory for a container
// under every v1 hierarchy (cpu, memory, ..., name=systemd) and under the v2
// "unified" mount on hybrid hosts; after `runc delete` any of them can be
// left behind (a process that was slow to die), so Berth removes them all.
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Mount points of every cgroup (v1 and v2) hierarchy on the host. */
export async function cgroupMounts(): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const mounts: string[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountPoint = line.split(' ')[4].replace(/\\040/g, ' ');
    mounts.push(mountPoint);
  }
  return mounts;
}

/** Directories that exist for a cgroup path ("/berth/<id>") across all hierarchies. */
export async function cgroupDirs(cgroupPath: string): Promise<string[]> {
  const out: string[] = [];
  for (const mount of await cgroupMounts()) {
    const dir = path.join(mount, cgroupPath);
    try {
      if ((await fs.stat(dir)).isDirectory()) out.push(dir);
    } catch {
      // not in this hierarchy
    }
  }
  return out;
}

async function removeTree(dir: string): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(path.join(dir, e.name));
  // cgroup directories are removed with rmdir although they list files.
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY: tasks are still leaving the cgroup; give them a moment.
      if (code !== 'EBUSY' || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Removes a container's cgroup directories from every hierarchy. */
export async function removeCgroup(cgroupPath: string): Promise<void> {
  if (!cgroupPath || cgroupPath === '/') return;
  const errors: unknown[] = [];
  for (const dir of await cgroupDirs(cgroupPath)) {
    try {
      await removeTree(dir);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length) throw errors[0];
}

/** Reads a file in the container's cgroup under one v1 controller (or v2 "unified"). */
export async function readCgroupFile(cgroupPath: string, controller: string, file: string): Promise<string> {
  return (await fs.readFile(path.join('/sys/fs/cgroup', controller, cgroupPath, file), 'utf8')).trim();
}

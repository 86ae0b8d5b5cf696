// cgroupfs clean-up. runc (cgroupfs driver) makes a directory for a container
// under every v1 hierarchy (cpu, memory, ..., name=systemd) and under the v2
// "unified" mount on hybrid hosts; after `runc delete` any of them can be
// left behind (a process that was slow to die), so Berth removes them all.
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface CgroupHierarchy {
  mount: string;
  /** cgroup2 (the unified hierarchy), else a v1 hierarchy. */
  v2: boolean;
}

/** Every cgroup (v1 and v2) hierarchy on the host. */
export async function cgroupHierarchies(): Promise<CgroupHierarchy[]> {
  hierarchies ??= readCgroupMounts().catch((err: unknown) => {
    hierarchies = undefined; // try again next time
    throw err;
  });
  return hierarchies;
}

/** Mount points of every cgroup (v1 and v2) hierarchy on the host. */
export async function cgroupMounts(): Promise<string[]> {
  return (await cgroupHierarchies()).map((h) => h.mount);
}

// The hierarchies do not change while Berth runs; mountinfo can be long on a
// busy host (every container's overlay and netns), so it is read once.
let hierarchies: Promise<CgroupHierarchy[]> | undefined;

async function readCgroupMounts(): Promise<CgroupHierarchy[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const mounts: CgroupHierarchy[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountPoint = line.split(' ')[4].replace(/\\040/g, ' ');
    mounts.push({ mount: mountPoint, v2: fstype === 'cgroup2' });
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

/** rmdir of a cgroup (they are removed with rmdir although they list files), children first. */
async function removeTree(dir: string): Promise<void> {
  // Usually a leaf with no tasks left: one rmdir, no listing.
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 50) throw err;
    }
    // EBUSY: child cgroups, or tasks still leaving; remove the first, give the others a moment.
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const children = entries.filter((e) => e.isDirectory());
    if (children.length > 0) await Promise.all(children.map((e) => removeTree(path.join(dir, e.name))));
    else await new Promise((r) => setTimeout(r, 20));
  }
}

/** Removes a container's cgroup directories from every hierarchy (side by side). */
export async function removeCgroup(cgroupPath: string): Promise<void> {
  if (!cgroupPath || cgroupPath === '/') return;
  const results = await Promise.allSettled((await cgroupMounts()).map((mount) => removeTree(path.join(mount, cgroupPath))));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Reads a file in the container's cgroup under one v1 controller (or v2 "unified"). */
export async function readCgroupFile(cgroupPath: string, controller: string, file: string): Promise<string> {
  return (await fs.readFile(path.join('/sys/fs/cgroup', controller, cgroupPath, file), 'utf8')).trim();
}

// Network namespaces of remapped containers (--userns-remap). A namespace
// Berth prepares with `ip netns add` belongs to the host's user namespace,
// and a container in a user namespace of its own could then neither mount
// sysfs nor be entered by `runc exec` (which joins the container's user
// namespace first, then has no rights over the network namespace). So the
// sandbox is made the other way round: a new user namespace with the
// container's mapping, a network namespace created inside it, both kept by
// bind mounts; runc joins the two.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type IdMap, USERNS_DIR, usernsFileFor } from '../core/id-map.ts';
import { mustTool, tool } from './exec.ts';

export const NETNS_DIR = '/run/netns';
async function touch(file: string): Promise<void> {
  await (await fs.open(file, 'a', 0o444)).close();
}

/** Makes /run/netns/NAME inside a new user namespace mapped as `idMap` says, kept at usernsFileFor(). */
export async function createUsernsNetns(name: string, idMap: IdMap): Promise<void> {
  const netnsFile = path.join(NETNS_DIR, name);
  const usernsFile = usernsFileFor(netnsFile);
  await fs.mkdir(NETNS_DIR, { recursive: true, mode: 0o755 });
  await fs.mkdir(USERNS_DIR, { recursive: true, mode: 0o711 });
  await Promise.all([touch(netnsFile), touch(usernsFile)]);
  // unshare execs sh in its own process: its pid is the namespaces' holder, alive until stdin closes.
  const holder = spawn('unshare', ['--user', '--net', '--', 'sh', '-c', 'echo ready; read _'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => holder.once('close', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      let err = '';
      holder.stderr.on('data', (d: Buffer) => (err += d.toString()));
      holder.stdout.once('data', () => resolve());
      holder.once('error', reject);
      holder.once('close', (code) => reject(new Error(`unshare --user --net exited ${code}: ${err.trim()}`)));
    });
    const pid = holder.pid!;
    // Root may write a child namespace's maps directly (no newuidmap).
    await fs.writeFile(`/proc/${pid}/uid_map`, `0 ${idMap.uid.base} ${idMap.uid.size}\n`);
    await fs.writeFile(`/proc/${pid}/gid_map`, `0 ${idMap.gid.base} ${idMap.gid.size}\n`);
    await Promise.all([
      mustTool('mount', ['--bind', `/proc/${pid}/ns/user`, usernsFile]),
      mustTool('mount', ['--bind', `/proc/${pid}/ns/net`, netnsFile]),
    ]);
  } catch (err) {
    await removeUsernsNetns(name);
    throw err;
  } finally {
    holder.stdin.end();
    holder.kill();
    await exited;
  }
}

/** Unmounts and removes the user namespace file of a sandbox (its network namespace goes with `ip netns del`). */
export async function removeUsernsFile(name: string): Promise<void> {
  const file = usernsFileFor(name);
  if (!(await fs.stat(file).catch(() => undefined))) return; // not a remapped sandbox
  await tool('umount', [file]);
  await fs.rm(file, { force: true });
}

async function removeUsernsNetns(name: string): Promise<void> {
  await tool('ip', ['netns', 'del', name]);
  await removeUsernsFile(name);
}

/** User namespace files of a tag's sandboxes (for sweeps after a crash). */
export async function usernsFilesOf(tag: string): Promise<string[]> {
  return (await fs.readdir(USERNS_DIR).catch(() => [] as string[])).filter((n) => n.startsWith(`${tag}-`));
}

// Resolves Docker's User ("name", "uid", "name:group", "uid:gid") against the
// container's own /etc/passwd and /etc/group, the way runc's libcontainer does.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalid } from '../core/errors.ts';

export interface ExecUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;
const isNumeric = (s: string) => /^\d+$/.test(s);

/**
 * Resolves a path inside a root filesystem, following symlinks as if the
 * root were "/" so that a hostile image cannot point Berth at host files.
 */
export async function resolveInRoot(root: string, target: string): Promise<string> {
  const parts = target.split('/').filter((p) => p && p !== '.');
  let resolved: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    let link: string | undefined;
    try {
      const st = await fs.lstat(candidate);
      if (st.isSymbolicLink()) link = await fs.readlink(candidate);
    } catch {
      link = undefined;
    }
    if (link === undefined) {
      resolved.push(part);
      continue;
    }
    if (++hops > 40) throw invalid(`too many levels of symbolic links: ${target}`);
    if (link.startsWith('/')) resolved = [];
    parts.unshift(...link.split('/').filter((p) => p && p !== '.'));
  }
  return path.join(root, ...resolved);
}

async function readRootFile(rootfs: string, file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(await resolveInRoot(rootfs, file), 'utf8');
  } catch {
    return undefined;
  }
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4 || !isNumeric(f[2]) || !isNumeric(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3 || !isNumeric(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

function checkId(n: number, what: string): number {
  if (n > MAX_ID) throw invalid(`${what} ${n} is out of range`);
  return n;
}

/**
 * @param spec     Config.User ("" means root)
 * @param groupAdd HostConfig.GroupAdd (names or numbers)
 */
export async function resolveUser(rootfs: string, spec: string | undefined, groupAdd: string[] = []): Promise<ExecUser> {
  const [userArg, groupArg] = (() => {
    const s = spec ?? '';
    const i = s.indexOf(':');
    return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
  })();
  const passwdText = await readRootFile(rootfs, '/etc/passwd');
  const groupText = await readRootFile(rootfs, '/etc/group');
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  const groups = groupText === undefined ? [] : parseGroup(groupText);

  // The user: default root; a name must exist; a number may be unknown.
  let user: PasswdEntry;
  const wanted = userArg === '' ? '0' : userArg;
  const byName = passwd.find((p) => p.name === wanted);
  const byUid = isNumeric(wanted) ? passwd.find((p) => p.uid === Number(wanted)) : undefined;
  if (isNumeric(wanted)) {
    user = byUid ?? byName ?? { name: '', uid: checkId(Number(wanted), 'uid'), gid: 0, home: '/' };
  } else if (byName) {
    user = byName;
  } else {
    throw invalid(`unable to find user ${wanted}: no matching entries in passwd file`);
  }

  let gid = user.gid;
  // The primary group is listed too, as containerd and Docker do since
  // CVE-2023-25173 (a process could otherwise keep the image's groups).
  const additional: number[] = [];
  if (groupArg !== undefined && groupArg !== '') {
    const g = groups.find((e) => e.name === groupArg) ?? (isNumeric(groupArg) ? groups.find((e) => e.gid === Number(groupArg)) : undefined);
    if (g) gid = g.gid;
    else if (isNumeric(groupArg)) gid = checkId(Number(groupArg), 'gid');
    else throw invalid(`unable to find group ${groupArg}: no matching entries in group file`);
  } else if (user.name) {
    // No explicit group: the user's supplementary groups from /etc/group.
    for (const g of groups) {
      if (g.members.includes(user.name) && g.gid !== gid && !additional.includes(g.gid)) additional.push(g.gid);
    }
  }
  for (const extra of groupAdd) {
    const g = groups.find((e) => e.name === extra);
    let n: number;
    if (g) n = g.gid;
    else if (isNumeric(extra)) n = checkId(Number(extra), 'gid');
    else throw invalid(`unable to find group ${extra}: no matching entries in group file`);
    if (!additional.includes(n)) additional.push(n);
  }
  return { uid: user.uid, gid, additionalGids: [gid, ...additional.filter((g) => g !== gid)], home: user.home };
}

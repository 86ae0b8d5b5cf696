// --userns-remap: which host ids a daemon's containers run as. As Docker's
// flag: "default" uses (and makes, when missing) the user "berthremap" with
// subordinate ranges; "user", "user:group", "uid" or "uid:gid" use the
// ranges /etc/subuid and /etc/subgid give that user and group.
import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { IdMap, IdRange } from '../core/id-map.ts';

const run = promisify(execFile);
export const DEFAULT_REMAP_USER = 'berthremap';
const RANGE_SIZE = 65536;
const FIRST_FREE = 100000;

interface Entry {
  name: string;
  id: number;
}

/** getent passwd/group: name and id of a user or group given by either. */
async function lookup(db: 'passwd' | 'group', key: string): Promise<Entry | undefined> {
  try {
    const { stdout } = await run('getent', [db, key]);
    const [name, , id] = stdout.split('\n')[0].split(':');
    return { name, id: Number(id) };
  } catch {
    return undefined;
  }
}

/** The first "name:start:count" line of a subordinate id file for the name or the numeric id. */
export function subRange(text: string, who: Entry): IdRange | undefined {
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner !== who.name && owner !== String(who.id)) continue;
    const base = Number(start);
    const size = Number(count);
    if (Number.isInteger(base) && Number.isInteger(size) && base > 0 && size > 0) return { base, size };
  }
  return undefined;
}

/** A range past every range the file already hands out (and past FIRST_FREE). */
export function freeRange(text: string): IdRange {
  let next = FIRST_FREE;
  for (const line of text.split('\n')) {
    const [, start, count] = line.trim().split(':');
    const end = Number(start) + Number(count);
    if (Number.isInteger(end) && end > next) next = end;
  }
  return { base: next, size: RANGE_SIZE };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Makes the default remap user and its ranges, as Docker does for "dockremap". */
async function ensureDefaultUser(): Promise<void> {
  if (!(await lookup('passwd', DEFAULT_REMAP_USER))) {
    try {
      await run('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', DEFAULT_REMAP_USER]);
    } catch (err) {
      throw new Error(`--userns-remap default: cannot create the user ${DEFAULT_REMAP_USER}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    }
  }
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = readText(file);
    if (subRange(text, { name: DEFAULT_REMAP_USER, id: -1 })) continue;
    const r = freeRange(text);
    appendFileSync(file, `${text && !text.endsWith('\n') ? '\n' : ''}${DEFAULT_REMAP_USER}:${r.base}:${r.size}\n`);
  }
}

export async function resolveRemap(value: string, files = { subuid: '/etc/subuid', subgid: '/etc/subgid' }): Promise<IdMap> {
  if (value === 'default') await ensureDefaultUser();
  const [userKey, groupKey] = (value === 'default' ? DEFAULT_REMAP_USER : value).split(':');
  const user = await lookup('passwd', userKey);
  if (!user) throw new Error(`--userns-remap ${value}: no user ${userKey}`);
  const group = groupKey ? await lookup('group', groupKey) : ((await lookup('group', user.name)) ?? { name: user.name, id: user.id });
  if (!group) throw new Error(`--userns-remap ${value}: no group ${groupKey}`);
  const uid = subRange(readText(files.subuid), user);
  if (!uid) throw new Error(`--userns-remap ${value}: ${files.subuid} has no range for ${user.name}`);
  const gid = subRange(readText(files.subgid), group);
  if (!gid) throw new Error(`--userns-remap ${value}: ${files.subgid} has no range for ${group.name}`);
  return { uid, gid };
}

// What Node cannot do by itself: device nodes (overlayfs whiteouts are 0/0
// character devices) and extended attributes (trusted.overlay.opaque,
// security.capability). Both are batched into few child processes: coreutils
// `mknod` through one `sh` loop, and `setfattr --restore` (Debian package
// `attr`) reading a dump file.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { internal } from '../core/errors.ts';
import { run } from './fs-util.ts';

export interface DeviceNode {
  /** Relative to `cwd`. */
  path: string;
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
}

const BATCH = 200;

/** Creates device nodes (and fifos) with `mknod`, relative to `cwd`. Paths must not exist. */
export async function mknodAll(cwd: string, nodes: DeviceNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i += BATCH) {
    const args: string[] = [];
    for (const n of nodes.slice(i, i + BATCH)) {
      args.push(`./${n.path}`, n.type, String(n.major), String(n.minor));
    }
    const script = 'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mknod -- "$1" p || exit 1; else mknod -- "$1" "$2" "$3" "$4" || exit 1; fi; shift 4; done';
    try {
      await run('/bin/sh', ['-c', script, 'sh', ...args], { cwd });
    } catch (err) {
      throw internal(`mknod failed: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`, err);
    }
  }
}

export interface XattrSetting {
  /** Relative to `cwd`. */
  path: string;
  name: string;
  value: Buffer;
}

/** Octal-escapes everything outside a conservative set, as getfattr dumps do. */
function quote(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9/._+-]/.test(c) ? c : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** Sets extended attributes (without following symlinks) with one `setfattr --restore`. */
export async function setXattrs(cwd: string, dumpFile: string, settings: XattrSetting[]): Promise<void> {
  if (settings.length === 0) return;
  const byPath = new Map<string, XattrSetting[]>();
  for (const s of settings) {
    const list = byPath.get(s.path) ?? [];
    list.push(s);
    byPath.set(s.path, list);
  }
  let dump = '';
  for (const [p, list] of byPath) {
    dump += `# file: ${quote(`./${p}`)}\n`;
    for (const s of list) dump += `${quote(s.name)}=0s${s.value.toString('base64')}\n`;
    dump += '\n';
  }
  await fs.writeFile(dumpFile, dump);
  try {
    await run('setfattr', ['-h', `--restore=${path.resolve(dumpFile)}`], { cwd });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw internal('setfattr not found: install the Debian package "attr"', err);
    throw internal(`setfattr failed: ${e.stderr?.trim() || String(err)}`, err);
  } finally {
    await fs.rm(dumpFile, { force: true });
  }
}

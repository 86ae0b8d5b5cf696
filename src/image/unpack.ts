// Safe extraction of one layer tar into an empty directory, in the form an
// overlayfs lower layer needs: AUFS-style whiteouts (".wh.name") become 0/0
// character devices, opaque markers (".wh..wh..opq") become the
// trusted.overlay.opaque=y xattr on their directory.
//
// Layer tars are hostile input. The whole layer is refused (invalid error)
// when an entry has an absolute path or a ".." component, when a relative
// symlink climbs out of the layer, when a hard link names something that is
// not already in this layer, or when an entry would be written through a
// symlink (or a non-directory) that an earlier entry planted. Nothing is ever
// opened, linked or created by following a symlink: every parent component
// is checked to be a real directory inside the target, and files are created
// with O_EXCL|O_NOFOLLOW after whatever stood at their path was removed.
// Absolute symlink targets are allowed: they resolve against the container's
// root at run time, never against the host's.
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { finished, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { BerthError, invalid } from '../core/errors.ts';
import { hostGid, hostUid, type IdMap } from '../core/id-map.ts';
import { describeCorruption } from './decompress.ts';
import { dirSize, writeAll } from './fs-util.ts';
import { type XattrSetting, mknodAll, setXattrs } from './special-files.ts';

export interface UnpackOptions {
  /** Names the layer in error messages ("layer sha256:..."). */
  label: string;
  /** A scratch file path outside `target` for the xattr dump. */
  scratchFile: string;
  /** The daemon's user namespace remapping: files get host ids. */
  idMap?: IdMap;
}

export interface UnpackResult {
  /** Bytes as Docker counts a layer's size (lstat sizes of non-directories, hard links once). */
  size: number;
}

/** xattrs a layer may carry; trusted.* (overlayfs' own namespace among them) is never taken from a tar. */
const ALLOWED_XATTR = (name: string) => name === 'security.capability' || name.startsWith('user.');

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

type Header = tar.Headers & { pax?: Record<string, string> };

export async function unpackLayer(source: Readable, target: string, opts: UnpackOptions): Promise<UnpackResult> {
  const u = new Unpacker(target, opts.label, opts.idMap);
  const extract = tar.extract();
  // finished() also reports a source destroyed before this call, which no 'error' event would.
  const unwatch = finished(source, { writable: false }, (err) => {
    if (err) extract.destroy(err);
  });
  source.pipe(extract);
  try {
    for await (const entry of extract) {
      await u.entry(entry.header as Header, entry);
      entry.resume();
    }
  } catch (err) {
    unwatch();
    source.unpipe(extract);
    source.destroy();
    extract.destroy();
    if (err instanceof BerthError) throw err;
    throw describeCorruption(err, opts.label);
  }
  unwatch();
  await u.finish(opts.scratchFile);
  return { size: await dirSize(target) };
}

class Unpacker {
  private readonly root: string;
  private readonly label: string;
  /** Relative paths known to be real directories created or checked by us ("" is the root). */
  private dirs = new Set<string>(['']);
  private readonly dirTimes = new Map<string, Date>();
  private readonly whiteouts = new Set<string>();
  private readonly opaque = new Set<string>();
  private readonly xattrs = new Map<string, XattrSetting[]>();

  private readonly idMap: IdMap | undefined;

  constructor(root: string, label: string, idMap: IdMap | undefined) {
    this.root = root;
    this.label = label;
    this.idMap = idMap;
  }

  private bad(name: string, why: string): BerthError {
    return invalid(`${this.label}: invalid tar entry ${JSON.stringify(name)}: ${why}`);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  /** Path components of an entry name; refuses absolute paths and "..". */
  private parts(name: string, what = 'path'): string[] {
    if (name.startsWith('/')) throw this.bad(name, `absolute ${what}`);
    if (name.includes('\0')) throw this.bad(name, `NUL byte in ${what}`);
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw this.bad(name, `".." component in ${what}`);
    return parts;
  }

  /** Makes sure every parent of `parts` is a real directory (creating missing ones), never a symlink. */
  private async ensureParents(name: string, parts: string[], create: boolean): Promise<void> {
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (this.dirs.has(rel)) continue;
      const st = await fs.lstat(this.abs(rel)).catch(() => undefined);
      if (!st) {
        if (!create) throw this.bad(name, `${rel} does not exist in the layer`);
        await fs.mkdir(this.abs(rel), { mode: 0o755 });
        // Implied directories belong to the container's root.
        if (this.idMap) await fs.lchown(this.abs(rel), hostUid(this.idMap, 0), hostGid(this.idMap, 0));
      } else if (st.isSymbolicLink()) {
        throw this.bad(name, `would be written through the symlink ${rel}`);
      } else if (!st.isDirectory()) {
        throw this.bad(name, `${rel} is not a directory`);
      }
      this.dirs.add(rel);
    }
  }

  /** Forgets pending work for `rel` and everything under it. */
  private forget(rel: string): void {
    const under = (p: string) => p === rel || p.startsWith(`${rel}/`);
    for (const set of [this.whiteouts, this.opaque]) for (const p of set) if (under(p)) set.delete(p);
    for (const map of [this.dirTimes, this.xattrs]) for (const p of map.keys()) if (under(p)) map.delete(p);
  }

  /** Removes whatever stands at `rel` (a file, link or whole directory). */
  private async removeExisting(rel: string): Promise<void> {
    const abs = this.abs(rel);
    const st = await fs.lstat(abs).catch(() => undefined);
    if (!st) return; // nothing pending can refer to a path that does not exist
    this.forget(rel);
    if (st.isDirectory()) {
      await fs.rm(abs, { recursive: true, force: true });
      this.dirs = new Set([...this.dirs].filter((p) => p !== rel && !p.startsWith(`${rel}/`)));
    } else {
      await fs.unlink(abs);
    }
  }

  private collectXattrs(rel: string, h: Header): void {
    if (!h.pax) return;
    const list: XattrSetting[] = [];
    for (const [key, value] of Object.entries(h.pax)) {
      if (!key.startsWith('SCHILY.xattr.')) continue;
      const name = key.slice('SCHILY.xattr.'.length);
      // tar-stream decodes PAX values as UTF-8: binary values it could not keep are skipped.
      if (!ALLOWED_XATTR(name) || value.includes('\ufffd')) continue;
      list.push({ path: rel, name, value: Buffer.from(value, 'utf8') });
    }
    if (list.length > 0) this.xattrs.set(rel, list);
  }

  async entry(h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    const name = h.name;
    const parts = this.parts(name);
    if (parts.length === 0) return; // the layer root itself
    const base = parts[parts.length - 1];
    const rel = parts.join('/');
    const parentRel = parts.slice(0, -1).join('/');

    if (base.startsWith(WHITEOUT_PREFIX)) {
      await this.ensureParents(name, parts, true);
      if (base === OPAQUE_MARKER) {
        if (parentRel !== '') this.opaque.add(parentRel);
      } else if (!base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
        const hidden = path.posix.join(parentRel, base.slice(WHITEOUT_PREFIX.length));
        await this.removeExisting(hidden);
        this.whiteouts.add(hidden);
      }
      return;
    }

    // A real entry at (or below) a path whited out earlier in this layer replaces the whiteout.
    for (let i = 1; i <= parts.length; i++) this.whiteouts.delete(parts.slice(0, i).join('/'));
    await this.ensureParents(name, parts, true);
    const abs = this.abs(rel);
    const mode = (h.mode ?? 0o644) & 0o7777;
    const uid = hostUid(this.idMap, h.uid ?? 0);
    const gid = hostGid(this.idMap, h.gid ?? 0);
    const mtime = h.mtime ?? new Date(0);

    switch (h.type) {
      case 'directory': {
        const st = await fs.lstat(abs).catch(() => undefined);
        if (!st?.isDirectory()) {
          await this.removeExisting(rel);
          await fs.mkdir(abs, { mode: 0o700 });
        }
        await fs.lchown(abs, uid, gid);
        await fs.chmod(abs, mode);
        this.dirs.add(rel);
        this.dirTimes.set(rel, mtime);
        break;
      }
      case 'file':
      case 'contiguous-file':
      case undefined:
      case null: {
        await this.removeExisting(rel);
        const fh = await fs.open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          await writeAll(body, fh);
          await fh.chown(uid, gid);
          await fh.chmod(mode); // after chown, which clears set-id bits
          await fh.utimes(mtime, mtime);
        } finally {
          await fh.close();
        }
        break;
      }
      case 'symlink': {
        const link = h.linkname ?? '';
        if (link === '') throw this.bad(name, 'symlink with an empty target');
        if (!link.startsWith('/')) {
          const stack = parts.slice(0, -1);
          for (const c of link.split('/')) {
            if (c === '' || c === '.') continue;
            if (c !== '..') stack.push(c);
            else if (stack.length === 0) throw this.bad(name, `symlink to ${JSON.stringify(link)} points outside the layer`);
            else stack.pop();
          }
        }
        await this.removeExisting(rel);
        await fs.symlink(link, abs);
        await fs.lchown(abs, uid, gid);
        await fs.lutimes(abs, mtime, mtime);
        break;
      }
      case 'link': {
        const link = h.linkname ?? '';
        let targetParts: string[];
        try {
          targetParts = this.parts(link, 'hard link target');
        } catch {
          throw this.bad(name, `hard link to ${JSON.stringify(link)} points outside the layer`);
        }
        if (targetParts.length === 0) throw this.bad(name, 'hard link to the layer root');
        const targetRel = targetParts.join('/');
        if (targetRel === rel) break;
        await this.ensureParents(name, targetParts, false).catch(() => {
          throw this.bad(name, `hard link to ${JSON.stringify(link)}, which is not a file in this layer`);
        });
        const st = await fs.lstat(this.abs(targetRel)).catch(() => undefined);
        if (!st || st.isDirectory()) {
          throw this.bad(name, `hard link to ${JSON.stringify(link)}, which is not a file in this layer`);
        }
        await this.removeExisting(rel);
        await fs.link(this.abs(targetRel), abs);
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await this.removeExisting(rel);
        const type = h.type === 'fifo' ? 'p' : h.type === 'character-device' ? 'c' : 'b';
        await mknodAll(this.root, [{ path: rel, type, major: h.devmajor ?? 0, minor: h.devminor ?? 0 }]);
        await fs.lchown(abs, uid, gid);
        await fs.chmod(abs, mode);
        await fs.lutimes(abs, mtime, mtime);
        break;
      }
      default:
        return; // pax/GNU meta entries are folded in by tar-stream; anything else is skipped
    }
    this.collectXattrs(rel, h);
  }

  /** Creates whiteouts and xattrs, then restores directory times (which those changed). */
  async finish(scratchFile: string): Promise<void> {
    await mknodAll(
      this.root,
      [...this.whiteouts].map((p) => ({ path: p, type: 'c' as const, major: 0, minor: 0 })),
    );
    const settings: XattrSetting[] = [...this.xattrs.values()].flat();
    for (const dir of this.opaque) settings.push({ path: dir, name: 'trusted.overlay.opaque', value: Buffer.from('y') });
    await setXattrs(this.root, scratchFile, settings);
    for (const [rel, time] of this.dirTimes) await fs.lutimes(this.abs(rel), time, time).catch(() => undefined);
  }
}

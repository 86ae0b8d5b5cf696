// Builds a Debian bookworm root filesystem from Debian's packages with
// debootstrap and keeps it as a tarball for `docker import`, cached between
// runs (the first build takes a minute or two, later calls return at once).
//
//   node scripts/run.mjs scripts/build-debian-image.ts [PACKAGE ...] [--empty DIR ...]
//
// With no packages: a plain minbase system. Extra packages (e.g. nginx-light
// for a web tier) are installed by debootstrap itself, so that images built
// FROM the result need no network: tests talk only to loopback and to the
// namespaces they create. The archive lands in <repo>/.test-data/images
// (BERTH_TEST_IMAGES moves it), named after a hash of everything that goes
// into it; concurrent callers wait for one build through a lock file.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const here = fileURLToPath(import.meta.url);
const repoRoot = path.dirname(path.dirname(here));
const SUITE = 'bookworm';

export interface DebianImage {
  /** Root filesystem tarball, ready for `docker import`. */
  archive: string;
  /** Short hash of script, suite, mirror and packages: a good image tag. */
  key: string;
}

/** The Debian mirror this machine's apt uses (deb822 .sources or sources.list). */
export function debianMirror(): string {
  const candidates: string[] = [];
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sources') || f.endsWith('.list')).map((f) => path.join(dir, f)) : [];
  for (const f of ['/etc/apt/sources.list', ...files]) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/gm)) candidates.push(m[1]!);
    // deb822 stanzas: URIs + Suites that include bookworm itself (not only -security).
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes(SUITE) && /^Types:.*\bdeb\b/m.test(stanza)) candidates.push(uri);
    }
  }
  return candidates.find((u) => !u.includes('security')) ?? 'http://deb.debian.org/debian';
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-4000)}`));
      else resolve();
    });
  });
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
}

function killProcessesRootedIn(dir: string): void {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const root = readlinkSync(`/proc/${pid}/root`);
      if (root === dir || root.startsWith(dir + '/')) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone, or not ours to read
    }
  }
}

/** Unmounts everything under dir, deepest first; true when nothing is left. */
async function unmountUnder(dir: string): Promise<boolean> {
  for (let pass = 0; pass < 3 && mountsUnder(dir).length > 0; pass++) {
    for (const m of mountsUnder(dir)) await run('umount', ['-l', m]).catch(() => undefined);
  }
  return mountsUnder(dir).length === 0;
}

/** Takes an exclusive lock file (waits for other builders; takes over a dead one's). */
async function lock(file: string): Promise<() => Promise<void>> {
  for (;;) {
    try {
      const h = await open(file, 'wx');
      await h.writeFile(String(process.pid));
      await h.close();
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = 0;
    try {
      owner = Number(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    let alive = false;
    try {
      process.kill(owner, 0);
      alive = owner > 0;
    } catch {
      alive = false;
    }
    if (!alive) {
      await rm(file, { force: true });
      continue;
    }
    await sleep(500);
  }
}

export async function buildDebianImage(
  opts: {
    packages?: string[];
    /** Directories whose contents go (e.g. var/lib/mysql: data a package's set-up made, which the image's user makes again). */
    emptyDirs?: string[];
    outDir?: string;
    log?: (line: string) => void;
  } = {},
): Promise<DebianImage> {
  const packages = [...new Set(opts.packages ?? [])].sort();
  const emptyDirs = [...new Set(opts.emptyDirs ?? [])].sort();
  if (emptyDirs.some((d) => d.startsWith('/') || d.split('/').includes('..'))) throw new Error('emptyDirs are relative paths inside the image');
  const outDir = opts.outDir ?? (process.env.BERTH_TEST_IMAGES || path.join(repoRoot, '.test-data', 'images'));
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const mirror = debianMirror();
  const key = createHash('sha256')
    .update(readFileSync(here))
    .update(JSON.stringify({ SUITE, mirror, packages, emptyDirs }))
    .digest('hex')
    .slice(0, 12);
  const archive = path.join(outDir, `debian-${SUITE}-${key}.tar`);
  if (existsSync(archive)) return { archive, key };
  await mkdir(outDir, { recursive: true });
  const unlock = await lock(archive + '.lock');
  try {
    if (existsSync(archive)) return { archive, key };
    // Outside the repository: a copy of the tree taken meanwhile must not
    // walk into the proc mount debootstrap makes in the target.
    const work = await mkdtemp(path.join(tmpdir(), 'berth-debootstrap-'));
    try {
      const rootfs = path.join(work, 'rootfs');
      log(`building Debian ${SUITE} image${packages.length ? ' with ' + packages.join(' ') : ''} from ${mirror} (debootstrap, once)`);
      const started = Date.now();
      await run('debootstrap', [
        '--variant=minbase',
        ...(packages.length ? [`--include=${packages.join(',')}`] : []),
        SUITE,
        rootfs,
        mirror,
      ]);
      // Package scripts may leave a daemon running in the chroot, and
      // debootstrap leaves proc/sys mounted there: neither belongs in an image.
      killProcessesRootedIn(rootfs);
      if (!(await unmountUnder(rootfs))) throw new Error(`cannot unmount what debootstrap mounted under ${rootfs}`);
      // What an image does not need: package lists and downloaded .debs.
      for (const d of ['var/lib/apt/lists', 'var/cache/apt/archives', 'var/log']) {
        await run('find', [path.join(rootfs, d), '-mindepth', '1', '-type', 'f', '-delete']);
      }
      // Nor documentation (a third of a small image), nor what the caller names.
      for (const d of ['usr/share/doc', 'usr/share/man', 'usr/share/info', ...emptyDirs]) {
        if (existsSync(path.join(rootfs, d))) await run('find', [path.join(rootfs, d), '-mindepth', '1', '-delete']);
      }
      // Later apt-get runs inside images start from this mirror.
      await writeFile(path.join(rootfs, 'etc/apt/sources.list'), `deb ${mirror} ${SUITE} main\n`);
      const tmp = `${archive}.${process.pid}.tmp`;
      try {
        await run('tar', ['-C', rootfs, '--numeric-owner', '--xattrs', '--xattrs-include=security.capability', '-cf', tmp, '.']);
        await rename(tmp, archive);
      } finally {
        await rm(tmp, { force: true });
      }
      log(`built ${archive} (${Math.round((await stat(archive)).size / 1e6)} MB) in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      // debootstrap mounts proc/sys (and may bind /dev) in the target: never
      // delete through a mount that is still there.
      if (await unmountUnder(work)) await rm(work, { recursive: true, force: true });
      else log(`left ${work} in place: something is still mounted under it`);
    }
    return { archive, key };
  } finally {
    await unlock();
  }
}

if (process.argv[1] === here) {
  // PACKAGE ... [--empty DIR]...
  const args = process.argv.slice(2);
  const emptyDirs = args.flatMap((a, i) => (args[i - 1] === '--empty' ? [a] : []));
  const packages = args.filter((a, i) => a !== '--empty' && args[i - 1] !== '--empty');
  const r = await buildDebianImage({ packages, emptyDirs });
  console.log(r.archive);
}

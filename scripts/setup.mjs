// Set-up shared by `npm start`, `npm test` and `npm run bench`: installs what
// is missing (npm packages, Debian packages) and creates data directories.
// Plain JavaScript so that it runs on whatever Node is on PATH; it is quick
// when everything is already there.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const mode = process.argv.includes('--test') ? 'test' : process.argv.includes('--bench') ? 'bench' : 'start';

function fail(message) {
  console.error(`berth setup: ${message}`);
  process.exit(1);
}

// Host packages: a command that must exist, and the Debian package that has it.
const hostPackages = [
  { pkg: 'runc', has: () => onPath('runc') },
  { pkg: 'conmon', has: () => onPath('conmon') },
  { pkg: 'crun', has: () => onPath('crun') },
  { pkg: 'iptables', has: () => onPath('iptables') },
  { pkg: 'iproute2', has: () => onPath('ip') },
  { pkg: 'util-linux', has: () => onPath('nsenter') },
  // setfattr marks opaque directories in unpacked layers (trusted.overlay.opaque).
  { pkg: 'attr', has: () => onPath('setfattr') },
  // socat reaches conmon's attach socket (SOCK_SEQPACKET, which Node cannot open) for stdin.
  { pkg: 'socat', has: () => onPath('socat') },
  // tini-static is --init's docker-init (static: it runs in any image).
  { pkg: 'tini', has: () => onPath('tini-static') },
  // busybox-static builds the test images (a static binary works in any rootfs).
  { pkg: 'busybox-static', has: () => onPath('busybox') && isStatic() },
  // docker build's ADD unpacks bzip2 and xz tarballs through them.
  { pkg: 'bzip2', has: () => onPath('bzip2') },
  { pkg: 'xz-utils', has: () => onPath('xz') },
  // chattr +T places each layer and container dir in a block group of its own on ext4 (src/image/fs-util.ts).
  { pkg: 'e2fsprogs', has: () => onPath('chattr') },
];
if (mode === 'bench') hostPackages.push({ pkg: 'docker.io', has: () => onPath('dockerd') && onPath('containerd') });
// wrk drives HTTP through a published port in the bench (the same client for both engines).
if (mode === 'bench') hostPackages.push({ pkg: 'wrk', has: () => onPath('wrk') });
if (mode === 'test' || mode === 'bench') hostPackages.push({ pkg: 'docker-cli', has: () => onPath('docker') });
// The registry tests (and the pull benchmark) run Debian's reference registry privately; htpasswd makes their bcrypt users.
if (mode === 'test' || mode === 'bench') {
  hostPackages.push({ pkg: 'docker-registry', has: () => onPath('docker-registry') }, { pkg: 'apache2-utils', has: () => onPath('htpasswd') });
}
// gcc, glibc's headers and libseccomp build berth-exec (src/runtime/native), the
// fast path of `docker exec`, and the security tests' syscall probe.
hostPackages.push(
  { pkg: 'gcc', has: () => onPath('gcc') },
  { pkg: 'libc6-dev', has: () => existsSync('/usr/include/stdio.h') },
  { pkg: 'libseccomp-dev', has: () => existsSync('/usr/include/seccomp.h') },
);
// debootstrap builds the Debian-based test image that build tests RUN real programs in.
if (mode === 'test') hostPackages.push({ pkg: 'debootstrap', has: () => onPath('debootstrap') });
// Debian's docker-compose (1.29, Python) drives the compose tests and the compose benchmark; debootstrap makes their Debian base image.
if (mode === 'test' || mode === 'bench') hostPackages.push({ pkg: 'docker-compose', has: () => onPath('docker-compose') });
if (mode === 'bench') hostPackages.push({ pkg: 'debootstrap', has: () => onPath('debootstrap') });

function onPath(cmd) {
  const dirs = (process.env.PATH ?? '').split(':');
  // Debian puts admin tools in sbin, which a user's PATH may lack (tests can
  // ask to look at PATH alone).
  if (!process.env.BERTH_SETUP_PATH_ONLY) dirs.push('/usr/sbin', '/sbin', '/usr/bin', '/bin');
  return dirs.some((d) => d && existsSync(path.join(d, cmd)));
}

function isStatic() {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', 'busybox-static'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

if (process.getuid?.() !== 0) {
  fail('Berth manages namespaces, cgroups and mounts and must run as root (try: sudo npm ' + (mode === 'start' ? 'start' : mode === 'test' ? 'test' : 'run bench') + ')');
}

// 1. npm packages: install when node_modules is missing or older than the lock file.
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
// (BERTH_SETUP_SKIP_NPM: the set-up's own tests must not reinstall the tree they run from.)
if (!process.env.BERTH_SETUP_SKIP_NPM && (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs)) {
  console.error('berth setup: installing npm packages');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail('npm ci failed');
}

// 2. Debian packages.
let missing = hostPackages.filter((p) => !p.has()).map((p) => p.pkg);
// The docker CLI is preinstalled on the machines we run on; only Debian's
// package provides it otherwise.
if (missing.length > 0) {
  if (!onPath('apt-get')) fail(`missing host packages and no apt-get to install them: ${missing.join(', ')}`);
  console.error(`berth setup: installing ${missing.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  if (update.status !== 0) fail('apt-get update failed');
  const install = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  if (install.status !== 0) fail(`apt-get install ${missing.join(' ')} failed`);
  missing = hostPackages.filter((p) => !p.has()).map((p) => p.pkg);
  if (missing.length > 0) fail(`still missing after apt-get: ${missing.join(', ')}`);
}

// 3. Kernel features the runtime needs.
try {
  execFileSync('modprobe', ['overlay'], { stdio: 'ignore' });
} catch {
  // Built into the kernel or modprobe missing; the daemon checks /proc/filesystems.
}

// 4. Native helpers: compiled when missing or older than their source.
for (const name of ['berth-exec']) {
  const src = path.join(root, 'src', 'runtime', 'native', `${name}.c`);
  const out = path.join(root, 'build', 'native', name);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}`;
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, src, '-lseccomp'], { stdio: 'inherit' });
  if (cc.status !== 0) fail(`compiling ${path.relative(root, src)} failed`);
  renameSync(tmp, out);
}

// 5. Data directories for `npm start` (tests make their own under a temp dir).
if (mode === 'start') {
  const dataRoot = flag('--data-root') ?? process.env.BERTH_DATA_ROOT ?? '/var/lib/berth';
  const runRoot = flag('--run-root') ?? process.env.BERTH_RUN_ROOT ?? '/run/berth';
  mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
  mkdirSync(runRoot, { recursive: true, mode: 0o711 });
}

function flag(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

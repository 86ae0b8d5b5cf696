// Daemon configuration from flags and environment (flags win).
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isLevel, type Level } from './logger.ts';
import { checkTlsListeners, hostListeners, type TlsFiles } from './tls-listen.ts';

export interface DaemonConfig {
  dataRoot: string;
  runRoot: string;
  socket: string;
  logLevel: Level;
  nodeName: string;
  cgroupParent: string;
  /** berth-exec for `docker exec` without a TTY (built by the set-up); "none": always `runc exec`. */
  execHelper: string;
  /** Marks everything this daemon creates on the host's network (bridges, namespaces, chains): 1-6 of [a-z0-9]. */
  networkTag: string;
  /** The default bridge's device (default <tag>0) and subnet (default: the first free pool). */
  bridgeName?: string;
  defaultSubnet?: string;
  /** "host:port" for a plain-HTTP TCP listener without authentication (tests only; the one way to plain TCP). */
  insecureTcp?: string;
  /** TCP listeners served over TLS with verified client certificates (--tls-listen host:port, -H tcp://host:port). */
  tlsListen: string[];
  /** --tlscert, --tlskey, --tlscacert: required together whenever tlsListen is set. */
  tls: TlsFiles;
  /** Registries (host[:port] or CIDR) that may use plain HTTP or unverified TLS; loopback may use plain HTTP anyway. */
  insecureRegistries: string[];
  /** Mirrors of Docker Hub, tried first for pulls. */
  registryMirrors: string[];
  /** Per-registry TLS material: <dir>/<host:port>/ca.crt, client.cert, client.key (Docker's certs.d layout). */
  registryCertsDir: string;
  /** Cap on what one upload (load, import, build context, pulled layer) may decompress to; the disk's free space bounds it too. */
  maxDecompressedSize: number;
  /** --userns-remap: "default", "user[:group]" or "uid[:gid]"; containers run in a user namespace mapped to its subordinate ids. */
  usernsRemap?: string;
  /** Probe `starting` containers before their first interval (src/head/health.ts); off: Docker's schedule exactly. */
  earlyHealthProbes: boolean;
}

export function readConfig(argv: string[], env: NodeJS.ProcessEnv): DaemonConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-root': { type: 'string' },
      'run-root': { type: 'string' },
      socket: { type: 'string' },
      'log-level': { type: 'string' },
      'node-name': { type: 'string' },
      'cgroup-parent': { type: 'string' },
      'exec-helper': { type: 'string' },
      'network-tag': { type: 'string' },
      'bridge-name': { type: 'string' },
      'default-subnet': { type: 'string' },
      'insecure-tcp': { type: 'string' },
      'tls-listen': { type: 'string', multiple: true },
      host: { type: 'string', short: 'H', multiple: true },
      tlscert: { type: 'string' },
      tlskey: { type: 'string' },
      tlscacert: { type: 'string' },
      // Accepted for Docker's spelling: client certificates are always verified.
      tlsverify: { type: 'boolean' },
      'insecure-registry': { type: 'string', multiple: true },
      'registry-mirror': { type: 'string', multiple: true },
      'registry-certs-dir': { type: 'string' },
      'max-decompressed-size': { type: 'string' },
      'userns-remap': { type: 'string' },
      'no-early-health-probes': { type: 'boolean' },
    },
    strict: true,
  });
  const dataRoot = values['data-root'] ?? env.BERTH_DATA_ROOT ?? '/var/lib/berth';
  const runRoot = values['run-root'] ?? env.BERTH_RUN_ROOT ?? '/run/berth';
  const logLevel = values['log-level'] ?? env.BERTH_LOG_LEVEL ?? 'warn';
  if (!isLevel(logLevel)) throw new Error(`--log-level must be one of debug, info, warn, error (got ${logLevel})`);
  const tlsListen = [...(values['tls-listen'] ?? []), ...hostListeners(values.host ?? [])];
  const tls: TlsFiles = { cert: values.tlscert, key: values.tlskey, ca: values.tlscacert };
  checkTlsListeners(tlsListen, tls);
  return {
    dataRoot,
    runRoot,
    socket: values.socket ?? env.BERTH_SOCKET ?? `${runRoot}/docker.sock`,
    logLevel,
    nodeName: values['node-name'] ?? env.BERTH_NODE_NAME ?? 'local',
    cgroupParent: values['cgroup-parent'] ?? env.BERTH_CGROUP_PARENT ?? 'berth',
    execHelper: values['exec-helper'] ?? env.BERTH_EXEC_HELPER ?? fileURLToPath(new URL('../../build/native/berth-exec', import.meta.url)),
    networkTag: values['network-tag'] ?? env.BERTH_NETWORK_TAG ?? 'berth',
    bridgeName: values['bridge-name'] ?? env.BERTH_BRIDGE_NAME,
    defaultSubnet: values['default-subnet'] ?? env.BERTH_DEFAULT_SUBNET,
    insecureTcp: values['insecure-tcp'],
    tlsListen,
    tls,
    insecureRegistries: values['insecure-registry'] ?? listEnv(env.BERTH_INSECURE_REGISTRIES),
    registryMirrors: (values['registry-mirror'] ?? listEnv(env.BERTH_REGISTRY_MIRRORS)).map(mirrorUrl),
    registryCertsDir: values['registry-certs-dir'] ?? env.BERTH_REGISTRY_CERTS_DIR ?? '/etc/berth/certs.d',
    maxDecompressedSize: byteSize(values['max-decompressed-size'] ?? env.BERTH_MAX_DECOMPRESSED_SIZE, '--max-decompressed-size'),
    usernsRemap: (values['userns-remap'] ?? env.BERTH_USERNS_REMAP) || undefined,
    earlyHealthProbes: !values['no-early-health-probes'] && !/^(0|false|no|off)$/i.test(env.BERTH_EARLY_HEALTH_PROBES ?? ''),
  };
}

/** "1073741824", "512m", "64g"; unset means no cap beyond the disk's free space. */
function byteSize(v: string | undefined, flag: string): number {
  if (v === undefined || v === '') return Number.POSITIVE_INFINITY;
  const m = /^(\d+)([kmgt]?)b?$/i.exec(v.trim());
  if (!m) throw new Error(`${flag} ${v}: not a size (want e.g. 512m or 64g)`);
  return Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
}

function listEnv(v: string | undefined): string[] {
  return (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
}

/** A mirror must be an http(s) URL without a path (Docker's rule). */
function mirrorUrl(v: string): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Error(`--registry-mirror ${v}: not a URL (want http://host:port or https://host)`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || (url.pathname !== '/' && url.pathname !== '')) {
    throw new Error(`--registry-mirror ${v}: want an http(s) URL without a path`);
  }
  return `${url.protocol}//${url.host}`;
}

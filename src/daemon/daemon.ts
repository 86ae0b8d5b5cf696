// Composition root: wires store, agent (image + runtime), head services and
// the Docker API server, and stops them in order.
import { randomUUID } from 'node:crypto';
import { chmodSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { access, chmod, copyFile, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApiServer } from '../api/http/server.ts';
import { archiveRoutes } from '../api/docker/archive.ts';
import { containerRoutes } from '../api/docker/containers.ts';
import { networkRoutes } from '../api/docker/networks.ts';
import { diskUsageRoutes } from '../api/docker/disk-usage.ts';
import { attachRoutes } from '../api/docker/attach.ts';
import { execRoutes } from '../api/docker/exec.ts';
import { eventRoutes } from '../api/docker/events.ts';
import { updateDiffRoutes } from '../api/docker/update-diff.ts';
import { runtimeControlRoutes } from '../api/docker/runtime-control.ts';
import { imageRoutes } from '../api/docker/images.ts';
import { authRoutes } from '../api/docker/auth.ts';
import { buildRoutes } from '../api/docker/build.ts';
import { buildContainers } from '../head/build-containers.ts';
import { Builder } from '../image/build/builder.ts';
import { systemRoutes } from '../api/docker/system.ts';
import { volumeRoutes } from '../api/docker/volumes.ts';
import { detectRuntimes, LocalAgent } from '../agent/local-agent.ts';
import { ContainerFilesService } from '../head/container-files.ts';
import { ContainerService } from '../head/containers.ts';
import { AttachService } from '../head/attach.ts';
import { ExecService } from '../head/exec.ts';
import { EventBus } from '../head/events.ts';
import { HealthMonitor } from '../head/health.ts';
import { ImageService } from '../head/images.ts';
import { NetworkService } from '../head/networks.ts';
import { LocalNetwork } from '../network/local-network.ts';
import { VolumeService } from '../head/volumes.ts';
import { ImageStore } from '../image/image-store.ts';
import { ConmonRuntime } from '../runtime/conmon-runtime.ts';
import { dropSeccompCache } from '../runtime/exec-helper.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { ContainerFiles } from '../volume/container-files.ts';
import { VolumeStore } from '../volume/volume-store.ts';
import type { Logger } from '../core/log.ts';
import type { DaemonConfig } from './config.ts';
import { loadTlsMaterial, tcpAddress } from './tls-listen.ts';
import { setInflateLimits } from '../image/decompress.ts';
import { resolveRemap } from './userns-remap.ts';
import { collectWhenIdle } from './idle-gc.ts';

export const VERSION = '0.1.0';

export interface Daemon {
  socket: string;
  stop(): Promise<void>;
}

export async function startDaemon(config: DaemonConfig, log: Logger): Promise<Daemon> {
  mkdirSync(config.dataRoot, { recursive: true, mode: 0o711 });
  // Remapped, everything lives in <data-root>/<uid>.<gid> (as Docker): its layers carry that mapping's ids.
  const idMap = config.usernsRemap ? await resolveRemap(config.usernsRemap) : undefined;
  const dataRoot = idMap ? path.join(config.dataRoot, `${idMap.uid.base}.${idMap.gid.base}`) : config.dataRoot;
  mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
  if (idMap) searchableByRemappedRoot(dataRoot);
  mkdirSync(config.runRoot, { recursive: true, mode: 0o711 });
  const store = new SqliteStore(path.join(dataRoot, 'berth.db'));
  const runtimes = await detectRuntimes({ runc: 'runc', crun: 'crun' });
  if (!runtimes.runc) throw new Error('runc is not installed (run npm start, which installs it)');
  setInflateLimits({ maxBytes: config.maxDecompressedSize, diskPath: dataRoot });
  const images = new ImageStore({
    root: path.join(dataRoot, 'image'),
    store,
    registry: { insecure: config.insecureRegistries, mirrors: config.registryMirrors, certsDir: config.registryCertsDir },
    idMap,
  });
  const runtime = new ConmonRuntime({
    root: path.join(dataRoot, 'runtime'),
    runRoot: config.runRoot,
    runtimes,
    defaultRuntime: 'runc',
    cgroupParent: config.cgroupParent,
    execHelper: await execHelper(config.execHelper, config.runRoot, log),
    idMap,
  });
  const agent = new LocalAgent({
    name: config.nodeName === 'local' ? os.hostname() : config.nodeName,
    dataRoot,
    idMap,
    images,
    runtime,
    volumes: new VolumeStore({ root: path.join(dataRoot, 'volumes'), store, idMap }),
    files: new ContainerFiles((id) => images.rootfsPath(id), idMap),
    network: new LocalNetwork({ tag: config.networkTag }),
    runtimes: Object.keys(runtimes),
    defaultRuntime: 'runc',
  });
  // Kept across restarts for `docker events --since` (a bounded window).
  const events = new EventBus({ file: path.join(dataRoot, 'events.jsonl') });
  const containers = new ContainerService({ store, agent, nodeName: config.nodeName, log, events });
  const volumes = new VolumeService({ agent, containers: () => containers.list(), resolveContainer: (ref) => containers.resolve(ref), log });
  containers.mounts = volumes;
  const networks = new NetworkService({ store, agent, log, tag: config.networkTag, bridgeName: config.bridgeName, defaultSubnet: config.defaultSubnet });
  networks.useContainers(containers);
  containers.networking = networks;
  // Restarts that reconcile schedules wait for the networks to be restored.
  let networksReady = () => {};
  containers.holdRestartsUntil(new Promise<void>((r) => (networksReady = r)));
  await containers.reconcile();
  const health = new HealthMonitor({ agent, containers, events, log, earlyProbes: config.earlyHealthProbes });
  await health.init();
  await networks.init();
  networksReady();
  const imageService = new ImageService({ agent, containers, events });

  const server = new ApiServer({ log, serverHeader: `Berth/${VERSION} (linux)` });
  systemRoutes(server, {
    agent,
    containers,
    images: imageService,
    system: { version: VERSION, gitCommit: '', started: new Date().toISOString(), dockerRootDir: dataRoot, daemonId: daemonId(dataRoot) },
  });
  containerRoutes(server, containers, imageService);
  attachRoutes(server, containers, new AttachService({ agent, containers, events }));
  execRoutes(server, new ExecService({ agent, containers, events }));
  eventRoutes(server, events);
  updateDiffRoutes(server, { agent, containers, events });
  runtimeControlRoutes(server, containers, agent);
  imageRoutes(server, imageService);
  authRoutes(server, imageService);
  buildRoutes(server, new Builder({ agent, store, containers: buildContainers(containers), tmpDir: path.join(dataRoot, 'build-tmp'), pull: (ref, o, p) => imageService.pull(ref, o, p) }), log);
  networkRoutes(server, networks);
  volumeRoutes(server, volumes);
  archiveRoutes(server, new ContainerFilesService({ agent, containers, events }));
  diskUsageRoutes(server, { agent, containers, images: imageService, volumes });

  if (existsSync(config.socket)) rmSync(config.socket);
  mkdirSync(path.dirname(config.socket), { recursive: true, mode: 0o711 });
  const oldMask = process.umask(0o177);
  try {
    await server.listen(config.socket);
  } finally {
    process.umask(oldMask);
  }
  chmodSync(config.socket, 0o600);
  if (config.insecureTcp) {
    const m = /^(.+):(\d+)$/.exec(config.insecureTcp);
    if (!m) throw new Error(`--insecure-tcp must be host:port (got ${config.insecureTcp})`);
    const port = await server.listenTcp(Number(m[2]), m[1]);
    log.warn('serving the API over plain TCP without authentication (--insecure-tcp)', { address: `${m[1]}:${port}` });
  }
  if (config.tlsListen.length) {
    const tls = loadTlsMaterial(config.tls);
    for (const listen of config.tlsListen) {
      const { host, port } = tcpAddress(listen, '--tls-listen');
      const bound = await server.listenTcp(port, host, tls);
      log.info('serving the API over TLS, client certificates verified', { tlsAddress: `${host}:${bound}` });
    }
  }

  const idleGc = collectWhenIdle(() => ({ received: server.requestCount, inProgress: server.activeRequests }));
  server.onRequest = idleGc.wake;
  return {
    socket: config.socket,
    async stop() {
      idleGc.stop();
      await server.close();
      health.close();
      containers.close();
      await agent.close();
      await store.close();
      rmSync(config.socket, { force: true });
    },
  };
}

/**
 * A remapped container's processes (runc's init first) walk down to its
 * rootfs under the data root: every directory above must let "others" pass.
 * Failing here is clearer than every container failing to start (Docker
 * checks the same).
 */
function searchableByRemappedRoot(dataRoot: string): void {
  for (let dir = path.dirname(dataRoot); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(`--userns-remap: ${dir}, above the data root, does not let the remapped root through; allow o+x on it (chmod o+x ${dir})`);
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** A stable id for this daemon's data root. */
function daemonId(dataRoot: string): string {
  const file = path.join(dataRoot, 'daemon-id');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const id = randomUUID();
    writeFileSync(file, id + '\n');
    return id;
  }
}

/**
 * berth-exec when it is there, copied into the run root: the daemon keeps
 * the helper it started with (the plan format is its own) even if the
 * set-up builds a newer one while it runs. Without it, exec without a TTY
 * goes through `runc exec` (slower, same effect).
 */
async function execHelper(file: string, runRoot: string, log: Logger): Promise<string | undefined> {
  if (file === 'none') return undefined;
  try {
    await access(file, constants.X_OK);
  } catch {
    log.warn(`${file} is missing (npm start builds it): docker exec without a TTY uses runc exec`);
    return undefined;
  }
  const own = path.join(runRoot, 'berth-exec');
  const tmp = `${own}.${process.pid}`;
  await copyFile(file, tmp);
  await chmod(tmp, 0o700);
  await rename(tmp, own); // (a spare of the previous daemon may still run the old file)
  // (<runRoot>/exec is the runtime's exec root.)
  await dropSeccompCache(path.join(runRoot, 'exec'));
  return own;
}

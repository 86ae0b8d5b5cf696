// The classic builder (POST /build): runs a Dockerfile's stages step by step,
// each step a child image of the one before, reusing a cached child when the
// same step already ran on the same parent. Everything on the node goes
// through the Agent interface: RUN through a real container (BuildContainers,
// which the head provides), COPY/ADD/WORKDIR by extracting a tar into a
// temporary rootfs and committing it, metadata steps by deriving an image.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Agent, ContainerFsRef, ProgressMessage, RegistryAuth } from '../../agent/agent-api.ts';
import { invalid, isKind } from '../../core/errors.ts';
import { shortId } from '../../core/ids.ts';
import { parseReference } from '../../core/reference.ts';
import type { ContainerConfig, HostConfig, ImageRecord, ImageRunConfig } from '../../core/types.ts';
import type { Store } from '../../store/store.ts';
import { receiveContext, type BuildContext } from './context.ts';
import { copyFromArchive, copyFromContext, copyGlobFromArchive, globParts, LayerWriter, type Owner } from './copy-plan.ts';
import { execForm, parseDockerfile, parseInstructions, type Instruction, type Stage } from './dockerfile.ts';
import { expandHeredoc, runCommand } from './heredoc.ts';
import { ImageFacts } from './image-facts.ts';
import { expandWord, expandWords, healthcheck, keyValuePairs, nopCreatedBy, parseChmod, PREDEFINED_ARGS } from './instructions.ts';
import { registryDomain } from '../registry/operations.ts';

export interface BuildRequest {
  dockerfile: string;
  tags: string[];
  /** --build-arg values; null means "declared but unset" (the CLI resolves KEY from its env). */
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  target: string;
  noCache: boolean;
  quiet: boolean;
  /** RUN steps' network: "default" (the bridge), "none", "host", or a network name. */
  networkMode: string;
  /** Remove RUN containers after a successful build (they always go after a failure). */
  rm: boolean;
  /** --pull: pull every FROM image even when it is present (otherwise only missing ones are pulled). */
  pull?: boolean;
  /** Credentials by registry (the X-Registry-Config header), for this build's pulls only. */
  auths?: Record<string, RegistryAuth>;
}

/** What the API streams: text lines, a base image's pull progress, or the final image id. */
export type BuildEvent = { stream: string } | { aux: { ID: string } } | ProgressMessage;

/** How the builder runs a RUN step: the head creates, starts and removes a real container. */
export interface BuildContainers {
  run(
    spec: { config: ContainerConfig; hostConfig: HostConfig },
    hooks: { created(id: string): void; output(data: Buffer): void },
  ): Promise<{ exitCode: number }>;
  remove(id: string): Promise<void>;
}

/** How a base image is pulled: the head's pull (which also emits Docker's pull event), or the agent's. */
export type PullBase = Agent['images']['pull'];

/** A failed step: the API reports it as errorDetail (with the exit code of a RUN). */
export class BuildStepError extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.name = 'BuildStepError';
    this.code = code;
  }
}

const CACHE_KIND = 'build-cache';
const DEFAULT_SHELL = ['/bin/sh', '-c'];

interface StageState {
  /** Current image id, "" while the stage is still `scratch` with no step done. */
  imageId: string;
  config: ImageRunConfig;
  /** ARG values in effect (declared in this stage, or global ones re-declared). */
  args: Map<string, string>;
}

export class Builder {
  private readonly agent: Agent;
  private readonly store: Store;
  private readonly containers: BuildContainers;
  private readonly tmpDir: string;
  private readonly pull: PullBase;
  private readonly facts = new ImageFacts();

  constructor(opts: { agent: Agent; store: Store; containers: BuildContainers; tmpDir: string; pull?: PullBase }) {
    this.agent = opts.agent;
    this.store = opts.store;
    this.containers = opts.containers;
    this.tmpDir = opts.tmpDir;
    this.pull = opts.pull ?? ((ref, o, progress) => opts.agent.images.pull(ref, o, progress));
  }

  async build(body: Readable, req: BuildRequest, emit: (e: BuildEvent) => void): Promise<string> {
    await fs.mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const work = await fs.mkdtemp(path.join(this.tmpDir, 'build-'));
    try {
      const ctx = await receiveContext(body, work, req.dockerfile);
      const run = new BuildRun(this, ctx, req, emit, work);
      return await run.execute();
    } finally {
      await fs.rm(work, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** @internal for BuildRun */
  deps() {
    return { agent: this.agent, store: this.store, containers: this.containers, pull: this.pull, facts: this.facts };
  }
}

class BuildRun {
  private readonly agent: Agent;
  private readonly store: Store;
  private readonly containers: BuildContainers;
  private readonly pullBase: PullBase;
  private readonly facts: ImageFacts;
  private readonly ctx: BuildContext;
  private readonly req: BuildRequest;
  private readonly emitEvent: (e: BuildEvent) => void;
  private readonly work: string;
  private readonly stageImages = new Map<string, string>();
  private readonly usedArgs = new Set<string>();
  private readonly leftovers = new Set<string>();
  private step = 0;
  private total = 0;

  constructor(builder: Builder, ctx: BuildContext, req: BuildRequest, emit: (e: BuildEvent) => void, work: string) {
    const d = builder.deps();
    this.agent = d.agent;
    this.store = d.store;
    this.containers = d.containers;
    this.pullBase = d.pull;
    this.facts = d.facts;
    this.ctx = ctx;
    this.req = req;
    this.emitEvent = emit;
    this.work = work;
  }

  private say(text: string): void {
    if (!this.req.quiet) this.emitEvent({ stream: text });
  }

  async execute(): Promise<string> {
    const df = parseDockerfile(this.ctx.dockerfile);
    let stages = df.stages;
    if (this.req.target) {
      const i = stages.findIndex((s) => s.name === this.req.target.toLowerCase());
      if (i < 0) throw invalid(`failed to reach build target ${this.req.target} in Dockerfile`);
      stages = stages.slice(0, i + 1);
    }
    const last = stages[stages.length - 1];
    const labels = Object.entries(this.req.labels);
    const extra: Instruction[] = labels.length
      ? [{ keyword: 'LABEL', args: labels.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' '), flags: new Map(), text: '', line: 0, heredocs: [], head: '' }]
      : [];
    if (extra.length) extra[0].text = extra[0].head = `LABEL ${extra[0].args}`;
    this.total = df.globalArgs.length + stages.reduce((n, s) => n + 1 + s.instructions.length, 0) + extra.length;

    // Global ARGs: only FROM lines see them (and ARGs in stages that re-declare them).
    const globals = new Map<string, string>();
    for (const ins of df.globalArgs) {
      this.stepLine(ins);
      this.declareArg(ins, globals, new Map(globals));
    }

    let state: StageState | undefined;
    try {
      for (const stage of stages) {
        state = await this.fromStep(stage, globals);
        const instructions = stage === last ? [...stage.instructions, ...extra] : stage.instructions;
        for (const ins of instructions) {
          this.stepLine(ins);
          await this.dispatch(ins, state, globals);
        }
        if (!state.imageId) state.imageId = (await this.agent.images.derive({ parentId: '', config: state.config, createdBy: '' })).id;
        if (stage.name) this.stageImages.set(stage.name, state.imageId);
        this.stageImages.set(String(stages.indexOf(stage)), state.imageId);
      }
    } finally {
      for (const id of this.leftovers) await this.containers.remove(id).catch(() => undefined);
    }
    const unused = Object.keys(this.req.buildArgs).filter((k) => !this.usedArgs.has(k) && !PREDEFINED_ARGS.has(k));
    if (unused.length) this.say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    const id = state!.imageId;
    this.emitEvent({ aux: { ID: id } });
    this.say(`Successfully built ${shortId(id)}\n`);
    for (const tag of this.req.tags) {
      await this.agent.images.tag(id, tag);
      this.say(`Successfully tagged ${tag}\n`);
    }
    if (this.req.quiet) this.emitEvent({ stream: `${id}\n` });
    return id;
  }

  private stepLine(ins: Instruction): void {
    this.step++;
    this.say(`Step ${this.step}/${this.total} : ${ins.text}\n`);
  }

  /** ARG name[=default]: records its value in `into` (build-arg wins over the default). */
  private declareArg(ins: Instruction, into: Map<string, string>, env: Map<string, string>, globals?: Map<string, string>): void {
    for (const w of ins.args.trim().split(/\s+/)) {
      if (w === '') throw invalid('ARG requires exactly one argument');
      const eq = w.indexOf('=');
      const name = eq < 0 ? w : w.slice(0, eq);
      const given = this.req.buildArgs[name];
      this.usedArgs.add(name);
      if (given !== undefined && given !== null) into.set(name, given);
      else if (eq >= 0) into.set(name, expandWord(w.slice(eq + 1), env));
      else if (globals?.has(name)) into.set(name, globals.get(name)!);
    }
  }

  private async fromStep(stage: Stage, globals: Map<string, string>): Promise<StageState> {
    this.stepLine(stage.from);
    const ref = expandWord(stage.from.args.trim().split(/\s+/)[0], globals);
    const state: StageState = { imageId: '', config: {}, args: new Map() };
    let base: ImageRecord | undefined;
    const earlier = this.stageImages.get(ref.toLowerCase());
    if (earlier) base = await this.agent.images.inspect(earlier);
    else if (ref !== 'scratch') base = await this.baseOf(ref);
    if (base) {
      state.imageId = base.id;
      state.config = structuredClone(base.config.config ?? {});
    }
    this.say(` ---> ${state.imageId ? shortId(state.imageId) : 'scratch'}\n`);
    const triggers = state.config.OnBuild ?? [];
    state.config.OnBuild = null;
    if (triggers.length) {
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      for (const t of triggers) for (const ins of parseInstructions(t)) await this.dispatch(ins, state, globals);
    }
    return state;
  }

  /** A FROM image: the local one unless --pull, else pulled with its progress in the build's output (as Docker's builder). */
  private async baseOf(ref: string): Promise<ImageRecord> {
    if (!this.req.pull) {
      try {
        return await this.agent.images.inspect(ref);
      } catch (err) {
        if (!isKind(err, 'not-found')) throw err;
      }
    }
    let domain: string;
    try {
      domain = parseReference(ref).domain;
    } catch {
      // An image id or prefix is not a name a registry knows.
      return this.agent.images.inspect(ref);
    }
    const auth = Object.entries(this.req.auths ?? {}).find(([server]) => registryDomain(server) === domain)?.[1];
    const progress = (m: ProgressMessage) => {
      if (!this.req.quiet) this.emitEvent(m);
    };
    const [pulled] = await this.pullBase(ref, { auth }, progress);
    return this.agent.images.inspect(pulled ?? ref);
  }

  /** Names visible to $VAR in a step: ARGs under the image's ENV. */
  private envOf(state: StageState): Map<string, string> {
    const env = new Map(state.args);
    for (const e of state.config.Env ?? []) {
      const i = e.indexOf('=');
      if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
    }
    return env;
  }

  private shell(state: StageState): string[] {
    return state.config.Shell && state.config.Shell.length ? state.config.Shell : DEFAULT_SHELL;
  }

  private async dispatch(ins: Instruction, state: StageState, globals: Map<string, string>): Promise<void> {
    const env = this.envOf(state);
    const cfg = state.config;
    const meta = (text: string, change: () => void) => this.metaStep(state, text, change);
    switch (ins.keyword) {
      case 'ARG':
        this.declareArg(ins, state.args, env, globals);
        this.say(` ---> ${state.imageId ? shortId(state.imageId) : 'scratch'}\n`);
        return;
      case 'ENV': {
        const pairs = keyValuePairs('ENV', ins.args, env);
        return meta(`ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, () => {
          let list = cfg.Env ?? [];
          for (const [k, v] of pairs) list = [...list.filter((e) => e.split('=')[0] !== k), `${k}=${v}`];
          cfg.Env = list;
        });
      }
      case 'LABEL': {
        const pairs = keyValuePairs('LABEL', ins.args, env);
        return meta(`LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, () => {
          cfg.Labels = { ...cfg.Labels };
          for (const [k, v] of pairs) cfg.Labels[k] = v;
        });
      }
      case 'MAINTAINER':
        return meta(ins.text, () => undefined);
      case 'CMD':
      case 'ENTRYPOINT': {
        const cmd = execForm(ins.args) ?? [...this.shell(state), ins.args];
        return meta(`${ins.keyword} ${JSON.stringify(cmd)}`, () => {
          if (ins.keyword === 'CMD') cfg.Cmd = cmd;
          else {
            cfg.Entrypoint = cmd;
            cfg.Cmd = null;
          }
        });
      }
      case 'SHELL': {
        const sh = execForm(ins.args);
        if (!sh || sh.length === 0) throw invalid('SHELL requires the arguments to be in JSON form');
        return meta(`SHELL ${JSON.stringify(sh)}`, () => (cfg.Shell = sh));
      }
      case 'EXPOSE': {
        const ports = expandWords(ins.args, env);
        if (!ports.length) throw invalid('EXPOSE requires at least one argument');
        const keys = ports.map((p) => (p.includes('/') ? p.toLowerCase() : `${p}/tcp`));
        for (const k of keys) if (!/^\d+(-\d+)?\/(tcp|udp|sctp)$/.test(k)) throw invalid(`invalid containerPort: ${k.split('/')[0]}`);
        return meta(`EXPOSE ${keys.join(' ')}`, () => {
          cfg.ExposedPorts = { ...cfg.ExposedPorts };
          for (const k of keys) cfg.ExposedPorts[k] = {};
        });
      }
      case 'VOLUME': {
        const vols = (execForm(ins.args) ?? expandWords(ins.args, env)).map((v) => v.trim());
        if (!vols.length || vols.some((v) => v === '')) throw invalid('VOLUME specified can not be an empty string');
        return meta(`VOLUME ${JSON.stringify(vols)}`, () => {
          cfg.Volumes = { ...cfg.Volumes };
          for (const v of vols) cfg.Volumes[v] = {};
        });
      }
      case 'USER': {
        const user = expandWord(ins.args.trim(), env);
        if (!user) throw invalid('USER requires exactly one argument');
        return meta(`USER ${user}`, () => (cfg.User = user));
      }
      case 'STOPSIGNAL': {
        const sig = expandWord(ins.args.trim(), env);
        if (!sig) throw invalid('STOPSIGNAL requires exactly one argument');
        return meta(`STOPSIGNAL ${sig}`, () => (cfg.StopSignal = sig));
      }
      case 'HEALTHCHECK': {
        const hc = healthcheck(ins.args, ins.flags, this.shell(state), execForm);
        return meta(`HEALTHCHECK ${JSON.stringify(hc)}`, () => (cfg.Healthcheck = hc));
      }
      case 'ONBUILD': {
        const trigger = ins.args.trim();
        const kw = trigger.split(/\s+/)[0].toUpperCase();
        if (kw === 'ONBUILD') throw invalid('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
        if (kw === 'FROM' || kw === 'MAINTAINER') throw invalid(`${kw} isn't allowed as an ONBUILD trigger`);
        parseInstructions(trigger);
        return meta(`ONBUILD ${trigger}`, () => (cfg.OnBuild = [...(cfg.OnBuild ?? []), trigger]));
      }
      case 'WORKDIR':
        return this.workdirStep(state, expandWord(ins.args.trim(), env));
      case 'RUN':
        return this.runStep(ins, state);
      case 'COPY':
      case 'ADD':
        return this.copyStep(ins, state, env);
      case 'FROM':
        throw invalid('FROM inside a stage');
    }
    throw invalid(`unknown instruction: ${ins.keyword}`);
  }

  // ---- cache ----

  private cacheKey(parent: string, text: string): string {
    return createHash('sha256').update(`${parent}\n${text}`).digest('hex');
  }

  private async cached(parent: string, text: string): Promise<string | undefined> {
    if (this.req.noCache) return undefined;
    const hit = await this.store.get<{ imageId: string }>(CACHE_KIND, this.cacheKey(parent, text));
    if (!hit) return undefined;
    try {
      return (await this.agent.images.inspect(hit.value.imageId)).id;
    } catch {
      return undefined;
    }
  }

  private async remember(parent: string, text: string, imageId: string): Promise<void> {
    await this.store.put(CACHE_KIND, this.cacheKey(parent, text), { imageId });
  }

  /** A cache hit moves the state to that image (its config is what the step would have made). */
  private async useCache(state: StageState, key: string): Promise<boolean> {
    const hit = await this.cached(state.imageId, key);
    if (!hit) return false;
    const img = await this.agent.images.inspect(hit);
    state.imageId = img.id;
    state.config = structuredClone(img.config.config ?? {});
    state.config.OnBuild = state.config.OnBuild ?? null;
    this.say(` ---> Using cache\n ---> ${shortId(img.id)}\n`);
    return true;
  }

  private async finishStep(state: StageState, key: string, parent: string, img: ImageRecord): Promise<void> {
    await this.remember(parent, key, img.id);
    state.imageId = img.id;
    this.say(` ---> ${shortId(img.id)}\n`);
  }

  // ---- steps ----

  private async metaStep(state: StageState, text: string, change: () => void): Promise<void> {
    const createdBy = nopCreatedBy(this.shell(state), text);
    if (await this.useCache(state, createdBy)) return;
    const parent = state.imageId;
    change();
    const img = await this.agent.images.derive({ parentId: parent, config: state.config, createdBy });
    await this.finishStep(state, createdBy, parent, img);
  }

  /** An image to start a container or rootfs from, even for a stage still at scratch. */
  private async baseImage(state: StageState): Promise<string> {
    if (!state.imageId) state.imageId = (await this.agent.images.derive({ parentId: '', config: state.config, createdBy: '' })).id;
    return state.imageId;
  }

  private async runStep(ins: Instruction, state: StageState): Promise<void> {
    // Docker's classic builder refuses every RUN flag (--mount, --security) with this message; --network we run.
    for (const f of ins.flags.keys()) {
      if (f !== 'network') throw invalid(`the --${f} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`);
    }
    const cmd = runCommand(ins, this.shell(state));
    // Build args reach the command as environment (ENV of the same name wins).
    const envNames = new Set((state.config.Env ?? []).map((e) => e.split('=')[0]));
    const argEnv = [...state.args].filter(([k]) => !envNames.has(k)).map(([k, v]) => `${k}=${v}`);
    const proxies = Object.entries(this.req.buildArgs)
      .filter(([k, v]) => PREDEFINED_ARGS.has(k) && v !== null && !state.args.has(k))
      .map(([k, v]) => `${k}=${v}`);
    const recorded = argEnv.filter((e) => !PREDEFINED_ARGS.has(e.split('=')[0]));
    const createdBy = recorded.length ? `|${recorded.length} ${recorded.join(' ')} ${cmd.join(' ')}` : cmd.join(' ');
    if (await this.useCache(state, createdBy)) return;
    const parent = await this.baseImage(state);
    const network = ins.flags.get('network') || this.req.networkMode || 'default';
    const config: ContainerConfig = {
      Image: parent,
      Cmd: cmd,
      Entrypoint: [],
      Env: [...(state.config.Env ?? []), ...argEnv, ...proxies],
      User: state.config.User ?? '',
      WorkingDir: state.config.WorkingDir ?? '',
      Labels: {},
      AttachStdout: true,
      AttachStderr: true,
    };
    const hostConfig: HostConfig = { NetworkMode: network === 'default' ? 'bridge' : network };
    let id = '';
    let exitCode: number;
    try {
      ({ exitCode } = await this.containers.run(
        { config, hostConfig },
        {
          created: (cid) => {
            id = cid;
            this.leftovers.add(cid);
            this.say(` ---> Running in ${shortId(cid)}\n`);
          },
          output: (data) => this.say(data.toString('utf8')),
        },
      ));
    } catch (err) {
      if (id) await this.removeContainer(id);
      throw err;
    }
    if (exitCode !== 0) {
      await this.removeContainer(id);
      throw new BuildStepError(`The command '${cmd.join(' ')}' returned a non-zero code: ${exitCode}`, exitCode);
    }
    const img = await this.agent.images.commit(id, { imageId: parent, config: state.config, createdBy });
    if (this.req.rm) {
      await this.removeContainer(id);
      this.say(` ---> Removed intermediate container ${shortId(id)}\n`);
    } else {
      this.leftovers.delete(id);
    }
    await this.finishStep(state, createdBy, parent, img);
  }

  private async removeContainer(id: string): Promise<void> {
    await this.containers.remove(id);
    this.leftovers.delete(id);
  }

  /** Runs `fn` on a temporary rootfs of the current image, then commits it as the step's image. */
  private async withRootfs(state: StageState, createdBy: string, fn: (ref: ContainerFsRef) => Promise<void>): Promise<ImageRecord> {
    const parent = await this.baseImage(state);
    const id = `build-${randomBytes(12).toString('hex')}`;
    const ref: ContainerFsRef = { containerId: id, name: id, mounts: [], readonlyRootfs: false };
    try {
      await this.agent.images.createRootfs(id, parent);
      await fn(ref);
      return await this.agent.images.commit(id, { imageId: parent, config: state.config, createdBy });
    } finally {
      await this.agent.images.removeRootfs(id).catch(() => undefined);
    }
  }

  private async isDir(state: StageState, p: string): Promise<boolean> {
    if (!state.imageId) return false;
    const key = `${state.imageId}\n${p}`;
    const known = this.facts.isDir.get(key);
    if (known !== undefined) return known;
    const id = `build-${randomBytes(12).toString('hex')}`;
    try {
      // (a missing image is an error, not a fact about the path: it stays out of the memo)
      await this.agent.images.createRootfs(id, state.imageId);
      let dir: boolean;
      try {
        const st = await this.agent.files.stat({ containerId: id, name: id, mounts: [], readonlyRootfs: false }, p);
        dir = (st.mode & 0x80000000) !== 0;
      } catch (err) {
        if (!isKind(err, 'not-found')) throw err;
        dir = false;
      }
      this.facts.isDir.set(key, dir);
      return dir;
    } finally {
      await this.agent.images.removeRootfs(id).catch(() => undefined);
    }
  }

  private async workdirStep(state: StageState, dir: string): Promise<void> {
    if (!dir) throw invalid('WORKDIR requires exactly one argument');
    const abs = path.posix.resolve(state.config.WorkingDir || '/', dir);
    const createdBy = nopCreatedBy(this.shell(state), `WORKDIR ${abs}`);
    if (await this.useCache(state, createdBy)) return;
    const parent = state.imageId;
    state.config.WorkingDir = abs;
    let img: ImageRecord;
    if (abs === '/' || (await this.isDir(state, abs))) {
      img = await this.agent.images.derive({ parentId: parent, config: state.config, createdBy });
    } else {
      // Docker creates the directory (root-owned, 0755) in the step's layer.
      const file = path.join(this.work, `workdir-${this.step}.tar`);
      const w = new LayerWriter(file);
      await w.add({ name: abs.slice(1), type: 'directory', mode: 0o755, uid: 0, gid: 0 });
      await w.finish();
      img = await this.withRootfs(state, createdBy, (ref) => this.agent.files.putArchive(ref, '/', createReadStream(file), { noOverwriteDirNonDir: false, copyUIDGID: true }));
    }
    await this.finishStep(state, createdBy, parent, img);
  }

  private async copyStep(ins: Instruction, state: StageState, env: Map<string, string>): Promise<void> {
    const keyword = ins.keyword;
    const allowed = keyword === 'COPY' ? ['from', 'chown', 'chmod', 'link'] : ['chown', 'chmod', 'link'];
    for (const f of ins.flags.keys()) if (!allowed.includes(f)) throw invalid(`${keyword} --${f} is not supported by this builder`);
    const list = execForm(ins.head)?.map((a) => expandWord(a, env)) ?? expandWords(ins.head, env);
    if (list.length < 2) throw invalid(`${keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`);
    const named = list.slice(0, -1);
    // `COPY <<EOF /dest`: a here-document becomes a file of its own.
    const docs = named.flatMap((s) => ins.heredocs.filter((h) => /^<<-?["']?/.test(s) && s.replace(/^<<-?["']?|["']$/g, '') === h.name));
    const sources = named.filter((s) => !/^<<-?["']?[A-Za-z_]/.test(s) || docs.length === 0);
    for (const s of sources) if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw invalid(`${keyword} of remote URLs is not supported by this builder: ${s}`);
    let dest = list[list.length - 1];
    const trailing = dest.endsWith('/') || dest.endsWith('/.') || dest === '.';
    dest = path.posix.resolve(state.config.WorkingDir || '/', dest);
    if (trailing && dest !== '/') dest += '/';
    const chmod = parseChmod(ins.flags.get('chmod'));
    const owner = await this.owner(state, ins.flags.get('chown'), env);
    const destIsDir = dest.endsWith('/') || (await this.isDir(state, dest));
    const opts = { dest, destIsDir, owner, chmod, extractArchives: keyword === 'ADD' };
    const from = ins.flags.get('from');
    const docText = docs.map((h) => `<<${h.name}`).join(' ');
    const text = `${keyword}${docText ? ' ' + docText : ''} ${ins.flags.has('chown') ? `--chown=${owner.uid}:${owner.gid} ` : ''}${chmod !== undefined ? `--chmod=${chmod.toString(8)} ` : ''}${from ? `--from=${from} ` : ''}${JSON.stringify(sources)} ${dest}`;
    const createdBy = (hash: string) => nopCreatedBy(this.shell(state), `${text} (content ${hash.slice(0, 16)})`);
    // A COPY --from that copied the same files of the same image before made
    // the same layer: with a cached step for it, nothing needs reading.
    const fromImage = from ? await this.sourceImage(from) : undefined;
    const factKey = fromImage && docs.length === 0 ? JSON.stringify([fromImage, sources, opts]) : undefined;
    const knownHash = factKey ? this.facts.copyHash.get(factKey) : undefined;
    if (knownHash && (await this.useCache(state, `${createdBy(knownHash)} ${knownHash}`))) return;
    const file = path.join(this.work, `copy-${this.step}.tar`);
    const w = new LayerWriter(file);
    try {
      if (docs.length + sources.length > 1 && !opts.dest.endsWith('/') && !opts.destIsDir) {
        throw invalid(`When using ${keyword} with more than one source file, the destination must be a directory and end with a /`);
      }
      for (const h of docs) {
        const name = (opts.destIsDir || opts.dest.endsWith('/') ? path.posix.join(opts.dest, h.name) : opts.dest).slice(1);
        const body = Buffer.from(h.expand ? expandHeredoc(h.content, env) : h.content);
        await w.add({ name, type: 'file', size: body.length, mode: chmod ?? 0o644, uid: owner.uid, gid: owner.gid, mtime: new Date(0) }, body);
      }
      if (fromImage) await this.stageFiles(w, from!, fromImage, sources, opts);
      else if (sources.length > 0) await copyFromContext(w, this.ctx, sources, opts, keyword);
    } catch (err) {
      w.abort();
      throw err;
    }
    const hash = await w.finish();
    if (factKey) this.facts.copyHash.set(factKey, hash);
    const step = createdBy(hash);
    if (await this.useCache(state, `${step} ${hash}`)) return;
    const parent = await this.baseImage(state);
    const img = await this.withRootfs(state, step, (ref) =>
      this.agent.files.putArchive(ref, '/', createReadStream(file), { noOverwriteDirNonDir: false, copyUIDGID: true }),
    );
    await this.finishStep(state, `${step} ${hash}`, parent, img);
  }

  /** The image of COPY --from: a stage by name or index, or an image. */
  private async sourceImage(from: string): Promise<string> {
    return this.stageImages.get(from.toLowerCase()) ?? (await this.agent.images.inspect(from)).id;
  }

  /** COPY --from: the sources out of that image's files. */
  private async stageFiles(w: LayerWriter, from: string, imageId: string, sources: string[], opts: Parameters<typeof copyFromArchive>[4]): Promise<void> {
    const id = `build-${randomBytes(12).toString('hex')}`;
    const ref: ContainerFsRef = { containerId: id, name: id, mounts: [], readonlyRootfs: false };
    try {
      await this.agent.images.createRootfs(id, imageId);
      const many = sources.length > 1;
      if (many && !opts.dest.endsWith('/') && !opts.destIsDir) {
        throw invalid('When using COPY with more than one source file, the destination must be a directory and end with a /');
      }
      for (const s of sources) {
        if (/[*?[]/.test(s)) {
          if (!opts.dest.endsWith('/') && !opts.destIsDir) {
            throw invalid('When using COPY with more than one source file, the destination must be a directory and end with a /');
          }
          const { dir, pattern } = globParts(path.posix.resolve('/', s));
          const got = await this.agent.files.getArchive(ref, dir).catch((err: unknown) => {
            if (isKind(err, 'not-found')) return undefined;
            throw err;
          });
          const n = got ? await copyGlobFromArchive(w, got.tar, path.posix.basename(dir), pattern, { ...opts, destIsDir: true }) : 0;
          if (n === 0) throw invalid(`COPY failed: no source files were specified (nothing matches ${s} in ${from})`);
          continue;
        }
        const src = path.posix.resolve('/', s);
        let got;
        try {
          got = await this.agent.files.getArchive(ref, src);
        } catch (err) {
          if (isKind(err, 'not-found')) throw invalid(`COPY failed: stat ${src}: file does not exist`);
          throw err;
        }
        const isDir = (got.stat.mode & 0x80000000) !== 0;
        await copyFromArchive(w, src, got.tar, isDir, many ? { ...opts, destIsDir: true } : opts);
      }
    } finally {
      await this.agent.images.removeRootfs(id).catch(() => undefined);
    }
  }

  /** --chown=user:group with names looked up in the image's /etc/passwd and /etc/group. */
  private async owner(state: StageState, spec: string | undefined, env: Map<string, string>): Promise<Owner> {
    if (!spec) return { uid: 0, gid: 0 };
    const [u, g] = expandWord(spec, env).split(':');
    const lookup = async (file: string, name: string, what: string): Promise<number> => {
      if (/^\d+$/.test(name)) return Number(name);
      const text = await this.readImageFile(state, file);
      for (const line of text.split('\n')) {
        const f = line.split(':');
        if (f[0] === name && f.length > 3) return Number(f[2]);
      }
      throw invalid(`unable to convert uid/gid chown string to host mapping: no such ${what}: ${name}`);
    };
    const uid = await lookup('/etc/passwd', u, 'user');
    let gid = uid;
    if (g !== undefined) gid = await lookup('/etc/group', g, 'group');
    else if (!/^\d+$/.test(u)) {
      const text = await this.readImageFile(state, '/etc/passwd');
      const line = text.split('\n').find((l) => l.split(':')[0] === u);
      gid = line ? Number(line.split(':')[3]) : uid;
    }
    return { uid, gid };
  }

  private async readImageFile(state: StageState, file: string): Promise<string> {
    if (!state.imageId) return '';
    const id = `build-${randomBytes(12).toString('hex')}`;
    const ref: ContainerFsRef = { containerId: id, name: id, mounts: [], readonlyRootfs: false };
    try {
      await this.agent.images.createRootfs(id, state.imageId);
      const { tar: stream } = await this.agent.files.getArchive(ref, file);
      const tarStream = (await import('tar-stream')).default.extract();
      stream.pipe(tarStream);
      let text = '';
      for await (const entry of tarStream) {
        for await (const c of entry) text += (c as Buffer).toString('utf8');
      }
      return text;
    } catch (err) {
      if (isKind(err, 'not-found')) return '';
      throw err;
    } finally {
      await this.agent.images.removeRootfs(id).catch(() => undefined);
    }
  }
}

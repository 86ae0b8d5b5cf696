// The node's json-file log converter: follows the conmon log of every
// running container with the json-file driver (fs.watch on its directory,
// plus a poll in case an event is missed) and converts it with a
// ContainerConverter. The poll (every pollMs, a second by default) visits a
// container each time while someone follows its log or its watch failed, and
// every 30th time otherwise: an idle node with many containers then does next
// to nothing, and a plain read catches up by itself. Steps of one container never overlap; readers can wait
// for new entries (subscribe) or force a step (catchUp) so that a read right
// after the container wrote sees everything.
import { watch, type FSWatcher } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ContainerConverter, writeConverterState, type ConverterTarget } from './container-converter.ts';

/** Poll ticks between visits of a watched container that nobody follows. */
const UNFOLLOWED_EVERY = 30;

interface Tracked {
  target: ConverterTarget;
  watcher: FSWatcher | undefined;
  running: boolean;
  dirty: boolean;
}

export class JsonLogConverter {
  private readonly converters = new Map<string, ContainerConverter>();
  private readonly tracked = new Map<string, Tracked>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly pollMs: number;
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private readonly onError: (id: string, err: unknown) => void;

  constructor(opts: { pollMs?: number; onError?: (id: string, err: unknown) => void } = {}) {
    this.pollMs = opts.pollMs ?? 1000;
    this.onError = opts.onError ?? (() => undefined);
  }

  /** Runs fn alone among the operations on this container. */
  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  private converter(id: string, target: ConverterTarget): ContainerConverter {
    let c = this.converters.get(id);
    if (!c) {
      c = new ContainerConverter(target);
      this.converters.set(id, c);
    }
    return c;
  }

  private async stepLocked(id: string, target: ConverterTarget): Promise<void> {
    const n = await this.converter(id, target).step();
    if (n > 0) for (const l of this.listeners.get(id) ?? []) l();
  }

  private async dropLocked(id: string): Promise<void> {
    const c = this.converters.get(id);
    this.converters.delete(id);
    await c?.close();
  }

  /**
   * Before a (re)start: converts what is left of the previous run, then
   * starts a fresh staging file so that conmon's new log is read from its
   * first byte.
   */
  prepareRun(id: string, target: ConverterTarget): Promise<void> {
    return this.locked(id, async () => {
      this.untrack(id);
      try {
        await this.stepLocked(id, target);
      } catch (err) {
        this.onError(id, err);
      }
      await this.dropLocked(id);
      await fs.rm(target.source, { force: true });
      let jsonIno = '0';
      let jsonSize = 0;
      try {
        const st = await fs.stat(target.jsonLog, { bigint: true });
        jsonIno = String(st.ino);
        jsonSize = Number(st.size);
      } catch {
        // no json log yet
      }
      await writeConverterState(target.stateFile, { ino: '0', offset: 0, jsonIno, jsonSize });
    });
  }

  /** Follows a running container's log until finish() or forget(). */
  follow(id: string, target: ConverterTarget): void {
    if (this.tracked.has(id)) return;
    const t: Tracked = { target, watcher: undefined, running: false, dirty: false };
    const source = path.basename(target.source);
    try {
      t.watcher = watch(path.dirname(target.source), { persistent: false }, (_event, name) => {
        // conmon writes ctr.log and rotates through ctr.log.tmp; our own files change there too.
        if (name === null || String(name).startsWith(source)) this.kick(id);
      });
      t.watcher.on('error', () => {
        // A broken watch: the every-second poll takes over.
        t.watcher?.close();
        t.watcher = undefined;
      });
    } catch {
      t.watcher = undefined; // the poll still converts
    }
    this.tracked.set(id, t);
    this.timer ??= setInterval(() => {
      this.ticks++;
      for (const [id, t] of this.tracked) {
        if (!t.watcher || this.listeners.has(id) || this.ticks % UNFOLLOWED_EVERY === 0) this.kick(id);
      }
    }, this.pollMs);
    this.timer.unref();
    this.kick(id);
  }

  private kick(id: string): void {
    const t = this.tracked.get(id);
    if (!t) return;
    if (t.running) {
      t.dirty = true;
      return;
    }
    t.running = true;
    void (async () => {
      do {
        t.dirty = false;
        await this.locked(id, () => this.stepLocked(id, t.target)).catch((err) => this.onError(id, err));
      } while (t.dirty && this.tracked.get(id) === t);
      t.running = false;
    })();
  }

  private untrack(id: string): void {
    const t = this.tracked.get(id);
    if (!t) return;
    this.tracked.delete(id);
    t.watcher?.close();
    if (this.tracked.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Converts everything written so far (whether followed or not). */
  catchUp(id: string, target: ConverterTarget): Promise<void> {
    return this.locked(id, async () => {
      await this.stepLocked(id, target);
      if (!this.tracked.has(id)) await this.dropLocked(id);
    });
  }

  /** The container exited: converts the rest of its log, then stops following it. */
  finish(id: string, target: ConverterTarget): Promise<void> {
    this.untrack(id);
    return this.locked(id, async () => {
      try {
        await this.stepLocked(id, target);
      } finally {
        await this.dropLocked(id);
      }
    });
  }

  /** Stops following without converting (the container is being deleted). */
  forget(id: string): Promise<void> {
    this.untrack(id);
    return this.locked(id, () => this.dropLocked(id));
  }

  isFollowing(id: string): boolean {
    return this.tracked.has(id);
  }

  /** Calls wake after each step that wrote entries for the container; returns the unsubscribe. */
  subscribe(id: string, wake: () => void): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  async close(): Promise<void> {
    for (const id of [...this.tracked.keys()]) this.untrack(id);
    for (const id of [...this.converters.keys()]) await this.locked(id, () => this.dropLocked(id));
  }
}

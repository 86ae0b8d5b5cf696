// Attaching clients to a container: its stdin (once the process runs) and
// its TTY's size. Output comes from the container's log (ContainerService.logs).
import type { Writable } from 'node:stream';
import { conflict, invalid } from '../core/errors.ts';
import type { Agent } from '../agent/agent-api.ts';
import type { ContainerService } from './containers.ts';
import type { EventBus } from './events.ts';

export class AttachService {
  private readonly agent: Agent;
  private readonly containers: ContainerService;
  private readonly events: EventBus;

  constructor(opts: { agent: Agent; containers: ContainerService; events: EventBus }) {
    this.agent = opts.agent;
    this.containers = opts.containers;
    this.events = opts.events;
  }

  /**
   * The process's stdin for a client, or null when the container does not
   * keep stdin open. Waits for the container to start (the docker CLI
   * attaches before it starts the container) unless the signal fires.
   */
  async stdin(id: string, signal: AbortSignal): Promise<Writable | null> {
    const c = await this.containers.resolve(id);
    if (!c.Config.OpenStdin) return null;
    if (!c.State.Running) await this.nextStart(c.Id, signal);
    if (signal.aborted) return null;
    return this.agent.runtime.attachStdin(c.Id, signal);
  }

  private nextStart(id: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        off();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const off = this.events.subscribe((e) => {
        if (e.Type === 'container' && e.Action === 'start' && e.Actor.ID === id) done();
      });
      signal.addEventListener('abort', done, { once: true });
      // Started between resolve() and subscribe().
      void this.containers.resolve(id).then((c) => c.State.Running && done(), done);
    });
  }

  async resize(ref: string, height: number, width: number): Promise<void> {
    if (!(height >= 0 && width >= 0)) throw invalid('invalid size: height and width must be non-negative');
    const c = await this.containers.resolve(ref);
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    await this.agent.runtime.resize(c.Id, height, width);
  }

  announce(id: string): void {
    void this.containers.resolve(id).then((c) => this.events.emit('container', 'attach', c), () => undefined);
  }
}

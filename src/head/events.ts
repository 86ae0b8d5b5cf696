// In-process event bus for container and image events (docker events, waits).
import { EventEmitter } from 'node:events';
import type { ContainerRecord } from '../core/types.ts';

export interface BerthEvent {
  Type: 'container' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(type: 'container', action: string, c: ContainerRecord, extra: Record<string, string> = {}): void {
    const nanos = BigInt(Date.now()) * 1_000_000n;
    const event: BerthEvent = {
      Type: type,
      Action: action,
      Actor: { ID: c.Id, Attributes: { ...(c.Config.Labels ?? {}), image: c.Image, name: c.Name, ...extra } },
      scope: 'local',
      time: Number(nanos / 1_000_000_000n),
      timeNano: Number(nanos),
    };
    this.emitter.emit('event', event);
  }

  emitImage(action: string, id: string, name: string): void {
    const nanos = BigInt(Date.now()) * 1_000_000n;
    this.emitter.emit('event', {
      Type: 'image',
      Action: action,
      Actor: { ID: id, Attributes: { name } },
      scope: 'local',
      time: Number(nanos / 1_000_000_000n),
      timeNano: Number(nanos),
    } satisfies BerthEvent);
  }

  subscribe(fn: (e: BerthEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}

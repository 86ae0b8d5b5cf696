// A volume driver: where a volume's data lives and how it becomes a directory
// a container can bind-mount. "local" is the only one today; a portable
// driver (data that follows a container to another node) plugs in here.
import type { VolumeRecord } from '../core/types.ts';

export interface VolumeDriver {
  readonly name: string;
  /** Throws an invalid error for options the driver does not know. */
  validate(name: string, opts: Record<string, string>): void;
  /** Makes the volume's storage; returns its Mountpoint (a host directory). */
  create(name: string, opts: Record<string, string>): Promise<string>;
  /** Makes the data reachable at the Mountpoint (mounting what must be mounted); returns it. */
  mount(vol: VolumeRecord): Promise<string>;
  /** Deletes the storage (unmounting first). */
  remove(vol: VolumeRecord): Promise<void>;
}

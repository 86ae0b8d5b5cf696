// Watches conmon's exit directory. conmon writes <exitDir>/<id> (the exit
// code) with g_file_set_contents, i.e. a temporary file renamed into place, a
// few ms after the container's process ends. fs.watch notices most of them at
// once; a rescan at start and on a slow timer catches whatever it misses.
import { watch, promises as fs, type FSWatcher } from 'node:fs';

export class ExitWatcher {
  private readonly dir: string;
  private readonly onFile: (id: string) => void;
  private readonly rescanMs: number;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** onFile is called with the name of every exit file seen, possibly more than once. */
  constructor(dir: string, onFile: (id: string) => void, rescanMs = 2000) {
    this.dir = dir;
    this.onFile = onFile;
    this.rescanMs = rescanMs;
  }

  start(): void {
    if (this.watcher || this.timer) return;
    try {
      this.watcher = watch(this.dir, { persistent: false }, (_event, filename) => {
        if (filename && isExitFileName(filename.toString())) this.onFile(filename.toString());
      });
      this.watcher.on('error', () => {
        // The directory went away or inotify failed: the timer still rescans.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined;
    }
    this.timer = setInterval(() => void this.rescan(), this.rescanMs);
    this.timer.unref();
    void this.rescan();
  }

  async rescan(): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names) if (isExitFileName(name)) this.onFile(name);
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Container ids; conmon's temporary files have a ".XXXXXX" suffix. */
export function isExitFileName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name);
}

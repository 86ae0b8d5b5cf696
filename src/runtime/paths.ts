// Where the runtime keeps each container's files. Two roots:
//   root    (<dataRoot>/runtime, persistent): <id>/config.json, rootfs
//           reference, log, etc files, conmon's oom/exit persist files
//   runRoot (e.g. /run/berth, tmpfs): runc state, exit files, pid files,
//           attach sockets
import path from 'node:path';

export class RuntimePaths {
  readonly root: string;
  readonly runRoot: string;

  constructor(root: string, runRoot: string) {
    this.root = root;
    this.runRoot = runRoot;
  }

  get runcRoot(): string {
    return path.join(this.runRoot, 'runc');
  }
  get exitDir(): string {
    return path.join(this.runRoot, 'exits');
  }
  get socketDir(): string {
    return path.join(this.runRoot, 'socket');
  }
  get pidDir(): string {
    return path.join(this.runRoot, 'pids');
  }

  bundle(id: string): string {
    return path.join(this.root, id);
  }
  config(id: string): string {
    return path.join(this.root, id, 'config.json');
  }
  /** The k8s-file log conmon writes (also for Docker's "json-file" driver). */
  log(id: string): string {
    return path.join(this.root, id, 'ctr.log');
  }
  /** Berth's own notes about the container (log driver, run settings). */
  meta(id: string): string {
    return path.join(this.root, id, 'berth.json');
  }
  /** conmon's --persist-dir: it writes "exit" and "oom" there. */
  persist(id: string): string {
    return path.join(this.root, id, 'persist');
  }
  oomFile(id: string): string {
    return path.join(this.root, id, 'persist', 'oom');
  }
  /** Marks the last exit the listeners were told about (exit file mtime). */
  exitSeen(id: string): string {
    return path.join(this.root, id, 'exit-seen');
  }
  exitFile(id: string): string {
    return path.join(this.exitDir, id);
  }
  pidFile(id: string): string {
    return path.join(this.pidDir, `${id}.pid`);
  }
  conmonPidFile(id: string): string {
    return path.join(this.pidDir, `${id}.conmon.pid`);
  }
  socket(id: string): string {
    return path.join(this.socketDir, id);
  }
}

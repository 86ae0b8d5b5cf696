// Helper process for conmon-runtime.test.ts: plays a daemon that starts two
// containers and is then killed with SIGKILL. Args: dir rootfs cgroupParent id1 id2
import path from 'node:path';
import { ConmonRuntime } from './conmon-runtime.ts';
import { record } from './test-fixtures.ts';

const [dir, rootfs, cgroupParent, id1, id2] = process.argv.slice(2);
const rt = new ConmonRuntime({
  root: path.join(dir, 'data', 'runtime'),
  runRoot: path.join(dir, 'run'),
  runtimes: { runc: 'runc' },
  defaultRuntime: 'runc',
  cgroupParent,
});
const a = record({ id: id1, cmd: ['sleep', '100'] });
const b = record({ id: id2, cmd: ['sh', '-c', 'sleep 0.5; exit 7'] });
const pids: number[] = [];
for (const c of [a, b]) {
  await rt.create(c, rootfs, {});
  pids.push((await rt.start(c)).pid);
}
process.stdout.write(`${JSON.stringify(pids)}\nstarted\n`);
setInterval(() => undefined, 1000);

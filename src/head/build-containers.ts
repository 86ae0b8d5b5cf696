// The containers of RUN build steps: real containers of the head (so they get
// networks, IP addresses and clean-up like any other), created, started,
// followed to their exit and removed for the builder.
import type { BuildContainers } from '../image/build/builder.ts';
import type { ContainerConfig, HostConfig } from '../core/types.ts';
import type { ContainerService } from './containers.ts';

export function buildContainers(containers: ContainerService): BuildContainers {
  return {
    async run(spec: { config: ContainerConfig; hostConfig: HostConfig }, hooks) {
      const c = await containers.create(undefined, spec.config, spec.hostConfig);
      hooks.created(c.Id);
      const exited = new AbortController();
      const exit = containers.wait(c.Id, 'next-exit');
      void exit.then(() => exited.abort());
      const logs = (async () => {
        const opts = { follow: true, followUntil: exited.signal, stdout: true, stderr: true, since: 0, until: 0, tail: -1 };
        for await (const e of containers.logs(c, opts)) hooks.output(e.data);
      })();
      try {
        await containers.start(c.Id);
      } catch (err) {
        exited.abort();
        await logs.catch(() => undefined);
        throw err;
      }
      const { StatusCode } = await exit;
      await logs;
      return { exitCode: StatusCode };
    },
    async remove(id: string) {
      await containers.remove(id, { force: true, volumes: true });
    },
  };
}

// GET /system/df (`docker system df`, -v): images, containers, volumes and
// the space each takes, from the head's services.
import type { ContainerService } from '../../head/containers.ts';
import type { ImageService } from '../../head/images.ts';
import type { VolumeService } from '../../head/volumes.ts';
import type { Agent } from '../../agent/agent-api.ts';
import type { Routes } from '../http/server.ts';
import { containerSummary } from './container-view.ts';
import { parseFilters } from './filters.ts';
import { imageSummary } from './image-view.ts';
import { volumeView } from './volumes.ts';

export function diskUsageRoutes(r: Routes, deps: { agent: Agent; containers: ContainerService; images: ImageService; volumes: VolumeService }): void {
  // `docker builder prune` and the last step of `docker system prune`. The
  // classic builder keeps its cache as ordinary images (pruned with them):
  // there is no separate build cache to delete.
  r.add('POST', '/build/prune', async (ctx) => {
    parseFilters(ctx.query.get('filters'), ['until', 'id', 'parent', 'type', 'description', 'inuse', 'shared', 'private', 'label', 'label!']);
    ctx.send(200, { CachesDeleted: null, SpaceReclaimed: 0 });
  });

  r.add('GET', '/system/df', async (ctx) => {
    const types = ctx.query.getAll('type');
    const want = (t: string) => types.length === 0 || types.includes(t);
    const containers = await deps.containers.list();
    const out: Record<string, unknown> = { BuildCache: [] };

    if (want('image')) {
      const images = await deps.images.list({ all: true, filters: {} });
      out.LayersSize = images.reduce((sum, img) => sum + img.size, 0);
      out.Images = images.map((img) => ({
        ...imageSummary(img, ctx.apiVersion),
        Containers: containers.filter((c) => c.ImageId === img.id).length,
        SharedSize: 0,
      }));
    }
    if (want('container')) {
      const list = [];
      for (const c of containers) {
        const rw = await deps.containers.sizeRw(c.Id);
        const img = await deps.images.inspect(c.ImageId).catch(() => undefined);
        list.push(containerSummary(c, { rw, rootFs: rw + (img?.size ?? 0) }));
      }
      out.Containers = list;
    }
    if (want('volume')) {
      const usage = await deps.volumes.usage();
      const list = [];
      for (const v of await deps.volumes.list({})) {
        const size = await deps.agent.volumes.size(v.Name).catch(() => -1);
        list.push(volumeView(v, { Size: size, RefCount: usage.get(v.Name)?.length ?? 0 }));
      }
      out.Volumes = list;
    }
    ctx.send(200, out);
  });
}

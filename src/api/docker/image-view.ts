// Image records rendered as the Engine API's ImageSummary and ImageInspect.
import type { ImageRecord } from '../../core/types.ts';
import { imageCreated } from '../../head/images.ts';

const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000);

export function imageSummary(img: ImageRecord, apiVersion: number) {
  return {
    Id: img.id,
    ParentId: img.parent,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Created: unix(imageCreated(img)),
    Size: img.size,
    SharedSize: -1,
    ...(apiVersion < 1.44 ? { VirtualSize: img.size } : {}),
    Labels: img.config.config?.Labels ?? {},
    Containers: -1,
  };
}

/** The image's run config in the container Config shape Docker shows. */
function runConfig(img: ImageRecord) {
  const c = img.config.config ?? {};
  return {
    Hostname: '',
    Domainname: '',
    User: c.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c.Env ?? null,
    Cmd: c.Cmd ?? null,
    ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
    Image: '',
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: c.Labels ?? null,
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c.Shell ? { Shell: c.Shell } : {}),
  };
}

export function imageInspect(img: ImageRecord, apiVersion: number) {
  const history = img.config.history ?? [];
  return {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: img.parent,
    Comment: history.length ? (history[history.length - 1].comment ?? '') : '',
    Created: imageCreated(img),
    ...(apiVersion < 1.45 ? { Container: '', ContainerConfig: runConfig(img) } : {}),
    DockerVersion: '',
    Author: img.config.author ?? '',
    Config: runConfig(img),
    Architecture: img.config.architecture,
    ...(img.config.variant ? { Variant: img.config.variant } : {}),
    Os: img.config.os,
    Size: img.size,
    ...(apiVersion < 1.44 ? { VirtualSize: img.size } : {}),
    GraphDriver: { Name: 'overlay', Data: null },
    RootFS: { Type: 'layers', Layers: img.config.rootfs.diff_ids },
    Metadata: { LastTagTime: img.loadedAt },
  };
}

// POST /images/create?fromImage= (pull) and POST /images/{name}/push. Both
// stream Docker's JSON progress lines; the status line goes out with the
// first message, so that failures before it (no such image, access denied,
// registry unreachable) are plain HTTP errors as with Docker.
import type { ProgressMessage } from '../../agent/agent-api.ts';
import { BerthError, invalid } from '../../core/errors.ts';
import { parseReference } from '../../core/reference.ts';
import type { ImageService } from '../../head/images.ts';
import type { Ctx } from '../http/context.ts';
import { registryAuthFromHeader } from './registry-auth.ts';

type Out = NodeJS.WritableStream & { destroyed: boolean };

async function streamed(ctx: Ctx, run: (progress: (m: ProgressMessage) => void) => Promise<void>): Promise<void> {
  let out: Out | undefined;
  const progress = (m: ProgressMessage) => {
    out ??= ctx.stream(200, 'application/json');
    if (!out.destroyed) out.write(JSON.stringify(m) + '\n');
  };
  try {
    await run(progress);
  } catch (err) {
    if (!out) throw err;
    const message = err instanceof BerthError && err.kind !== 'internal' ? err.message : 'internal error';
    if (!out.destroyed) out.write(JSON.stringify({ errorDetail: { message }, error: message }) + '\n');
  }
  out?.end();
}

export async function pullHandler(ctx: Ctx, images: ImageService): Promise<void> {
  const fromImage = ctx.query.get('fromImage')!;
  const tag = ctx.query.get('tag') ?? '';
  let ref = fromImage;
  const base = parseReference(fromImage);
  if (tag) {
    if (base.tag || base.digest) throw invalid(`invalid reference format: ${fromImage} already names a tag or digest`);
    ref = /^[a-z0-9]+:[a-f0-9]{32,}$/.test(tag) ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
    parseReference(ref);
  }
  // Docker's rule: a bare repository name with no tag asks for every tag.
  const allTags = !tag && !base.tag && !base.digest;
  const platform = ctx.query.get('platform') || undefined;
  const auth = registryAuthFromHeader(ctx.req.headers);
  await streamed(ctx, async (progress) => {
    await images.pull(ref, { platform, auth, allTags }, progress);
  });
}

export async function pushHandler(ctx: Ctx, images: ImageService, name: string): Promise<void> {
  const tag = ctx.query.get('tag') ?? '';
  const ref = tag ? `${name}:${tag}` : name;
  parseReference(ref);
  const auth = registryAuthFromHeader(ctx.req.headers);
  await streamed(ctx, (progress) => images.push(ref, { auth }, progress));
}

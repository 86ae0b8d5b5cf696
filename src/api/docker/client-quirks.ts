// Known clients that need something the API version they announce no longer
// has. Keyed on the User-Agent, kept few and explained.
import type { Ctx } from '../http/context.ts';

/**
 * docker-compose 1.x (Debian 12 ships 1.29) negotiates the newest API but
 * still reads ContainerConfig from image inspect when it recreates a
 * container (API 1.45 dropped the field); without it `up --force-recreate`
 * dies with KeyError: 'ContainerConfig'.
 */
export function isComposeV1(ctx: Ctx): boolean {
  return /^docker-compose\/1\./.test(ctx.req.headers['user-agent'] ?? '');
}

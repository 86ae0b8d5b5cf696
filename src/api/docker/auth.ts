// POST /auth (docker login): checks the credentials against the registry and
// answers "Login Succeeded"; the daemon keeps nothing (the CLI stores them).
import { invalid } from '../../core/errors.ts';
import type { ImageService } from '../../head/images.ts';
import type { Routes } from '../http/server.ts';
import { registryAuth } from './registry-auth.ts';

export function authRoutes(r: Routes, images: ImageService): void {
  r.add('POST', '/auth', async (ctx) => {
    const auth = registryAuth(await ctx.json());
    if (!auth) throw invalid('request body must be an AuthConfig object');
    const { identityToken } = await images.login(auth);
    ctx.send(200, { Status: 'Login Succeeded', IdentityToken: identityToken ?? '' });
  });
}

// Platforms ("linux/arm64/v8") and picking the manifest of an index that
// fits one, with the normalisations Docker applies (x86_64 = amd64,
// aarch64 = arm64 whose default variant is v8, arm's default variant v7).
import { invalid, notFound } from '../../core/errors.ts';
import type { Descriptor, Platform } from './manifest.ts';

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386' };
const NODE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  return { os: 'linux', architecture, variant: architecture === 'arm64' ? 'v8' : undefined };
}

/** "linux/arm64/v8", "linux/amd64", "arm64" (os defaults to linux). */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().toLowerCase().split('/');
  if (parts.some((p) => p === '') || parts.length > 3) throw invalid(`"${spec}": unknown operating system or architecture: invalid argument`);
  const [os, architecture, variant] = parts.length === 1 ? ['linux', parts[0]] : parts;
  return normalize({ os, architecture, variant });
}

export function normalize(p: Platform): Platform {
  const architecture = ARCH_ALIASES[p.architecture] ?? p.architecture;
  let variant = p.variant || undefined;
  if (architecture === 'arm64' && (!variant || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && !variant) variant = 'v7';
  if (architecture === 'arm' && variant && /^\d$/.test(variant)) variant = `v${variant}`;
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return { os: p.os, architecture, variant };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function matches(want: Platform, have: Platform): boolean {
  const h = normalize(have);
  if (h.os !== want.os || h.architecture !== want.architecture) return false;
  return !want.variant || !h.variant || h.variant === want.variant;
}

/** The first manifest of an index for the platform; Docker's error when there is none. */
export function selectManifest(manifests: Descriptor[], want: Platform): Descriptor {
  const candidates = manifests.filter((m) => m.platform && matches(want, m.platform));
  // An exact variant beats a manifest that names none.
  const exact = candidates.find((m) => (normalize(m.platform!).variant ?? '') === (want.variant ?? ''));
  const chosen = exact ?? candidates[0];
  if (!chosen) throw notFound(`no matching manifest for ${formatPlatform(want)} in the manifest list entries`);
  return chosen;
}

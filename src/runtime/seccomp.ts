import type { OciSeccomp } from './oci-types.ts';

/** Placeholder until the profile lands: no seccomp filter. */
export function defaultSeccompProfile(): OciSeccomp | undefined {
  return undefined;
}

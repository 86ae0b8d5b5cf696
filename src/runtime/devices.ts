// --device and --device-cgroup-rule: host device nodes made inside the
// container and the device-controller rules that let it use them. Everything
// else stays denied by the default rules in oci-spec.ts.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalid } from '../core/errors.ts';
import { deviceFromStat, hostDevices } from './host-devices.ts';
import type { OciDevice, OciDeviceRule } from './oci-types.ts';

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer?: string;
  CgroupPermissions?: string;
}

export interface MappedDevices {
  devices: OciDevice[];
  rules: OciDeviceRule[];
}


function permissions(p: string | undefined, what: string): string {
  const value = p || 'rwm';
  if (!/^[rwm]{1,3}$/.test(value) || new Set(value).size !== value.length) throw invalid(`invalid device permissions for ${what}: "${value}"`);
  return value;
}

const gatherError = (host: string, why: string) => invalid(`error gathering device information while adding custom device "${host}": ${why}`);

/** The nodes and rules for HostConfig.Devices; a directory maps every device below it (as Docker). */
export async function mappedDevices(list: DeviceMapping[] | null | undefined): Promise<MappedDevices> {
  const out: MappedDevices = { devices: [], rules: [] };
  for (const m of list ?? []) {
    if (!m || typeof m.PathOnHost !== 'string' || !m.PathOnHost) throw invalid('invalid device mapping: PathOnHost is required');
    const host = m.PathOnHost;
    const inside = m.PathInContainer || host;
    if (!path.isAbsolute(inside)) throw invalid(`${inside} is not an absolute path`);
    const access = permissions(m.CgroupPermissions, host);
    let st: import('node:fs').BigIntStats;
    try {
      st = await fs.stat(host, { bigint: true });
    } catch (err) {
      throw gatherError(host, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message);
    }
    let found: OciDevice[];
    if (st.isDirectory()) {
      // A directory is walked for its device nodes: only under /dev (a request naming / or /proc would walk the host).
      const real = await fs.realpath(host);
      if (real !== '/dev' && !real.startsWith('/dev/')) throw gatherError(host, 'a directory of devices must be under /dev');
      found = (await hostDevices(host)).map((d) => ({ ...d, path: path.posix.join(inside, path.relative(host, d.path)) }));
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      found = [deviceFromStat(inside, st)];
    } else {
      throw gatherError(host, 'not a device node');
    }
    for (const d of found) {
      out.devices.push(d);
      out.rules.push({ allow: true, type: d.type === 'b' ? 'b' : 'c', major: d.major, minor: d.minor, access });
    }
  }
  return out;
}

/** HostConfig.DeviceCgroupRules: "c 1:3 rwm", "b 8:* r", "a *:* m". */
export function deviceCgroupRules(list: string[] | null | undefined): OciDeviceRule[] {
  return (list ?? []).map((text) => {
    const m = /^([acb]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$/.exec(String(text).trim());
    if (!m) throw invalid(`invalid device cgroup rule format: '${text}'`);
    const rule: OciDeviceRule = { allow: true, type: m[1] as 'a' | 'c' | 'b', access: m[4] };
    if (m[2] !== '*') rule.major = Number(m[2]);
    if (m[3] !== '*') rule.minor = Number(m[3]);
    return rule;
  });
}

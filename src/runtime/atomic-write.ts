// Bundle files the daemon rewrites (config.json, berth.json) are replaced by
// rename, so that a daemon killed mid-write leaves the old file or the new
// one, never a truncated one.
import { promises as fs } from 'node:fs';

export async function writeFileAtomic(file: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, data, { mode });
  await fs.rename(tmp, file);
}

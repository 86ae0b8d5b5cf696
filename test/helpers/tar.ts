// Reading the tar archives the API hands out (docker cp, save, export) in tests.
import tar from 'tar-stream';

export interface TarEntry {
  header: tar.Headers & { pax?: Record<string, string> };
  body: Buffer;
}

/** Every entry of a tar, in order, with its body. */
export async function tarEntries(buf: Buffer): Promise<TarEntry[]> {
  const ex = tar.extract();
  const out: TarEntry[] = [];
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.push({ header: e.header, body: Buffer.concat(chunks) });
    }
  })();
  ex.end(buf);
  await done;
  return out;
}

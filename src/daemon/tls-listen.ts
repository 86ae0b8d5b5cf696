// TCP listeners of the API. Plain TCP would hand root on this machine to
// anyone who can reach the port, so a TCP address is served only over TLS
// with client certificates verified against a CA (Docker's --tlsverify);
// --insecure-tcp (tests only) is the one way to get plain HTTP.
import { readFileSync } from 'node:fs';

export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** "host:port" from --tls-listen or "tcp://host:port" from -H; IPv6 in brackets. */
export function tcpAddress(value: string, flag: string): { host: string; port: number } {
  const bare = value.replace(/^tcp:\/\//, '');
  const m = /^(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(bare);
  if (!m || Number(m[2]) > 65535) throw new Error(`${flag} must be host:port (got ${value})`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** -H values: only tcp:// is a listener here (the unix socket is --socket). */
export function hostListeners(hosts: string[]): string[] {
  return hosts.map((h) => {
    if (!h.startsWith('tcp://')) throw new Error(`-H ${h}: only tcp://host:port is supported (the unix socket is --socket)`);
    return h;
  });
}

/** Refuses TCP listeners that lack any of the TLS files: nothing starts without client verification. */
export function checkTlsListeners(listen: string[], files: TlsFiles): void {
  if (!listen.length) return;
  const missing = (['cert', 'key', 'ca'] as const).filter((k) => !files[k]).map((k) => (k === 'ca' ? '--tlscacert' : `--tls${k}`));
  if (missing.length) {
    throw new Error(
      `refusing to listen on ${listen.join(', ')} without TLS client verification: give ${missing.join(', ')} ` +
        '(--insecure-tcp host:port serves plain HTTP without any authentication, for tests only)',
    );
  }
  for (const l of listen) tcpAddress(l, '--tls-listen');
}

export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const read = (file: string | undefined, flag: string) => {
    try {
      return readFileSync(file!);
    } catch (err) {
      throw new Error(`${flag} ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read(files.cert, '--tlscert'), key: read(files.key, '--tlskey'), ca: read(files.ca, '--tlscacert') };
}

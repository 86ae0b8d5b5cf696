// WWW-Authenticate challenges (RFC 7235) as registries send them:
//   Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"
//   Basic realm="Registry Realm"
export interface Challenge {
  scheme: string; // lower case: "bearer", "basic"
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  for (const h of Array.isArray(header) ? header : [header]) {
    let rest = h.trim();
    while (rest) {
      const scheme = /^([A-Za-z][\w!#$%&'*+.^`|~-]*)\s*/.exec(rest);
      if (!scheme) break;
      rest = rest.slice(scheme[0].length);
      const params: Record<string, string> = {};
      for (;;) {
        const m = /^([\w!#$%&'*+.^`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/.exec(rest);
        if (!m) break;
        // A token followed by "=" belongs to this challenge; a bare token starts the next one.
        params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
        rest = rest.slice(m[0].length);
      }
      out.push({ scheme: scheme[1].toLowerCase(), params });
      rest = rest.replace(/^,\s*/, '');
    }
  }
  return out;
}

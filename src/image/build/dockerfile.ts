// Dockerfile -> build stages, with the maintained dockerfile-ast parser doing
// the lexing (line continuations, escape directive, comments, flags). What is
// left here is Docker's structure: ARGs before the first FROM are global,
// every FROM opens a stage, unknown instructions are refused up front.
import { DockerfileParser } from 'dockerfile-ast';
import { invalid } from '../../core/errors.ts';

export interface Instruction {
  /** Upper case: "RUN", "COPY", ... */
  keyword: string;
  /** The arguments without flags, continuation lines joined. */
  args: string;
  flags: Map<string, string>;
  /** As the "Step n/m" line shows it. */
  text: string;
  /** 1-based. */
  line: number;
  /** Here-documents (`RUN <<EOF`, `COPY <<EOF /dest`), in the order the first line names them. */
  heredocs: Heredoc[];
  /** With heredocs: the first line alone (continuations joined), without the documents. */
  head: string;
}

export interface Heredoc {
  name: string;
  /** The document's lines, each ending in "\n" (leading tabs gone for <<-). */
  content: string;
  /** Unquoted delimiter: $VAR in the content is expanded (quoted 'EOF' or "EOF" keeps it literal). */
  expand: boolean;
}

const HEREDOC_KEYWORDS = new Set(['RUN', 'COPY', 'ADD']);
const HEREDOC_MARK = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

/** Splits raw arguments into the first line and its here-documents (none: undefined). */
function splitHeredocs(raw: string, escape: string): { head: string; rest: string; heredocs: Heredoc[] } | undefined {
  const lines = raw.split(/\r?\n/);
  let i = 0;
  let head = lines[0];
  while (head.endsWith(escape) && i + 1 < lines.length) head = head.slice(0, -escape.length) + lines[++i];
  const marks = [...head.matchAll(HEREDOC_MARK)];
  if (marks.length === 0) return undefined;
  const rest = lines.slice(i + 1);
  const heredocs: Heredoc[] = [];
  let at = 0;
  for (const m of marks) {
    const strip = m[1] === '-';
    const body: string[] = [];
    while (at < rest.length) {
      const line = strip ? rest[at].replace(/^\t+/, '') : rest[at];
      at++;
      if (line === m[3]) break;
      body.push(line);
    }
    heredocs.push({ name: m[3], content: body.map((l) => l + '\n').join(''), expand: m[2] === '' });
  }
  return { head, rest: rest.join('\n'), heredocs };
}

export interface Stage {
  /** Lower-cased "AS name", or "" */
  name: string;
  from: Instruction;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  globalArgs: Instruction[];
  stages: Stage[];
}

const KNOWN = new Set([
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER',
  'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
]);

/** Instructions of one text (a Dockerfile, or an ONBUILD trigger line). */
export function parseInstructions(text: string): Instruction[] {
  const df = DockerfileParser.parse(text);
  return df.getInstructions().map((ins) => {
    const keyword = ins.getKeyword().toUpperCase();
    const line = ins.getRange().start.line + 1;
    if (!KNOWN.has(keyword)) throw invalid(`dockerfile parse error line ${line}: unknown instruction: ${ins.getInstruction()}`);
    const flags = new Map<string, string>();
    const withFlags = ins as unknown as { getFlags?: () => { getName(): string; getValue(): string | null }[] };
    for (const f of withFlags.getFlags?.() ?? []) flags.set(f.getName().toLowerCase(), f.getValue() ?? '');
    // Docker keeps backslashes inside a line; only escape + newline joins lines.
    const escape = df.getEscapeCharacter();
    const raw = ins.getRawArgumentsContent() ?? '';
    const docs = HEREDOC_KEYWORDS.has(keyword) ? splitHeredocs(raw, escape) : undefined;
    // A here-document's body is kept as written: the shell (or the file) gets it verbatim.
    const args = docs ? `${docs.head}\n${docs.rest}` : raw.split(`${escape}\n`).join('').split(`${escape}\r\n`).join('');
    const text = `${ins.getInstruction()} ${[...flags].map(([k, v]) => `--${k}=${v} `).join('')}${docs ? docs.head : args}`.trim();
    return { keyword, args, flags, text, line, heredocs: docs?.heredocs ?? [], head: docs?.head ?? args };
  });
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const all = parseInstructions(text);
  if (all.length === 0) throw invalid('the Dockerfile cannot be empty');
  const out: ParsedDockerfile = { globalArgs: [], stages: [] };
  for (const ins of all) {
    if (ins.keyword === 'FROM') {
      const parts = ins.args.trim().split(/\s+/);
      let name = '';
      if (parts.length === 3 && parts[1].toLowerCase() === 'as') name = parts[2].toLowerCase();
      else if (parts.length !== 1 || parts[0] === '') throw invalid(`dockerfile parse error line ${ins.line}: FROM requires either one or three arguments`);
      if (name && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw invalid(`invalid name for build stage: "${name}", name can't start with a number or contain symbols`);
      if (name && out.stages.some((s) => s.name === name)) throw invalid(`duplicate name ${name}`);
      out.stages.push({ name, from: ins, instructions: [] });
    } else if (out.stages.length === 0) {
      if (ins.keyword !== 'ARG') throw invalid(`dockerfile parse error line ${ins.line}: no build stage in current context`);
      out.globalArgs.push(ins);
    } else {
      out.stages[out.stages.length - 1].instructions.push(ins);
    }
  }
  if (out.stages.length === 0) throw invalid('no build stage in current context');
  return out;
}

/** A JSON array of strings (exec form), or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  const t = args.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  } catch {
    // shell form that happens to start with "["
  }
  return undefined;
}

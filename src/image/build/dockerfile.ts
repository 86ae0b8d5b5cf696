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
    const args = raw.split(`${escape}\n`).join('').split(`${escape}\r\n`).join('');
    return { keyword, args, flags, text: `${ins.getInstruction()} ${[...flags].map(([k, v]) => `--${k}=${v} `).join('')}${args}`.trim(), line };
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

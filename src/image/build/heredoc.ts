// Here-documents in RUN and COPY/ADD, as Dockerfile syntax defines them (the
// classic builder of Docker Engine ignores them; users write them anyway).
import type { Instruction } from './dockerfile.ts';
import { execForm } from './dockerfile.ts';

/**
 * The command of a RUN step. `RUN <<EOF` alone runs the document as the
 * script (through its #! interpreter, fed on stdin, when it has one); a
 * document used by a command (`RUN python3 <<EOF`) goes to the shell with
 * the whole text, which reads the document itself.
 */
export function runCommand(ins: Instruction, shell: string[]): string[] {
  if (ins.heredocs.length === 0) return execForm(ins.args) ?? [...shell, ins.args];
  const only = ins.heredocs.length === 1 && /^<<-?(["']?)[A-Za-z_][A-Za-z0-9_]*\1$/.test(ins.head.trim());
  if (!only) return [...shell, ins.args];
  // $VAR is left to the shell at run time, as for any RUN (ARGs are in its environment).
  const doc = ins.heredocs[0];
  const script = doc.content;
  const shebang = /^#!([^\n]*)\n/.exec(script);
  if (!shebang) return [...shell, script];
  const end = `BERTH_HEREDOC_${doc.name}`;
  return [...shell, `${shebang[1].trim()} <<'${end}'\n${script}${end}\n`];
}

/** COPY <<EOF with an unquoted delimiter: $VAR and ${VAR} from the build's ARG/ENV values (unset ones become ""); \$ stays a "$". */
export function expandHeredoc(text: string, env: Map<string, string>): string {
  return text.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a?: string, b?: string) => {
    if (m === '\\$') return '$';
    return env.get((a ?? b)!) ?? '';
  });
}

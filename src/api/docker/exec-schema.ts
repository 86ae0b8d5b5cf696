// Schema of an exec create body: a wrong type is a 400 naming the field
// (a non-string DetachKeys used to reach the parser and fail as a 500).
// Unknown fields are ignored, as Docker does.
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { invalid } from '../../core/errors.ts';

const Opt = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
const Str = Type.String();
const Bool = Type.Boolean();

const ExecCreate = Type.Object({
  AttachStdin: Opt(Bool),
  AttachStdout: Opt(Bool),
  AttachStderr: Opt(Bool),
  ConsoleSize: Opt(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 2, maxItems: 2 })),
  DetachKeys: Opt(Str),
  Tty: Opt(Bool),
  Env: Opt(Type.Array(Str)),
  Cmd: Opt(Type.Array(Str)),
  Privileged: Opt(Bool),
  User: Opt(Str),
  WorkingDir: Opt(Str),
});

export function checkExecCreate(body: unknown): void {
  const first = Value.Errors(ExecCreate, body).First();
  if (first) {
    const field = first.path.replace(/^\//, '').replace(/\//g, '.') || 'body';
    throw invalid(`invalid value for ${field}: ${first.message}`);
  }
}

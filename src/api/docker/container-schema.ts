// Schema of a container create request: types are checked at the edge so that
// a wrong type is a 400 naming the field, never a failure deep inside.
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { invalid } from '../../core/errors.ts';

const Str = Type.String();
const Bool = Type.Boolean();
const Int = Type.Integer();
const StrList = Type.Union([Type.Array(Str), Type.Null()]);
/** Docker's strslice: a list or a single string. */
const Command = Type.Union([Type.Array(Str), Str, Type.Null()]);
const StrMap = Type.Union([Type.Record(Str, Str), Type.Null()]);
const Opt = <T extends TSchema>(t: T) => Type.Optional(t);

const ConfigFields = {
  Hostname: Opt(Str),
  Domainname: Opt(Str),
  User: Opt(Str),
  AttachStdin: Opt(Bool),
  AttachStdout: Opt(Bool),
  AttachStderr: Opt(Bool),
  ExposedPorts: Opt(Type.Union([Type.Record(Str, Type.Any()), Type.Null()])),
  Tty: Opt(Bool),
  OpenStdin: Opt(Bool),
  StdinOnce: Opt(Bool),
  Env: Opt(StrList),
  Cmd: Opt(Command),
  Image: Opt(Str),
  Volumes: Opt(Type.Union([Type.Record(Str, Type.Any()), Type.Null()])),
  WorkingDir: Opt(Str),
  Entrypoint: Opt(Command),
  NetworkDisabled: Opt(Bool),
  Labels: Opt(StrMap),
  StopSignal: Opt(Str),
  StopTimeout: Opt(Type.Union([Int, Type.Null()])),
};

const HostConfigSchema = Type.Object({
  Binds: Opt(StrList),
  LogConfig: Opt(Type.Object({ Type: Opt(Str), Config: Opt(StrMap) })),
  NetworkMode: Opt(Str),
  RestartPolicy: Opt(Type.Object({ Name: Opt(Str), MaximumRetryCount: Opt(Int) })),
  AutoRemove: Opt(Bool),
  CapAdd: Opt(StrList),
  CapDrop: Opt(StrList),
  Privileged: Opt(Bool),
  ReadonlyRootfs: Opt(Bool),
  SecurityOpt: Opt(StrList),
  Runtime: Opt(Str),
  Memory: Opt(Int),
  MemorySwap: Opt(Int),
  MemoryReservation: Opt(Int),
  NanoCpus: Opt(Int),
  CpuShares: Opt(Int),
  CpuPeriod: Opt(Int),
  CpuQuota: Opt(Int),
  PidsLimit: Opt(Type.Union([Int, Type.Null()])),
  Ulimits: Opt(Type.Union([Type.Array(Type.Object({ Name: Str, Soft: Int, Hard: Int })), Type.Null()])),
  ShmSize: Opt(Int),
  Init: Opt(Type.Union([Bool, Type.Null()])),
});

export const CreateBody = Type.Object({
  ...ConfigFields,
  HostConfig: Opt(HostConfigSchema),
  NetworkingConfig: Opt(Type.Any()),
});

/** Throws a 400 that names the first offending field. */
export function checkCreateBody(body: unknown): void {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('container config must be a JSON object');
  }
  // null HostConfig means "none given"; dropping it keeps error paths precise.
  if ((body as Record<string, unknown>).HostConfig === null) delete (body as Record<string, unknown>).HostConfig;
  const first = Value.Errors(CreateBody, body).First();
  if (first) {
    const field = first.path.replace(/^\//, '').replace(/\//g, '.') || 'body';
    throw invalid(`invalid value for ${field}: ${first.message}`);
  }
}

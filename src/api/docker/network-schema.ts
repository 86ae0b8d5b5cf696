// Schemas of the network create/connect/disconnect bodies: a wrong type is a
// 400 naming the field at the edge, never a failure (or a 500) deeper down.
// Unknown fields are ignored, as Docker does.
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { invalid } from '../../core/errors.ts';

const Str = Type.String();
const Bool = Type.Boolean();
const Opt = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
const StrMap = Type.Record(Str, Str);

const EndpointConfig = Type.Object({
  Aliases: Opt(Type.Array(Str)),
  IPAMConfig: Opt(Type.Object({ IPv4Address: Opt(Str), IPv6Address: Opt(Str) })),
});

const CreateBody = Type.Object({
  Name: Str,
  Driver: Opt(Str),
  Scope: Opt(Str),
  Internal: Opt(Bool),
  Attachable: Opt(Bool),
  Ingress: Opt(Bool),
  EnableIPv4: Opt(Bool),
  EnableIPv6: Opt(Bool),
  CheckDuplicate: Opt(Bool),
  IPAM: Opt(
    Type.Object({
      Driver: Opt(Str),
      Config: Opt(Type.Array(Type.Object({ Subnet: Opt(Str), Gateway: Opt(Str), IPRange: Opt(Str), AuxiliaryAddresses: Opt(StrMap) }))),
      Options: Opt(StrMap),
    }),
  ),
  Options: Opt(StrMap),
  Labels: Opt(StrMap),
});

const ConnectBody = Type.Object({ Container: Str, EndpointConfig: Opt(EndpointConfig) });
const DisconnectBody = Type.Object({ Container: Str, Force: Opt(Bool) });

function check(schema: TSchema, body: unknown, what: string): void {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid(`${what} must be a JSON object`);
  const first = Value.Errors(schema, body).First();
  if (first) {
    const field = first.path.replace(/^\//, '').replace(/\//g, '.') || 'body';
    throw invalid(`invalid value for ${field}: ${first.message}`);
  }
}

export const checkNetworkCreate = (body: unknown) => check(CreateBody, body, 'network create request');
export const checkNetworkConnect = (body: unknown) => check(ConnectBody, body, 'network connect request');
export const checkNetworkDisconnect = (body: unknown) => check(DisconnectBody, body, 'network disconnect request');

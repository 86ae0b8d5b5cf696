// The DNS messages the embedded server reads and writes, through dns-packet
// (a maintained RFC 1035 codec): the question of a query, and an answer of A
// records or an error code.
import dnsPacket from 'dns-packet';

export interface Question {
  id: number;
  /** Lower case, without the trailing dot. */
  name: string;
  type: string;
  recursionDesired: boolean;
}

export const TYPE_A = 'A';
export const RCODE_NXDOMAIN = 'NXDOMAIN';
export const RCODE_SERVFAIL = 'SERVFAIL';

const RECURSION_DESIRED = 1 << 8;
/** dns-packet reads rcode on decode only: on encode it travels in the flags' low bits. */
const RCODE_BITS = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

/** The single question of a query, or undefined for anything else (responses, garbage). */
export function parseQuestion(msg: Buffer): Question | undefined {
  let packet: dnsPacket.Packet;
  try {
    packet = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  const q = packet.questions?.[0];
  if (packet.type !== 'query' || packet.questions?.length !== 1 || !q) return undefined;
  return {
    id: packet.id ?? 0,
    name: q.name.toLowerCase().replace(/\.$/, ''),
    type: q.type,
    recursionDesired: ((packet.flags ?? 0) & RECURSION_DESIRED) !== 0,
  };
}

/** An authoritative answer with the given IPv4 addresses (none: NOERROR with no data, or rcode). */
export function answer(q: Question, ips: string[], rcode: 'NOERROR' | typeof RCODE_NXDOMAIN | typeof RCODE_SERVFAIL = 'NOERROR', ttl = 600): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags:
      dnsPacket.AUTHORITATIVE_ANSWER |
      dnsPacket.RECURSION_AVAILABLE |
      (q.recursionDesired ? dnsPacket.RECURSION_DESIRED : 0) |
      RCODE_BITS[rcode],
    questions: [{ type: q.type as dnsPacket.RecordType, name: q.name, class: 'IN' }],
    answers: ips.map((data) => ({ type: 'A' as const, name: q.name, ttl, class: 'IN' as const, data })),
  } as dnsPacket.Packet);
}

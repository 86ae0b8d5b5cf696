import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NetworkSpec } from '../agent/agent-api.ts';
import { renderRules } from './firewall.ts';

const net = (name: string, subnet: string, over: Partial<NetworkSpec> = {}): NetworkSpec => ({
  id: name,
  name,
  bridge: `tt-${name}`,
  subnet,
  gateway: subnet.replace(/0\/\d+$/, '1'),
  internal: false,
  mtu: 1500,
  masquerade: true,
  dns: true,
  ...over,
});

/** The rules of one table that mention a bridge or subnet, in order. */
const rulesOf = (text: string, needle: string) => text.split('\n').filter((l) => l.startsWith('-A') && l.includes(needle));

test('outbound MASQUERADE only for networks that allow it; internal networks get no way out', () => {
  const nat = net('nat', '10.1.0.0/24');
  const plain = net('plain', '10.2.0.0/24', { masquerade: false });
  const internal = net('int', '10.3.0.0/24', { internal: true, masquerade: true });
  const text = renderRules('tt', [nat, plain, internal], []);
  const masq = (n: NetworkSpec) => `-A TT-POSTROUTING -s ${n.subnet} ! -o ${n.bridge} -j MASQUERADE`;
  assert.ok(text.includes(masq(nat)));
  assert.ok(!text.includes(masq(plain)));
  assert.ok(!text.includes(masq(internal)));
  // A network without NAT still forwards out (routed); an internal one drops both ways.
  assert.ok(rulesOf(text, plain.bridge).includes(`-A TT-FORWARD -i ${plain.bridge} ! -o ${plain.bridge} -j ACCEPT`));
  assert.deepEqual(rulesOf(text, internal.bridge).filter((l) => l.startsWith('-A TT-FORWARD') && l.endsWith('DROP')), [
    `-A TT-FORWARD -i ${internal.bridge} ! -o ${internal.bridge} -j DROP`,
    `-A TT-FORWARD -o ${internal.bridge} ! -i ${internal.bridge} -j DROP`,
  ]);
  assert.ok(!rulesOf(text, internal.bridge).some((l) => l.includes(`-i ${internal.bridge} ! -o ${internal.bridge} -j ACCEPT`)));
});

test('a published port is a DNAT for loopback and other host addresses, with the hairpin MASQUERADE', () => {
  const n = net('web', '10.4.0.0/24');
  const text = renderRules('tt', [n], [{ proto: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, containerIp: '10.4.0.2' }]);
  assert.ok(text.includes('-A TT-DNAT -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.4.0.2:80'));
  assert.ok(text.includes(`-A TT-POSTROUTING -o ${n.bridge} -m addrtype --src-type LOCAL -j MASQUERADE`));
  assert.ok(text.includes('-A TT-POSTROUTING -s 10.4.0.2/32 -d 10.4.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE'));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { answer, parseQuestion, RCODE_NXDOMAIN } from './dns-wire.ts';

const query = (name: string, type: dnsPacket.RecordType = 'A') =>
  dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });

test('reads the question of a query and answers with A records', () => {
  const q = parseQuestion(query('Web.Example'));
  assert.deepEqual(q, { id: 4242, name: 'web.example', type: 'A', recursionDesired: true });
  const reply = dnsPacket.decode(answer(q!, ['10.1.0.2', '10.1.0.3']));
  assert.equal(reply.id, 4242);
  assert.equal(reply.type, 'response');
  assert.deepEqual(reply.answers?.map((a) => (a as { data: string }).data), ['10.1.0.2', '10.1.0.3']);
  assert.equal((reply as { rcode?: string }).rcode, 'NOERROR');
});

test('an error code travels in the reply', () => {
  const reply = dnsPacket.decode(answer(parseQuestion(query('nope'))!, [], RCODE_NXDOMAIN));
  assert.equal((reply as { rcode?: string }).rcode, 'NXDOMAIN');
  assert.equal(reply.answers?.length, 0);
});

test('responses and garbage are not questions', () => {
  assert.equal(parseQuestion(Buffer.from('hello')), undefined);
  assert.equal(parseQuestion(answer(parseQuestion(query('x'))!, ['1.2.3.4'])), undefined);
});

// cloudevents_client.js <gateway-url> <brokers> <topic>: the CloudEvents JavaScript SDK (the npm
// package cloudevents) against the gateway. Events sent with the SDK's HTTP binary mode (JSON,
// text and bytes data, an extension with characters that need percent-encoding) and structured
// mode are accepted (202); binary mode with a body that is not the JSON its Content-Type claims,
// or without ce-type, is refused (400 naming the problem). Then the records the gateway produced
// are read with kcat and decoded with the SDK's Kafka binding: each is recognised as a
// structured-mode CloudEvent by its content-type header and carries what was sent.
'use strict';
const assert = require('assert');
const { execFileSync } = require('child_process');
const { CloudEvent, HTTP, Kafka } = require('cloudevents');

const [gateway, brokers, topic] = process.argv.slice(2);
const tag = `${process.pid}-${Date.now()}`;

async function post(message) {
  const res = await fetch(`${gateway}/events`, {
    method: 'POST', headers: message.headers, body: message.body,
  });
  return { status: res.status, body: await res.json() };
}

// Records of the topic as kcat -J prints them, until every id is there (at most 20 s).
function records(ids) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const out = execFileSync('kcat', ['-b', brokers, '-C', '-t', topic, '-J', '-e', '-q'],
      { encoding: 'utf8', maxBuffer: 64 << 20 });
    const found = new Map();
    for (const line of out.split('\n').filter(Boolean)) {
      const r = JSON.parse(line);
      const headers = {};
      for (let i = 0; i + 1 < (r.headers || []).length; i += 2) headers[r.headers[i]] = r.headers[i + 1];
      const id = JSON.parse(r.payload).id;
      if (ids.includes(id)) found.set(id, { key: r.key, value: r.payload, headers, timestamp: String(r.ts) });
    }
    if (found.size === ids.length || Date.now() > deadline) return found;
    execFileSync('sleep', ['0.2']);
  }
}

async function main() {
  const sent = [
    new CloudEvent({ id: `bin-json-${tag}`, type: 'order.created', source: '/shop', subject: 'o-1',
      datacontenttype: 'application/json', data: { n: 1, name: 'é "quoted"' }, myext: 'a b%c "d" é' }),
    new CloudEvent({ id: `bin-text-${tag}`, type: 'note.added', source: '/notes',
      datacontenttype: 'text/plain', data: 'hello, world' }),
    new CloudEvent({ id: `bin-bytes-${tag}`, type: 'blob.stored', source: '/blobs',
      datacontenttype: 'application/octet-stream', data: new Uint8Array([0, 1, 2, 255]) }),
  ];
  for (const ev of sent) {
    const r = await post(HTTP.binary(ev));
    assert.strictEqual(r.status, 202, `binary mode ${ev.id}: ${JSON.stringify(r.body)}`);
    assert.strictEqual(r.body.id, ev.id);
  }
  const structured = new CloudEvent({ id: `structured-${tag}`, type: 'order.created', source: '/shop',
    data: { n: 2 } });
  let r = await post(HTTP.structured(structured));
  assert.strictEqual(r.status, 202, `structured mode: ${JSON.stringify(r.body)}`);

  const bad = HTTP.binary(new CloudEvent({ id: `bad-${tag}`, type: 't', source: '/s',
    datacontenttype: 'application/json', data: { n: 1 } }));
  r = await post({ headers: bad.headers, body: '{"n": ' });
  assert.strictEqual(r.status, 400, 'a body that is not JSON');
  assert.match(r.body.message, /not valid JSON/);
  const untyped = { ...bad.headers };
  delete untyped['ce-type'];
  r = await post({ headers: untyped, body: '{"n": 1}' });
  assert.strictEqual(r.status, 400, `binary mode without ce-type: ${JSON.stringify(r.body)}`);
  assert.match(JSON.stringify(r.body), /type/);

  const ids = [...sent.map((e) => e.id), structured.id];
  const found = records(ids);
  assert.strictEqual(found.size, ids.length, `records found: ${[...found.keys()]}`);
  for (const ev of [...sent, structured]) {
    const msg = found.get(ev.id);
    assert.ok(msg.headers['content-type'].startsWith('application/cloudevents+json'),
      `content-type header: ${msg.headers['content-type']}`);
    assert.ok(Kafka.isEvent(msg), `${ev.id} is a CloudEvent to the SDK`);
    const got = Kafka.toEvent(msg);
    assert.strictEqual(got.id, ev.id);
    assert.strictEqual(got.type, ev.type);
    assert.strictEqual(got.source, ev.source);
    assert.strictEqual(got.specversion, '1.0');
    if (ev.datacontenttype === 'application/octet-stream') {
      assert.strictEqual(got.data_base64, Buffer.from(ev.data).toString('base64'));
    } else {
      assert.deepStrictEqual(got.data, ev.data);
    }
    if (ev.datacontenttype) assert.strictEqual(got.datacontenttype, ev.datacontenttype);
    if (ev.myext) assert.strictEqual(got.myext, ev.myext, 'a percent-encoded extension');
    if (ev.subject) assert.strictEqual(got.subject, ev.subject);
    assert.ok(got.traceparent, 'the gateway added its traceparent');
  }
  console.log(`cloudevents client: ok (${ids.length} events through HTTP and Kafka bindings)`);
}

main().catch((err) => {
  console.error('cloudevents client:', err && err.stack ? err.stack : err);
  process.exit(1);
});

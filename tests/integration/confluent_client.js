// A Confluent-protocol client (@kafkajs/confluent-schema-registry from the npm registry) against
// our registry: register, look up, evolve, encode/decode in the wire format, refuse an
// incompatible schema, JSON Schema, deletes, and Basic authentication (REGISTRY_USER_INFO, as
// basic.auth.user.info): a client without credentials is refused with 401. Exits nonzero on the first difference.
'use strict';
const assert = require('assert');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const url = process.env.REGISTRY_URL;
// basic.auth.user.info, as Confluent clients take it
const [username, password] = process.env.REGISTRY_USER_INFO.split(/:(.*)/s);
const registry = new SchemaRegistry({ host: url, auth: { username, password } });
const authHeader = { Authorization: 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64') };
const subject = `client-${process.pid}-value`;
const plain = (v) => JSON.parse(JSON.stringify(v)); // avsc decodes into record classes

async function main() {
  const anonymous = new SchemaRegistry({ host: url });
  await assert.rejects(anonymous.getLatestSchemaId('anything-value'), (err) => err.status === 401,
    'a client without credentials is refused with 401');
  const res401 = await fetch(`${url}/subjects`);
  assert.strictEqual(res401.status, 401);
  assert.strictEqual((await res401.json()).error_code, 40101);
  const v1 = { type: 'record', name: 'User', namespace: 'it', fields: [{ name: 'id', type: 'long' }] };
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
  assert.ok(id > 0);
  const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
  assert.strictEqual(again.id, id, 'same schema, same id');

  const buf = await registry.encode(id, { id: 42 });
  assert.strictEqual(buf[0], 0, 'magic byte');
  assert.strictEqual(buf.readInt32BE(1), id, 'schema id in the wire format');
  assert.deepStrictEqual(plain(await registry.decode(buf)), { id: 42 });

  const v2 = { ...v1, fields: [...v1.fields, { name: 'name', type: 'string', default: '' }] };
  const r2 = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject });
  assert.notStrictEqual(r2.id, id, 'an evolved schema gets a new id');
  assert.strictEqual(await registry.getLatestSchemaId(subject), r2.id);
  assert.strictEqual(await registry.getRegistryId(subject, 1), id);
  assert.strictEqual(
    await registry.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(v2) }),
    r2.id, 'lookup by schema');
  const old = await registry.decode(buf);
  assert.deepStrictEqual(plain(old), { id: 42 }, 'data written with v1 still decodes');

  const bad = { ...v1, fields: [...v1.fields, { name: 'age', type: 'int' }] };
  await assert.rejects(
    registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(bad) }, { subject }),
    (err) => /incompatible/i.test(err.message) || err.status === 409,
    'an incompatible schema is refused');

  const jsonSubject = `client-${process.pid}-json`;
  const js = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] };
  const j = await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(js) }, { subject: jsonSubject });
  const jbuf = await registry.encode(j.id, { n: 7 });
  assert.deepStrictEqual(plain(await registry.decode(jbuf)), { n: 7 });
  const fetched = await registry.getSchema(j.id);
  assert.ok(fetched, 'JSON schema by id');

  let res = await fetch(`${url}/subjects/${subject}`, { method: 'DELETE', headers: authHeader });
  assert.strictEqual(res.status, 200);
  assert.deepStrictEqual(await res.json(), [1, 2]);
  res = await fetch(`${url}/subjects/${subject}?permanent=true`, { method: 'DELETE', headers: authHeader });
  assert.strictEqual(res.status, 200);
  res = await fetch(`${url}/subjects/${subject}/versions`, { headers: authHeader });
  assert.strictEqual(res.status, 404);
  assert.strictEqual((await res.json()).error_code, 40401);
  console.log('confluent client: ok');
}

main().catch((err) => {
  console.error('confluent client:', err && err.stack ? err.stack : err);
  process.exit(1);
});

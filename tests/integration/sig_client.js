// sig_client.js <gateway-a> <gateway-b> <brokers> <topic> <work-dir>: producer signatures
// against two gateway instances sharing one PostgreSQL. Keys are made with OpenSSL's command line
// (test_gateway_signatures.sh) and registered through instance A's /keys API; events are
// canonicalized here (RFC 8785 by Node's own JSON.stringify and UTF-16 sort, independent of the
// gateway's C code) and signed with Node's crypto (Ed25519, P-256 as r||s) and with OpenSSL's
// command line (P-256 as DER). Checks: valid signatures accepted on both instances and marked
// sigverified on Kafka; a required source refuses unsigned, tampered, unknown-key, other-source
// and revoked signatures (401 naming sigkeyid or signature); an optional source takes unsigned
// events; a client cannot set sigverified itself; a batch answers per event; several keys are
// active at once (rotation); a deleted key is unknown; bad key documents are 422.
'use strict';
const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const [gwA, gwB, brokers, topic, work] = process.argv.slice(2);
const token = fs.readFileSync(path.join(work, 'token'), 'utf8').trim();
const admin = fs.readFileSync(path.join(work, 'admin-token'), 'utf8').trim();
const pem = (name) => fs.readFileSync(path.join(work, name), 'utf8');
const tag = `${process.pid}`;

function canonical(v) {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

function signed(event, keyid, keyFile, how) {
  const ev = { ...event, sigkeyid: keyid };
  const bytes = Buffer.from(canonical(ev));
  let sig;
  if (how === 'openssl-der') { // OpenSSL's command line: DER ECDSA over SHA-256
    const msg = path.join(work, 'msg.bin');
    fs.writeFileSync(msg, bytes);
    sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', path.join(work, keyFile), msg]);
  } else {
    const key = crypto.createPrivateKey(pem(keyFile));
    sig = key.asymmetricKeyType === 'ed25519'
      ? crypto.sign(null, bytes, key)
      : crypto.sign('sha256', bytes, { key, dsaEncoding: 'ieee-p1363' });
  }
  return { ...ev, signature: sig.toString('base64url') };
}

async function call(base, method, p, body, auth = token) {
  const res = await fetch(base + p, {
    method, headers: { Authorization: `Bearer ${auth}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// Retries fn(attempt) for up to 10 s; each attempt sends a new event id, since the gateway
// answers a repeated id as it answered it the first time (idempotency keys in Redis).
async function until(what, fn) {
  const deadline = Date.now() + 10000;
  for (let attempt = 0; ; attempt++) {
    const r = await fn(attempt);
    if (r.ok) return r;
    if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(r)}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

function records(ids) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const out = execFileSync('kcat', ['-b', brokers, '-C', '-t', topic, '-e', '-q'],
      { encoding: 'utf8', maxBuffer: 64 << 20 });
    const found = new Map();
    for (const line of out.split('\n').filter(Boolean)) {
      const ev = JSON.parse(line);
      if (ids.includes(ev.id)) found.set(ev.id, ev);
    }
    if (found.size === ids.length || Date.now() > deadline) return found;
    execFileSync('sleep', ['0.2']);
  }
}

async function main() {
  // keys: bad documents first
  let r = await call(gwA, 'PUT', '/keys/bad', { tenant: 'acme', source: '/shop', public_key: pem('rsa.pub.pem') }, admin);
  assert.strictEqual(r.status, 422, JSON.stringify(r.body));
  assert.match(r.body.message, /public_key/);
  r = await call(gwA, 'PUT', '/keys/bad', { tenant: 'acme', source: '/shop', public_key: pem('ed.pub.pem'), extra: 1 }, admin);
  assert.strictEqual(r.status, 422);
  assert.match(r.body.message, /extra/);
  // a hostile member name is cut short in the message, which keeps its reason
  r = await call(gwA, 'PUT', '/keys/bad', { tenant: 'acme', source: '/shop', public_key: pem('ed.pub.pem'), ['\u00e9'.repeat(400)]: 1 }, admin);
  assert.strictEqual(r.status, 422);
  assert.match(r.body.message, /: \u00e9{32}\.\.\.: unknown member \(tenant/);
  r = await call(gwA, 'PUT', '/keys/bad', { tenant: 'acme', source: '/shop', public_key: pem('ed.pub.pem') }, token);
  assert.strictEqual(r.status, 403, 'the keys API needs the admin scope');
  const keys = {
    'shop-ed': { tenant: 'acme', source: '/shop', public_key: pem('ed.pub.pem'), require: true },
    'shop-p256': { tenant: 'acme', source: '/shop', public_key: pem('p256.pub.pem') },
    'web-ed': { tenant: 'acme', source: '/web', public_key: pem('ed2.pub.pem') },
  };
  for (const [id, doc] of Object.entries(keys)) {
    r = await call(gwA, 'PUT', `/keys/${id}`, doc, admin);
    assert.ok(r.status === 200 || r.status === 201, `PUT /keys/${id}: ${JSON.stringify(r.body)}`);
  }
  r = await call(gwA, 'GET', '/keys/shop-ed', undefined, admin);
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.body.definition.source, '/shop');
  assert.ok(r.body.version >= 1);

  const ev = (source, n) => ({ type: 'payment.created', source, id: `${source.slice(1)}-${n}-${tag}`, data: { amount: 4.5, n } });
  const accepted = [];
  const post = async (base, body) => call(base, 'POST', '/events', body);
  // both instances know the keys within moments
  for (const [base, n] of [[gwA, 1], [gwB, 2]]) {
    await until(`signed event on ${base}`, async (attempt) => {
      const e = signed(ev('/shop', `${n}.${attempt}`), 'shop-ed', 'ed.pem');
      const a = await post(base, e);
      if (a.status === 202) accepted.push(e.id);
      return { ok: a.status === 202, ...a };
    });
  }
  for (const [how, n] of [['node-p1363', 3], ['openssl-der', 4]]) {
    const e = signed(ev('/shop', n), 'shop-p256', 'p256.pem', how);
    r = await post(gwA, e);
    assert.strictEqual(r.status, 202, `P-256 ${how}: ${JSON.stringify(r.body)}`);
    accepted.push(e.id);
  }
  // refusals on the required source
  const refusals = [
    ['unsigned', ev('/shop', 5), /signature: required/],
    ['tampered', { ...signed(ev('/shop', 6), 'shop-ed', 'ed.pem'), data: { amount: 450 } }, /does not verify/],
    ['unknown key', signed(ev('/shop', 7), 'nobody', 'ed.pem'), /unknown signing key/],
    ['other source', signed(ev('/shop', 8), 'web-ed', 'ed2.pem'), /not registered for this tenant and source/],
    ['garbage', { ...ev('/shop', 9), sigkeyid: 'shop-ed', signature: '!!!' }, /base64url/],
  ];
  for (const [what, body, re] of refusals) {
    r = await post(gwA, body);
    assert.strictEqual(r.status, 401, `${what}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.message, re, what);
    assert.match(r.body.field, /^\/(sigkeyid|signature)$/);
  }
  // the optional source: unsigned accepted; a self-set sigverified is dropped
  const plain = { ...ev('/web', 10), sigverified: true };
  r = await post(gwA, plain);
  assert.strictEqual(r.status, 202, JSON.stringify(r.body));
  // a batch answers per event
  const good = signed(ev('/shop', 11), 'shop-ed', 'ed.pem');
  r = await call(gwA, 'POST', '/events', [good, ev('/shop', 12)]);
  assert.strictEqual(r.status, 207, JSON.stringify(r.body));
  assert.deepStrictEqual(r.body.results.map((x) => x.status), [202, 401]);
  accepted.push(good.id);

  const found = records([...accepted, plain.id]);
  assert.strictEqual(found.size, accepted.length + 1, `records: ${[...found.keys()]}`);
  for (const id of accepted) {
    assert.strictEqual(found.get(id).sigverified, true, `${id} marked sigverified`);
    assert.ok(found.get(id).signature, 'the signature travels with the event');
  }
  assert.strictEqual(found.get(plain.id).sigverified, undefined, 'a client cannot set sigverified');

  // revocation and rotation: shop-ed revoked, shop-p256 still signs; then shop-p256 deleted
  r = await call(gwA, 'PUT', '/keys/shop-ed', { ...keys['shop-ed'], revoked: true }, admin);
  assert.strictEqual(r.status, 200, JSON.stringify(r.body));
  await until('revocation seen by instance B', async (attempt) => {
    const a = await post(gwB, signed(ev('/shop', `13.${attempt}`), 'shop-ed', 'ed.pem'));
    return { ok: a.status === 401 && /revoked/.test(a.body.message), ...a };
  });
  r = await post(gwB, signed(ev('/shop', 14), 'shop-p256', 'p256.pem'));
  assert.strictEqual(r.status, 202, `the other key still signs: ${JSON.stringify(r.body)}`);
  r = await post(gwB, ev('/shop', 15));
  assert.strictEqual(r.status, 202, 'with the requiring key revoked, the source is optional again');
  r = await call(gwA, 'DELETE', '/keys/shop-p256', undefined, admin);
  assert.strictEqual(r.status, 204, JSON.stringify(r.body));
  await until('deletion seen by instance B', async (attempt) => {
    const a = await post(gwB, signed(ev('/shop', `16.${attempt}`), 'shop-p256', 'p256.pem'));
    return { ok: a.status === 401 && /unknown signing key/.test(a.body.message), ...a };
  });
  console.log(`signatures: ok (${accepted.length} signed events verified, ${refusals.length} refusals, revocation and deletion seen by both instances)`);
}

main().catch((err) => {
  console.error('signatures:', err && err.stack ? err.stack : err);
  process.exit(1);
});

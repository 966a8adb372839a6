// jwks_keys.js <dir>: writes test keys for test_gateway_daemon.sh with Node's crypto: two RSA key
// pairs exported as JWKs (kid "a" and "b"), jwks-a.json (only a), jwks-ab.json (a and b), and an
// RS256 token signed by each (token-a, token-b) with the events:write scope, valid for an hour.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
const b64url = (buf) => Buffer.from(buf).toString('base64url');

function token(privateKey, kid) {
  const header = { alg: 'RS256', typ: 'JWT', kid };
  const claims = { sub: 'daemon-test', tenant: 'acme', scope: 'events:write',
                   exp: Math.floor(Date.now() / 1000) + 3600 };
  const input = b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(claims));
  const sig = crypto.sign('RSA-SHA256', Buffer.from(input), privateKey);
  return input + '.' + b64url(sig);
}

const jwks = {};
for (const kid of ['a', 'b']) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  jwks[kid] = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
  fs.writeFileSync(path.join(dir, 'token-' + kid), token(privateKey, kid));
}
fs.writeFileSync(path.join(dir, 'jwks-a.json'), JSON.stringify({ keys: [jwks.a] }));
fs.writeFileSync(path.join(dir, 'jwks-ab.json'), JSON.stringify({ keys: [jwks.a, jwks.b] }));

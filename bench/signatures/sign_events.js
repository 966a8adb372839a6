// sign_events.js <private-key.pem> <keyid> <count> <event-json>: prints count copies of the event,
// each with its own id, signed (Ed25519 over the RFC 8785 form without `signature`, canonicalized
// by Node's JSON.stringify and UTF-16 sort), one per line: distinct signatures the gateway's
// verification cache cannot have seen.
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const canonical = (v) => Array.isArray(v) ? `[${v.map(canonical).join(',')}]`
  : v !== null && typeof v === 'object'
    ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`
    : JSON.stringify(v);

const [keyFile, keyid, count, eventJson] = process.argv.slice(2);
const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
const base = JSON.parse(eventJson);
const out = [];
for (let i = 0; i < Number(count); i++) {
  const ev = { ...base, id: `sig-bench-${i}`, sigkeyid: keyid };
  ev.signature = crypto.sign(null, Buffer.from(canonical(ev)), key).toString('base64url');
  out.push(JSON.stringify(ev));
}
process.stdout.write(out.join('\n') + '\n');

// jcs_corpus.js <n> <input-file> <expected-file>: documents for test_jcs.sh and their canonical
// forms made by Node.js itself, whose JSON.stringify writes numbers and strings as RFC 8785 says
// (it is the ECMAScript the RFC defines them by) and whose default sort compares UTF-16 code
// units: edge numbers, random doubles from random bit patterns, escapes, and member names
// outside the Basic Multilingual Plane, which sort differently by UTF-16 than by code point.
'use strict';
const crypto = require('crypto');
const fs = require('fs');

function canonical(v) {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

function randomDouble() {
  const b = crypto.randomBytes(8);
  const d = b.readDoubleLE(0);
  return Number.isFinite(d) ? d : randomDouble();
}

const edges = [0, -0, 1, -1, 0.1, 0.2 + 0.1, 1 / 3, 100, 1e21, 1e20, 123456789012345680000, 1e-6,
  1e-7, 1.5e-7, 5e-324, -5e-324, 1.7976931348623157e308, 2 ** 53, 2 ** 53 + 2, 4.35, 0.000001234,
  9007199254740993, 333333333.33333329, 1e23, 1.2e22, 295147905179352830000, 1e-5, 12345.678e-10];
const strings = ['', 'plain', 'quote " and \\ backslash', '\u0001\u001f\u007f', '\b\f\n\r\t',
  'é€😀', '\u2028\u2029', '</script>', '\ud83d\ude00 emoji'];
const names = ['a', 'b', 'A', '€', '\u0080', '😀', '\ufb33', '\ue000', '1', '', 'aa', 'a\u0001'];

const n = Number(process.argv[2]);
const docs = [];
for (const x of edges) docs.push({ n: x, arr: [x, -x] });
for (const s of strings) docs.push({ s, nested: { [s]: s } });
const spread = {};
for (const k of names) spread[k] = k.length;
docs.push(spread);
docs.push({ nul: 'a\u0000b' }); // U+0000 in values (jansson takes no NUL in member names)
docs.push({ deep: [[[{ z: 1, y: [true, false, null] }]]], e: {}, a: [] });
for (let i = 0; i < n; i++) {
  const doc = {};
  for (let j = 0; j < 4; j++) doc[names[(i + j * 5) % names.length] + j] = randomDouble();
  doc.list = [randomDouble(), randomDouble(), Math.round(randomDouble() % 1e6)];
  docs.push(doc);
}
// the inputs as ordinary JSON (member order as inserted, numbers as JSON.stringify writes them,
// which reads back to the same double)
fs.writeFileSync(process.argv[3], docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
fs.writeFileSync(process.argv[4], docs.map(canonical).join('\n') + '\n');

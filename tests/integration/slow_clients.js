// slow_clients.js <port> <n> <from> <hold-ms>: connection exhaustion against a gateway on
// 127.0.0.1:<port>, as one attacking client would try it. First 50 POST /events from 127.0.0.1
// measure the usual latency; then <n> connections from address <from> each send half a request's
// headers and stop (after 10 warm-up requests), while 100 more POST /events from 127.0.0.1 are timed; then it waits up to
// <hold-ms> for the server to close every slow connection. Prints one JSON line: the latencies
// (ms) before and during the flood, the statuses during it, how many slow connections the server
// closed at once (refused), how many it held, and when the last held one was closed.
'use strict';
const http = require('http');
const net = require('net');

const [port, n, from, holdMs] = [Number(process.argv[2]), Number(process.argv[3]),
  process.argv[4], Number(process.argv[5])];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const body = JSON.stringify({ type: 'slow.test', source: '/slow', data: { n: 1 } });

function post() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, path: '/events', method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': body.length },
      timeout: 10000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode,
        ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, error: e.code || e.message,
      reused: req.reusedSocket, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    req.end(body);
  });
}

async function timed(count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push(await post());
    await new Promise((r) => setTimeout(r, 5));
  }
  return out;
}

function quantile(xs, q) {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

// Opens one slow connection; resolves once the server closed it quickly or kept it for 2 s.
const slow = [];
function open() {
  return new Promise((resolve) => {
    const c = { opened: 0, closed: 0, refused: false };
    slow.push(c);
    const s = net.connect({ host: '127.0.0.1', port, localAddress: from });
    let settled = false;
    const settle = () => { if (!settled) { settled = true; resolve(); } };
    s.on('connect', () => {
      c.opened = Date.now();
      s.write('POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl');
      setTimeout(settle, 2000);
    });
    s.on('error', () => {});
    s.on('close', () => {
      c.closed = Date.now();
      if (!c.opened || c.closed - c.opened < 1500) {
        c.refused = true;
      }
      settle();
    });
  });
}

(async () => {
  await timed(10); // warm up: the producer's first connection to the broker
  const before = await timed(50);
  // the flood: all n at once (in waves of 500 to stay under the local accept backlog)
  const flood = [];
  for (let i = 0; i < n; i += 500) {
    for (let k = i; k < Math.min(n, i + 500); k++) {
      flood.push(open());
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const during = await timed(100);
  await Promise.all(flood);
  const held = slow.filter((c) => !c.refused);
  const deadline = Date.now() + holdMs;
  while (held.some((c) => !c.closed) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const lastCut = held.reduce((m, c) => Math.max(m, c.closed ? c.closed - c.opened : -1), 0);
  console.log(JSON.stringify({
    before_p50: quantile(before.map((r) => r.ms), 0.5),
    before_p99: quantile(before.map((r) => r.ms), 0.99),
    during_p50: quantile(during.map((r) => r.ms), 0.5),
    during_p99: quantile(during.map((r) => r.ms), 0.99),
    before_statuses: [...new Set(before.map((r) => r.status))],
    during_statuses: [...new Set(during.map((r) => r.status))],
    // a request that failed: why, whether on a kept-alive socket, after how long (so a failure
    // tells a server's reset from a client's reuse of a socket the server was closing)
    errors: before.concat(during).filter((r) => r.status === 0)
      .map((r) => ({ error: r.error, reused: r.reused, ms: r.ms })),
    attempted: slow.length,
    refused: slow.filter((c) => c.refused).length,
    held: held.length,
    held_still_open: held.filter((c) => !c.closed).length,
    last_cut_ms: lastCut,
  }));
  agent.destroy();
  process.exit(0);
})();

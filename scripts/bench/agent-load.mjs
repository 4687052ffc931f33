// Load generator for the agent: `concurrency` loops, each opening a new connection per
// request (as the CLI does), for `seconds` or until `max` requests. Prints JSON:
// { requests, errors, seconds, rps, p50, p99 } with latencies in ms.
import { connect } from 'node:net';

const [sock, concurrency = '8', seconds = '3', reqJson, max = '200000'] = process.argv.slice(2);
const line = Buffer.from(reqJson + '\n');
const lat = [];
let errors = 0;
let sent = 0;
const deadline = performance.now() + Number(seconds) * 1000;

function once() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = connect(sock);
    let body = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.end(line));
    s.on('data', (d) => (body += d));
    s.on('error', () => {
      errors++;
      resolve();
    });
    s.on('close', () => {
      if (body.startsWith('{"v":1,"ok":true')) lat.push(performance.now() - t0);
      else if (body) errors++;
      resolve();
    });
  });
}

async function loop() {
  while (performance.now() < deadline && sent < Number(max)) {
    sent++;
    await once();
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: Number(concurrency) }, loop));
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
console.log(JSON.stringify({ requests: lat.length, errors, seconds: secs, rps: lat.length / secs, p50: pct(0.5), p99: pct(0.99) }));

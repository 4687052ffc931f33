// Load generator for the agent: `concurrency` clients, each a worker thread that opens a new
// connection per request with the addon's synchronous agentCall, exactly as `tvault get` does,
// for `seconds` or until `max` requests in all. Prints JSON:
// { requests, errors, seconds, rps, p50, p99 } with latencies in ms.
//
// Threads rather than loops on one event loop: with node:net in one process, each latency also
// held the generator's own queue of 8 callbacks (~1 ms more at p99, measured), which no real
// client has.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const NATIVE = join(import.meta.dirname, '../../packages/native');

function client({ sock, reqJson, deadline, max }) {
  const { agentCall } = createRequire(import.meta.url)(NATIVE);
  const line = Buffer.from(reqJson + '\n');
  const lat = [];
  let errors = 0;
  while (Date.now() < deadline && lat.length + errors < max) {
    const t0 = performance.now();
    const answer = agentCall(sock, line, 5000, 1 << 26);
    if (answer && answer.toString('latin1', 0, 16) === '{"v":1,"ok":true') lat.push(performance.now() - t0);
    else errors++;
  }
  return { lat, errors };
}

if (isMainThread) {
  const [sock, concurrency = '8', seconds = '3', reqJson, max = '200000'] = process.argv.slice(2);
  const n = Number(concurrency);
  // Every thread is started and ready before the clock starts: on a busy machine, starting 8
  // threads can take most of a short run.
  const workers = Array.from({ length: n }, () => new Worker(new URL(import.meta.url), { workerData: { sock, reqJson, max: Math.ceil(Number(max) / n) } }));
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)))));
  const t0 = performance.now();
  const deadline = Date.now() + Number(seconds) * 1000;
  const results = await Promise.all(
    workers.map((w) => {
      const done = new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
      w.postMessage(deadline);
      return done;
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const lat = results.flatMap((r) => r.lat).sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  const errors = results.reduce((sum, r) => sum + r.errors, 0);
  console.log(JSON.stringify({ requests: lat.length, errors, seconds: secs, rps: lat.length / secs, p50: pct(0.5), p99: pct(0.99) }));
} else {
  parentPort.postMessage('ready');
  parentPort.once('message', (deadline) => parentPort.postMessage(client({ ...workerData, deadline })));
}

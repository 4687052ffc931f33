// The throughput floor for the agent (issue 11): the least a Node unix-socket server can do for
// agent-load.mjs's clients — accept, read up to the request's newline, answer one fixed line of
// the size of a `get` answer, close — with none of the agent's work (peer check, parse, decrypt,
// audit row, log line). The agent's throughput and p99 are judged against this one's, measured
// in the same run by the same load generator. Usage: node floor-server.mjs SOCKET; prints
// "ready" once listening, and stops on SIGTERM.
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';

const [sock] = process.argv.slice(2);
const LINE = Buffer.from(`${JSON.stringify({ v: 1, ok: true, project: 'default', key: 'KEY_1', value: `value-1-${'x'.repeat(40)}` })}\n`);

rmSync(sock, { force: true });
const server = createServer({ allowHalfOpen: true }, (s) => {
  let answered = false;
  s.on('error', () => s.destroy());
  s.on('data', (chunk) => {
    if (!answered && chunk.includes(0x0a)) {
      answered = true;
      s.end(LINE);
    }
  });
  s.on('end', () => (answered ? s.destroy() : s.end(LINE)));
});
server.listen(sock, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));

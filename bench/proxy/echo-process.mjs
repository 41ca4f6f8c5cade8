// An echo server in its own process (so that its sockets do not count against
// the benchmark harness's file descriptors). Reports its port over IPC.
import { createServer } from 'node:net';

const server = createServer({ allowHalfOpen: true }, (s) => {
  s.on('error', () => {});
  s.pipe(s);
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () =>
  process.send({ port: server.address().port }),
);
process.on('disconnect', () => process.exit(0));

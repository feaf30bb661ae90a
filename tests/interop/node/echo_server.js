// An echo server on Node's `ws`, for trio-tether's interop suite (tests/interop).
//
//   node echo_server.js [--port N]
//
// Listens on 127.0.0.1 (port N, default 0: any free port) and prints the port it got as
// the first line of stdout; nothing else goes to stdout. Every text message is echoed as
// text and every binary message as binary, except two control messages (text):
//
//   __close__:CODE   close this connection with CODE (a Close frame, reason "requested")
//   __drop__         destroy the socket at once: no Close frame (the client sees 1006)
//
// maxPayload is raised to 16 MiB (ws defaults to 100 MiB; set explicitly so the 1 MiB
// cases never depend on the default). No server pings. No compression unless
// `--compression on` (perMessageDeflate with ws's defaults, threshold 0) or
// `--compression no-context-takeover` (both directions without context takeover).
'use strict';

const { WebSocketServer } = require('ws');

function parsePort(argv) {
  const index = argv.indexOf('--port');
  if (index === -1) return 0;
  const port = Number(argv[index + 1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`echo_server.js: bad --port ${argv[index + 1]}\n`);
    process.exit(2);
  }
  return port;
}

const MAX_PAYLOAD = 16 * 1024 * 1024;

function perMessageDeflate(argv) {
  const index = argv.indexOf('--compression');
  const mode = index === -1 ? 'off' : argv[index + 1];
  if (mode === 'off') return false;
  if (mode === 'on') return { threshold: 0 };
  if (mode === 'no-context-takeover') {
    return { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
  }
  process.stderr.write(`echo_server.js: bad --compression ${mode}\n`);
  process.exit(2);
}
const CLOSE_PREFIX = '__close__:';

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: parsePort(process.argv.slice(2)),
  maxPayload: MAX_PAYLOAD,
  perMessageDeflate: perMessageDeflate(process.argv.slice(2)),
});

server.on('listening', () => {
  process.stdout.write(`${server.address().port}\n`);
});

server.on('error', (error) => {
  process.stderr.write(`echo_server.js: ${error.message}\n`);
  process.exit(1);
});

server.on('connection', (ws, request) => {
  ws.on('error', () => {}); // a reset by the client is not the server's problem
  if (process.argv.includes('--traffic')) {
    // For benchmarks/deflate_stream.py: the connection's bytes on the wire, on stderr.
    const socket = request.socket;
    ws.on('close', () => {
      process.stderr.write(`${JSON.stringify({ read: socket.bytesRead, written: socket.bytesWritten })}\n`);
    });
  }
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const text = data.toString('utf8');
      if (text.startsWith(CLOSE_PREFIX)) {
        ws.close(Number(text.slice(CLOSE_PREFIX.length)), 'requested');
        return;
      }
      if (text === '__drop__') {
        ws.terminate();
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});

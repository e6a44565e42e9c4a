#!/usr/bin/env node
// Serves TLS on <host>:<port> with a certificate and key, and forwards each connection's plain bytes to <target>
// (host:port, or the path of a Unix socket, which reaches a server in another network namespace): TLS in front of a
// test server whose own TLS a client cannot use. moto's S3 server (werkzeug) closes
// its TLS connections without close_notify after a PUT, which pgBackRest 2.45 (OpenSSL 3) reports as "unexpected eof
// while reading" and retries until it fails; behind this terminator the same server works.
'use strict';
const fs = require('fs');
const net = require('net');
const tls = require('tls');

const [cert, key, host, port, target] = process.argv.slice(2);
const [targetHost, targetPort] = target.split(':');
tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, client => {
  const upstream = target.startsWith('/') ? net.connect(target) : net.connect(Number(targetPort), targetHost);
  client.pipe(upstream);
  upstream.pipe(client);
  // A client that goes away drops its upstream; an upstream that ends or fails ends the client's TLS cleanly.
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('error', () => client.end());
}).listen(Number(port), host, () => console.log(`listening on ${host}:${port}, forwarding to ${target}`));

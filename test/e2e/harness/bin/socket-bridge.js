#!/usr/bin/env node
// Listens on a Unix socket (<path>) and forwards each connection to <host>:<port> in this process's network namespace:
// a server in one cluster's hub reached from another cluster's (tls-terminator.js there takes the socket as its target),
// as one object store outside both clusters. Either side may be a path or host:port: listening on <host>:<port> in the
// other hub and forwarding to the socket passes a server's own TLS through unchanged (archive-azure.test.ts's Azurite).
'use strict';
const fs = require('fs');
const net = require('net');

const [listen, target] = process.argv.slice(2);
/** A Unix socket's path, or { host, port }. */
const address = text => (text.startsWith('/') ? text : { host: text.split(':')[0], port: Number(text.split(':')[1]) });
if (listen.startsWith('/')) fs.rmSync(listen, { force: true });
net.createServer(client => {
  const upstream = net.connect(address(target));
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  upstream.on('close', () => client.destroy());
}).listen(address(listen), () => console.log(`listening on ${listen}, forwarding to ${target}`));

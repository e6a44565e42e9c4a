#!/usr/bin/env node
// Listens on a Unix socket (<path>) and forwards each connection to <host>:<port> in this process's network namespace:
// a server in one cluster's hub reached from another cluster's (tls-terminator.js there takes the socket as its target),
// as one object store outside both clusters.
'use strict';
const fs = require('fs');
const net = require('net');

const [socketPath, target] = process.argv.slice(2);
const [targetHost, targetPort] = target.split(':');
fs.rmSync(socketPath, { force: true });
net.createServer(client => {
  const upstream = net.connect(Number(targetPort), targetHost);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  upstream.on('close', () => client.destroy());
}).listen(socketPath, () => console.log(`listening on ${socketPath}, forwarding to ${target}`));

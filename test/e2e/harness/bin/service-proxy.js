#!/usr/bin/env node
// Stands in for kube-proxy (its old userspace mode): listens on each Service's address and forwards
// every new connection to one of the Service's current endpoints, read from
// <state>/endpoints/<service> (a JSON list of "ip:port", or of a Unix socket's path) when the connection arrives. With no
// endpoint the connection is reset, as kube-proxy rejects it. Established connections are kept.
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');

const [stateDir, ...services] = process.argv.slice(2);
const turn = new Map();
const log = fs.createWriteStream(path.join(stateDir, 'service-proxy.log'), { flags: 'a' });
const note = (...words) => log.write(`${new Date().toISOString()} ${words.join(' ')}\n`);

function endpoints(service) {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, 'endpoints', service), 'utf8'));
  } catch {
    return [];
  }
}

for (const spec of services) {
  const [service, address] = spec.split('=');
  const [host, port] = address.split(':');
  const server = net.createServer(client => {
    const from = `${client.remoteAddress}:${client.remotePort}`;
    const targets = endpoints(service);
    if (targets.length === 0) {
      note(service, from, 'reset: no endpoints');
      client.resetAndDestroy();
      return;
    }
    const n = (turn.get(service) ?? 0) % targets.length;
    turn.set(service, n + 1);
    const [targetHost, targetPort] = targets[n].split(':');
    note(service, from, '->', targets[n]);
    // An endpoint that is a path is a Unix socket: the API stand-in's, for the `kubernetes` Service.
    const upstream = targets[n].startsWith('/') ? net.connect(targets[n]) : net.connect(Number(targetPort), targetHost);
    upstream.on('connect', () => note(service, from, 'connected', targets[n]));
    client.on('error', e => { note(service, from, 'client error', e.code); upstream.destroy(); });
    upstream.on('error', e => { note(service, from, 'upstream error', e.code); client.destroy(); });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => { note(service, from, 'upstream closed'); client.destroy(); });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(Number(port), host, () => process.stdout.write(`listening ${service} ${address}\n`));
}

#!/usr/bin/env node
// Stands in for kube-proxy (its old userspace mode): listens on each Service's address and forwards
// every new connection to one of the Service's current endpoints, read from
// <state>/endpoints/<service> (a JSON list of "ip:port", or of a Unix socket's path) when the connection arrives. With no
// endpoint the connection is reset, as kube-proxy rejects it. Established connections are kept.
//
// A dead or frozen node delivers nothing, but this proxy may hold what it already read from a pod's connections (in
// its buffers, on their way to the other side). The harness asks, on <state>/service-proxy.sock, "cut <ip>\n" before
// it kills or freezes the pod at <ip>, and waits for "cut <n>\n": the client side of each connection to that pod is
// reset, with what it had not yet delivered; of each connection from that pod, nothing more reaches the other side,
// which sees silence (it times out, as a dead peer's would).
// "refuse <ip>\n" cuts the same way, and until "admit <ip>\n" a new connection to that pod is closed at once, as its
// address refuses it: a killed pod, from the moment its node dies (its link down, nothing sent) until the link is back
// (the pod's kernel refuses then).
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');

const [stateDir, ...services] = process.argv.slice(2);
const turn = new Map();
const log = fs.createWriteStream(path.join(stateDir, 'service-proxy.log'), { flags: 'a' });
const note = (...words) => log.write(`${new Date().toISOString()} ${words.join(' ')}\n`);
/** Every forwarded connection: its client and upstream sockets, and the addresses they are of. */
const connections = new Set();
/** Pod addresses whose new connections are refused (refuse/admit). */
const refused = new Set();

function endpoints(service) {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, 'endpoints', service), 'utf8'));
  } catch {
    return [];
  }
}

/** Stops every connection to or from the pod at `ip` delivering anything more; how many it stopped. */
function cut(ip) {
  let count = 0;
  for (const c of connections) {
    if (c.upstreamHost === ip) {
      c.cut = true;
      c.upstream.unpipe(c.client);
      c.client.resetAndDestroy();
      c.upstream.destroy();
    } else if (c.clientHost === ip) {
      // The other side is alive: it hears nothing more, and what it sends is dropped, until it gives up.
      c.cut = true;
      c.client.unpipe(c.upstream);
      c.upstream.unpipe(c.client);
      c.upstream.resume();
      c.client.destroy();
    } else {
      continue;
    }
    connections.delete(c);
    count++;
  }
  note('cut', ip, `${count} connections`);
  return count;
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
    if (refused.has(targetHost)) {
      note(service, from, 'refused', targets[n]);
      client.destroy();
      return;
    }
    note(service, from, '->', targets[n]);
    // An endpoint that is a path is a Unix socket: the API stand-in's, for the `kubernetes` Service.
    const upstream = targets[n].startsWith('/') ? net.connect(targets[n]) : net.connect(Number(targetPort), targetHost);
    const c = { client, upstream, clientHost: client.remoteAddress, upstreamHost: targetHost, cut: false };
    connections.add(c);
    upstream.on('connect', () => note(service, from, 'connected', targets[n]));
    client.on('error', e => { note(service, from, 'client error', e.code); if (!c.cut) upstream.destroy(); });
    upstream.on('error', e => { note(service, from, 'upstream error', e.code); if (!c.cut) client.destroy(); });
    client.on('close', () => { if (!c.cut) { connections.delete(c); upstream.destroy(); } });
    upstream.on('close', () => { note(service, from, 'upstream closed'); connections.delete(c); if (!c.cut) client.destroy(); });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(Number(port), host, () => process.stdout.write(`listening ${service} ${address}\n`));
}

// The harness's requests: one line each, answered once done.
const control = net.createServer(socket => {
  let pending = '';
  socket.on('data', chunk => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const [command, ip] = pending.slice(0, newline).split(' ');
      pending = pending.slice(newline + 1);
      if (command === 'refuse' && ip) refused.add(ip);
      if (command === 'admit' && ip) refused.delete(ip);
      if ((command === 'cut' || command === 'refuse') && ip) socket.write(`cut ${cut(ip)}\n`);
      else if (command === 'admit' && ip) socket.write('admitted\n');
      else socket.write('unknown request\n');
    }
  });
  socket.on('error', () => socket.destroy());
});
const controlPath = path.join(stateDir, 'service-proxy.sock');
fs.rmSync(controlPath, { force: true });
control.listen(controlPath, () => process.stdout.write('listening control\n'));

#!/usr/bin/env node
// Google's authentication in front of fake-gcs-server (which accepts any request, signed or not): HTTPS on <host>:<port>
// with a certificate and key, serving
//  - POST /token, the OAuth2 token endpoint a service account key's "token_uri" names: it takes the JWT-bearer grant
//    that pgBackRest signs with the key's private key, checks its RS256 signature against one of <public key PEM>[,...], its
//    audience (this endpoint's URL), times and scope, and answers an access token (or Google's error, "invalid_grant");
//  - every other request, forwarded in plain HTTP to <upstream> (host:port, or a Unix socket's path, which reaches a
//    server in another network namespace) only with "Authorization: Bearer <a token it issued>"; a read-only token
//    (scope devstorage.read_only) only for GET and HEAD. Anything else gets 401 or 403, as GCS answers.
// Each grant it issues is logged as a line of JSON ({"issued": <iss>, "scope": <scope>}) for the test to read.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const https = require('https');

const [cert, key, host, port, upstream, publicKeyFiles] = process.argv.slice(2);
const publicKeys = publicKeyFiles.split(',').map(file => crypto.createPublicKey(fs.readFileSync(file)));
const audience = `https://${host}:${port}/token`;
const tokens = new Map();

const json = (res, code, body) => {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
const invalidGrant = (res, description) => json(res, 400, { error: 'invalid_grant', error_description: description });

function grant(req, res, body) {
  const assertion = new URLSearchParams(body).get('assertion') ?? '';
  const [header, claims, signature] = assertion.split('.');
  if (signature === undefined) return invalidGrant(res, 'Invalid JWT: no signature.');
  const signed = publicKeys.some(publicKey => crypto.verify('sha256', Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature, 'base64url')));
  if (!signed) return invalidGrant(res, 'Invalid JWT Signature.');
  const claim = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8'));
  const now = Date.now() / 1000;
  if (claim.aud !== audience) return invalidGrant(res, `Invalid JWT: audience ${claim.aud} is not ${audience}.`);
  if (!(claim.iat <= now + 60 && claim.exp > now)) return invalidGrant(res, 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.');
  if (!/^https:\/\/www\.googleapis\.com\/auth\/devstorage\.read_(only|write)$/.test(claim.scope)) return invalidGrant(res, `Invalid scope ${claim.scope}.`);
  const token = `ya29.test-${crypto.randomBytes(12).toString('hex')}`;
  tokens.set(token, { scope: claim.scope, expires: now + 3600 });
  console.log(JSON.stringify({ issued: claim.iss, scope: claim.scope }));
  return json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
}

function forward(req, res) {
  const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  const token = bearer ? tokens.get(bearer[1]) : undefined;
  if (!token || token.expires < Date.now() / 1000) {
    req.resume();
    return json(res, 401, { error: { code: 401, message: 'Invalid Credentials', errors: [{ reason: 'authError' }] } });
  }
  if (token.scope.endsWith('read_only') && !['GET', 'HEAD'].includes(req.method)) {
    req.resume();
    return json(res, 403, { error: { code: 403, message: 'Provided scope(s) are not authorized', errors: [{ reason: 'forbidden' }] } });
  }
  const [upstreamHost, upstreamPort] = upstream.split(':');
  const target = upstream.startsWith('/') ? { socketPath: upstream } : { host: upstreamHost, port: Number(upstreamPort) };
  const proxied = http.request({ ...target, method: req.method, path: req.url, headers: req.headers }, answer => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  proxied.on('error', error => {
    if (!res.headersSent) json(res, 502, { error: { code: 502, message: String(error) } });
    else res.destroy();
  });
  req.pipe(proxied);
}

const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  if (req.method === 'POST' && req.url === '/token') {
    const chunks = [];
    req.on('data', chunk => chunks.push(chunk));
    req.on('end', () => grant(req, res, Buffer.concat(chunks).toString('utf8')));
    return;
  }
  forward(req, res);
});
// pgBackRest keeps its connections between requests: an idle one is not closed under it after Node's default 5 s.
server.keepAliveTimeout = 120_000;
server.listen(Number(port), host, () => console.error(`listening on ${host}:${port}, forwarding to ${upstream}`));

#!/usr/bin/env node
// A few Azure Blob requests, signed with the account's shared key (Azure's "Shared Key" authorization), as an
// administrator makes them against a path-style endpoint such as Azurite's (https://<host>:<port>/<account>/...):
//   azure-blob.js <https://host:port> <account> <base64 key> <CA file> create <container>
//   azure-blob.js ... list <container>                  the blobs' names, one JSON array
//   azure-blob.js ... heads <container> <bytes> <names>  the first <bytes> bytes of each named blob (a JSON array of
//                                                       names on stdin), as latin-1, one JSON object by name
//   azure-blob.js ... sas <permissions> <expiry>        an account SAS token for the blob service (no request made):
//                                                       permissions such as "rwdlac", expiry an ISO time
// Node.js only (no Azure SDK): the test's object store is Azurite, whose npm package brings no blob client.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');

const [endpoint, account, key, caFile, command, container, ...rest] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const API_VERSION = '2021-10-04';

/** One signed request; resolves with the status and body, fails on any status but the expected ones. */
function request(method, container, query, headers, expected) {
  const url = new URL(`${endpoint}/${account}/${container}`);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  const all = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': API_VERSION, ...headers };
  const msHeaders = Object.keys(all).filter(h => h.startsWith('x-ms-')).sort().map(h => `${h}:${all[h]}\n`).join('');
  const params = [...url.searchParams.keys()].sort().map(name => `\n${name.toLowerCase()}:${url.searchParams.get(name)}`).join('');
  // VERB, then Content-Encoding, -Language, -Length, -MD5, -Type, Date, If-Modified-Since, If-Match, If-None-Match,
  // If-Unmodified-Since and Range (all empty here: the date and range go in x-ms- headers), then the x-ms- headers and
  // the resource: the account, then the URL's path (which, path style, starts with the account again).
  const toSign = `${method}\n${'\n'.repeat(11)}${msHeaders}/${account}${url.pathname}${params}`;
  const signature = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(toSign, 'utf8').digest('base64');
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers: { ...all, 'Authorization': `SharedKey ${account}:${signature}`, 'Content-Length': 0 } }, res => {
      const chunks = [];
      res.on('data', chunk => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if (expected.includes(res.statusCode)) resolve({ status: res.statusCode, body });
        else reject(new Error(`${method} ${url.pathname}${url.search}: ${res.statusCode} ${body.toString('utf8')}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function list(container) {
  const names = [];
  let marker = '';
  do {
    const query = { restype: 'container', comp: 'list', maxresults: '5000', ...(marker ? { marker } : {}) };
    const xml = (await request('GET', container, query, {}, [200])).body.toString('utf8');
    for (const match of xml.matchAll(/<Blob>\s*<Name>([^<]*)<\/Name>/g)) names.push(match[1].replace(/&amp;/g, '&'));
    marker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml)?.[1] ?? '';
  } while (marker);
  return names;
}

async function main() {
  if (command === 'create') {
    // 201 created, 409 there already.
    await request('PUT', container, { restype: 'container' }, {}, [201, 409]);
  } else if (command === 'list') {
    console.log(JSON.stringify(await list(container)));
  } else if (command === 'sas') {
    // An account shared access signature (version 2019-12-12's string to sign): blob service, every resource type, HTTPS.
    const [permissions, expiry] = [container, rest[0]];
    const fields = { sv: '2019-12-12', ss: 'b', srt: 'sco', sp: permissions, se: expiry, spr: 'https' };
    const toSign = [account, fields.sp, fields.ss, fields.srt, '', fields.se, '', fields.spr, fields.sv, ''].join('\n');
    const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(toSign, 'utf8').digest('base64');
    console.log(new URLSearchParams({ ...fields, sig }).toString());
  } else if (command === 'heads') {
    const bytes = Number(rest[0]);
    const names = JSON.parse(fs.readFileSync(0, 'utf8'));
    const heads = {};
    for (const name of names) {
      const path = `${container}/${name.split('/').map(encodeURIComponent).join('/')}`;
      heads[name] = (await request('GET', path, {}, { 'x-ms-range': `bytes=0-${bytes - 1}` }, [200, 206])).body.toString('latin1');
    }
    console.log(JSON.stringify(heads));
  } else {
    throw new Error(`unknown command ${JSON.stringify(command)}: create, list, heads or sas`);
  }
}

main().catch(error => {
  console.error(error.message);
  process.exit(1);
});

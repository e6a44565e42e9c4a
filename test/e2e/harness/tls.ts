import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** The API stand-in's TLS: the cluster's root CA (the pods' `ca.crt`, `kube-root-ca.crt`) and the server's key and certificate. */
export interface ApiTls {
  readonly caFile: string;
  readonly ca: string;
  readonly key: string;
  readonly cert: string;
}

/**
 * A CA and a serving certificate signed by it for the names a client reaches the API server by: the `kubernetes`
 * Service's address (10.96.0.1) and DNS names, as kube-apiserver's certificate carries them, and 127.0.0.1 for the
 * tests' own kubectl. ECDSA P-256, made with openssl in `dir` (a few ms).
 */
export function makeApiTls(dir: string, serviceAddress: string): ApiTls {
  fs.mkdirSync(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '7', '-subj', '/CN=e2e-kubernetes-ca');
  openssl('req', ...ec, '-keyout', file('apiserver.key'), '-out', file('apiserver.csr'), '-subj', '/CN=kube-apiserver');
  fs.writeFileSync(file('apiserver.ext'), `subjectAltName=IP:${serviceAddress},IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,`
    + 'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n');
  openssl('x509', '-req', '-in', file('apiserver.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('apiserver.crt'), '-days', '7', '-extfile', file('apiserver.ext'));
  return {
    caFile: file('ca.crt'),
    ca: fs.readFileSync(file('ca.crt'), 'utf8'),
    key: fs.readFileSync(file('apiserver.key'), 'utf8'),
    cert: fs.readFileSync(file('apiserver.crt'), 'utf8'),
  };
}

/** A test CA and a server certificate that it signs, with their keys: the files' paths. */
export interface ServerCertificates {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * A CA and a server certificate for an IP address (an object store in the hub: 198.18.1.1), in `dir`, readable by every
 * user (the pods' uid reads the CA). pgBackRest 2.45 matches the endpoint against the certificate's DNS names only (not
 * its IP addresses), so the address is both.
 */
export function makeServerCertificates(dir: string, address: string, caName: string): ServerCertificates {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', `/CN=${caName}`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', `/CN=${address}`);
  fs.writeFileSync(file('server.ext'), `subjectAltName=IP:${address},DNS:${address}\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.crt'), '-days', '2', '-extfile', file('server.ext'));
  for (const name of fs.readdirSync(dir)) fs.chmodSync(file(name), 0o644);
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}

import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GcsCredentials, RepositoryCaCertificate } from '../../src';
import { E2eCluster } from './harness/cluster';
import { runAsync, waitFor } from './harness/exec';
import { makeServerCertificates } from './harness/tls';
import { expectOnlyPrimary, failoverAroundTarget, isPrimary, POD, step, synthesizeToFile } from './support';

jest.setTimeout(300_000);

/** An image built FROM postgres:15 with pgBackRest added (docs/images/postgres-pgbackrest); the harness runs Debian's. */
const IMAGE = 'localhost/postgres-pgbackrest:15';
const ROWS = 'SELECT count(*), coalesce(sum(id), 0), md5(coalesce(string_agg(note, \',\' ORDER BY id), \'\')) FROM orders';
/** fake-gcs-server (github.com/fsouza/fake-gcs-server), installed by test/setup/system-packages.sh. */
const FAKE_GCS = '/opt/fake-gcs-server/bin/fake-gcs-server';
const FAKE_GCS_INSTALL = 'GOBIN=/opt/fake-gcs-server/bin go install github.com/fsouza/fake-gcs-server@v1.56.1';
/** The hub's address on the pod network (E2eCluster.hub): the server listens there, outside every pod. */
const HUB_ADDRESS = '198.18.1.1';
/** The GCS endpoint and the service accounts' token endpoint (harness/bin/gcs-auth-proxy.js), over TLS. */
const GCS_PORT = 4443;
/** fake-gcs-server's own port, plain HTTP on the hub's loopback. */
const FAKE_GCS_PORT = 4080;
const BUCKET = 'pg-backups';
const WRITER = 'pgbackrest@orders-project.iam.gserviceaccount.com';
const READER = 'restore@orders-project.iam.gserviceaccount.com';

/**
 * A service account's JSON key file, as the Google Cloud console downloads it: a new RSA key, its public half written
 * beside it for the token endpoint to check signatures with, and the hub's token endpoint as its token_uri.
 */
function makeServiceAccountKey(dir: string, email: string): { json: string; publicKey: string } {
  const base = path.join(dir, email.split('@')[0]);
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${base}.key`], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('openssl', ['pkey', '-in', `${base}.key`, '-pubout', '-out', `${base}.pub`], { stdio: ['ignore', 'ignore', 'pipe'] });
  fs.chmodSync(`${base}.pub`, 0o644);
  const json = JSON.stringify({
    type: 'service_account',
    project_id: 'orders-project',
    private_key_id: email.split('@')[0],
    private_key: fs.readFileSync(`${base}.key`, 'utf8'),
    client_email: email,
    client_id: '1',
    token_uri: `https://${HUB_ADDRESS}:${GCS_PORT}/token`,
  }, null, 2);
  return { json, publicKey: `${base}.pub` };
}

/**
 * Node in the hub against fake-gcs-server's JSON API directly (behind the authentication proxy: as an administrator
 * with every right would): `api(method, path, body?, headers?)` answers { status, body } (the body parsed when JSON).
 */
async function gcsAdmin(hub: string, script: string): Promise<string> {
  const program = [
    'const http = require("http");',
    'const api = (method, path, body, headers = {}) => new Promise((resolve, reject) => {',
    `  const req = http.request({ host: "127.0.0.1", port: ${FAKE_GCS_PORT}, method, path, headers: { "content-type": "application/json", ...headers } }, res => {`,
    '    const chunks = []; res.on("data", c => chunks.push(c));',
    '    res.on("end", () => { const text = Buffer.concat(chunks).toString("latin1"); let parsed = text; try { parsed = JSON.parse(text); } catch {} resolve({ status: res.statusCode, body: parsed }); });',
    '  });',
    '  req.on("error", reject); req.end(body === undefined ? undefined : JSON.stringify(body));',
    '});',
    'const list = async prefix => { const names = []; let page = "";',
    `  do { const r = await api("GET", \`/storage/v1/b/${BUCKET}/o?prefix=\${encodeURIComponent(prefix)}\${page ? "&pageToken=" + encodeURIComponent(page) : ""}\`);`,
    '    if (r.status !== 200) throw new Error(JSON.stringify(r)); names.push(...(r.body.items ?? []).map(o => o.name)); page = r.body.nextPageToken; } while (page);',
    '  return names; };',
    `(async () => { ${script} })().catch(e => { console.error(e); process.exit(1); });`,
  ].join('\n');
  const result = await runAsync('ip', ['netns', 'exec', hub, process.execPath, '-e', program], { timeoutMs: 90_000 });
  if (result.code !== 0) throw new Error(`the GCS server's client failed (${result.code}): ${result.stdout}${result.stderr}`);
  return result.stdout.trim();
}

/** The grants a token endpoint issued (its log's JSON lines). */
function grants(log: string): { issued: string; scope: string }[] {
  return fs.readFileSync(log, 'utf8').split('\n').filter(line => line.startsWith('{"issued"')).map(line => JSON.parse(line));
}

/**
 * WAL archiving to Google Cloud Storage (walArchive.gcs), on real PostgreSQL 15 and Debian's pgBackRest:
 * fake-gcs-server in the hub namespace (outside the pods, on the pod network, as GCS is outside the Kubernetes cluster),
 * behind harness/bin/gcs-auth-proxy.js, which serves TLS, the service accounts' token endpoint (it checks the JWT that
 * pgBackRest signs with the mounted key) and refuses requests without a token it issued (fake-gcs-server itself takes
 * any). The primary archives into the bucket, encrypted; the full backup CronJob backs up; a key the token endpoint
 * does not know fails naming the repository, and once fixed the WAL held meanwhile is archived; after a switchover the
 * new primary archives and the diff CronJob backs up from it; after a failover the next primary archives; a new cluster
 * restored from the bucket to a point in time (restoreFrom.gcs, another service account's key, read-only tokens) holds
 * exactly the rows committed before it.
 */
describe('WAL archiving to Google Cloud Storage (pgBackRest, fake-gcs-server behind a token endpoint, over TLS)', () => {
  let cluster: E2eCluster;
  let fakeGcs: ChildProcess | undefined;
  let proxy: ChildProcess | undefined;
  let pki: { ca: string; cert: string; key: string };
  let writer: { json: string; publicKey: string };
  let reader: { json: string; publicKey: string };
  let work: string;
  let proxyLog = '';
  let beforeTarget = '';
  let targetTime = '';
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(FAKE_GCS)) {
      throw new Error(`fake-gcs-server is not installed at ${FAKE_GCS}: run \`bash test/setup/system-packages.sh\` as root (npm test does), `
        + `or \`${FAKE_GCS_INSTALL}\`.`);
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-e2e-gcs-'));
    fs.chmodSync(work, 0o755);
    fs.mkdirSync(path.join(work, 'pki'));
    pki = makeServerCertificates(path.join(work, 'pki'), HUB_ADDRESS, 'gcs test CA');
    writer = makeServiceAccountKey(path.join(work, 'pki'), WRITER);
    reader = makeServiceAccountKey(path.join(work, 'pki'), READER);
    proxyLog = path.join(work, 'proxy.log');
    const manifest = synthesizeToFile({
      image: IMAGE,
      walArchive: {
        gcs: {
          bucket: BUCKET,
          endpoint: `${HUB_ADDRESS}:${GCS_PORT}`,
          caCertificate: RepositoryCaCertificate.fromSecret('gcs-ca'),
          credentials: GcsCredentials.fromServiceAccountKey('gcs-key'),
        },
        encryptionPassphraseSecretName: 'gcs-passphrase',
      },
    });
    cluster = await E2eCluster.start({
      manifest,
      beforePods: async (c) => {
        expect(c.hub.address).toBe(HUB_ADDRESS);
        const log = fs.openSync(path.join(work, 'fake-gcs-server.log'), 'a');
        execFileSync('ip', ['-n', c.hub.netns, 'link', 'set', 'lo', 'up']);
        fakeGcs = spawn('ip', ['netns', 'exec', c.hub.netns, FAKE_GCS, '-scheme', 'http', '-host', '127.0.0.1', '-port', String(FAKE_GCS_PORT),
          '-backend', 'memory', '-public-host', `${HUB_ADDRESS}:${GCS_PORT}`, '-external-url', `https://${HUB_ADDRESS}:${GCS_PORT}`],
        { stdio: ['ignore', log, log], detached: true });
        proxy = spawn('ip', ['netns', 'exec', c.hub.netns, process.execPath, path.join(__dirname, 'harness', 'bin', 'gcs-auth-proxy.js'),
          pki.cert, pki.key, HUB_ADDRESS, String(GCS_PORT), `127.0.0.1:${FAKE_GCS_PORT}`, `${writer.publicKey},${reader.publicKey}`],
        { stdio: ['ignore', fs.openSync(proxyLog, 'a'), log], detached: true });
        for (const [what, address] of [['fake-gcs-server', `127.0.0.1/${FAKE_GCS_PORT}`], ['the GCS endpoint', `${HUB_ADDRESS}/${GCS_PORT}`]]) {
          await waitFor(`${what} to listen`, async () => (await runAsync('ip', ['netns', 'exec', c.hub.netns, 'bash', '-c',
            `exec 3<>/dev/tcp/${address}`])).code === 0, 30_000, 200);
        }
        // The bucket, as an administrator creates it (pgBackRest does not).
        expect(await gcsAdmin(c.hub.netns, `const r = await api("POST", "/storage/v1/b", { name: "${BUCKET}" }); console.log(r.status, r.body.name);`))
          .toBe(`200 ${BUCKET}`);
        c.updateSecret('gcs-key', { 'key.json': writer.json });
        c.updateSecret('gcs-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
        c.updateSecret('gcs-passphrase', { passphrase: 'correct horse battery staple' });
      },
    });
  });

  afterAll(async () => {
    await cluster?.destroy();
    for (const server of [...servers, proxy, fakeGcs]) {
      try {
        if (server?.pid) process.kill(-server.pid, 'SIGKILL');
      } catch {
        // already ended
      }
    }
    if (work && !process.env.E2E_KEEP_STATE) fs.rmSync(work, { recursive: true, force: true });
  });

  /** pgBackRest in a pod's postgres container, as a person would run it with kubectl exec. */
  const pgbackrest = (pod: string, args: string[], env: string[] = []) =>
    cluster.pod(pod).container('postgres').exec(['env', ...env, 'pgbackrest', '--stanza=postgres', ...args], 120_000);

  test('the primary archives into the bucket, encrypted, with the mounted service account key; the full backup CronJob backs up into it', () => step(cluster, async () => {
    expect(cluster.pod(POD(0)).logSince(0)).toContain('pgBackRest: the repository has stanza postgres: WAL is archived');
    await waitFor('pgbackrest check to pass on the primary', async () => (await pgbackrest(POD(0), ['check'])).code === 0, 60_000, 500);
    const full = await cluster.runJob('postgres-archive-full');
    expect([full.code, full.stdout]).toEqual([0, expect.stringMatching(/full backup of stanza postgres on the primary, postgres-cluster-0[\s\S]*backup complete/)]);

    const info = await pgbackrest(POD(1), ['info', '--output=json']);
    expect(info.code).toBe(0);
    const stanza = JSON.parse(info.stdout)[0];
    expect([stanza.status.message, stanza.cipher, stanza.backup.map((b: any) => b.type)]).toEqual(['ok', 'aes-256-cbc', ['full']]);
    // Every request went through the token endpoint with the key mounted from the Secret: only its account got tokens.
    expect(new Set(grants(proxyLog).map(g => g.issued))).toEqual(new Set([WRITER]));
    expect(grants(proxyLog).map(g => g.scope)).toContain('https://www.googleapis.com/auth/devstorage.read_write');
    // In the bucket, under postgres/ (the cluster's name): encrypted files (OpenSSL's salted format), no plain WAL or manifest.
    // The first bytes of every file but the backup's data files, and of 20 of those.
    const { names, heads } = JSON.parse(await gcsAdmin(cluster.hub.netns, [
      'const names = await list("");',
      'const sample = [...names.filter(n => !n.includes("/pg_data/")), ...names.filter(n => n.includes("/pg_data/")).slice(0, 20)];',
      'const heads = {};',
      `for (const n of sample) heads[n] = (await api("GET", \`/storage/v1/b/${BUCKET}/o/\${encodeURIComponent(n)}?alt=media\`, undefined, { range: "bytes=0-7" })).body.slice(0, 8);`,
      'console.log(JSON.stringify({ names, heads }));',
    ].join('\n'))) as { names: string[]; heads: Record<string, string> };
    expect(Object.keys(heads).filter(n => n.includes('/pg_data/'))).toHaveLength(20);
    expect(names).toContainEqual(expect.stringMatching(/^postgres\/archive\/postgres\/15-1\/[0-9A-F]{16}\/[0-9A-F]{24}-[0-9a-f]{40}/));
    expect(names).toContain('postgres/backup/postgres/backup.info');
    expect(names.filter(n => !n.startsWith('postgres/'))).toEqual([]);
    expect(Object.entries(heads).filter(([, head]) => head !== 'Salted__')).toEqual([]);
  }));

  /** An access token from the hub's token endpoint, for the writer's key: as `gcloud auth print-access-token` would give one. */
  async function accessToken(): Promise<string> {
    const program = [
      'const crypto = require("crypto"), fs = require("fs"), https = require("https");',
      `const aud = "https://${HUB_ADDRESS}:${GCS_PORT}/token", now = Math.floor(Date.now() / 1000);`,
      'const part = o => Buffer.from(JSON.stringify(o)).toString("base64url");',
      `const unsigned = part({ alg: "RS256", typ: "JWT" }) + "." + part({ iss: "${WRITER}", scope: "https://www.googleapis.com/auth/devstorage.read_write", aud, iat: now, exp: now + 600 });`,
      `const jwt = unsigned + "." + crypto.sign("sha256", Buffer.from(unsigned), fs.readFileSync(${JSON.stringify(writer.publicKey.replace(/\.pub$/, '.key'))})).toString("base64url");`,
      'const body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + jwt;',
      `const req = https.request(aud, { method: "POST", ca: fs.readFileSync(${JSON.stringify(pki.ca)}), headers: { "content-type": "application/x-www-form-urlencoded" } }, res => {`,
      '  let text = ""; res.on("data", c => text += c); res.on("end", () => console.log(JSON.parse(text).access_token)); });',
      'req.end(body);',
    ].join('\n');
    const result = await runAsync('ip', ['netns', 'exec', cluster.hub.netns, process.execPath, '-e', program]);
    expect([result.code, result.stdout]).toEqual([0, expect.stringMatching(/^ya29\./)]);
    return result.stdout.trim();
  }

  test('pgBackRest\'s token mode (GcsCredentials.fromAccessToken\'s PGBACKREST_REPO1_GCS_KEY) works with an issued token; a token nobody '
    + 'issued is refused: pgbackrest check fails naming the repository and the 401', () => step(cluster, async () => {
    const token = await accessToken();
    // pgBackRest sends the key as the whole Authorization header: the token alone is refused, "Bearer <token>" works.
    const bare = await pgbackrest(POD(0), ['check'], ['PGBACKREST_REPO1_GCS_KEY_TYPE=token', `PGBACKREST_REPO1_GCS_KEY=${token}`]);
    expect([bare.code, bare.stderr]).toEqual([39, expect.stringMatching(/HTTP request failed with 401 \(Unauthorized\)/)]);
    const issued = await pgbackrest(POD(0), ['check'], ['PGBACKREST_REPO1_GCS_KEY_TYPE=token', `PGBACKREST_REPO1_GCS_KEY=Bearer ${token}`]);
    expect([issued.code, issued.stderr]).toEqual([0, '']);
    expect(issued.stdout).toMatch(/--repo1-gcs-key=<redacted> --repo1-gcs-key-type=token/);
    // pgBackRest's token mode, with a token nobody issued: the authentication in front of the bucket is real.
    const wrong = await pgbackrest(POD(0), ['check'], ['PGBACKREST_REPO1_GCS_KEY_TYPE=token', 'PGBACKREST_REPO1_GCS_KEY=Bearer ya29.not-a-token']);
    expect(wrong.code).not.toBe(0);
    const said = wrong.stdout + wrong.stderr;
    expect(said).toMatch(/INFO: check repo1 configuration \(primary\)/);
    expect(said).toMatch(/ERROR: \[039\]: unable to load info file '\/postgres\/archive\/postgres\/archive.info'/);
    expect(said).toMatch(/HTTP request failed with 401 \(Unauthorized\)[\s\S]*Invalid Credentials/);
    expect((await pgbackrest(POD(0), ['check'])).code).toBe(0);
  }));

  /** Restarts the primary's pod (its containers read the Secrets again), and waits until it serves as the primary. */
  async function restartPrimary(): Promise<void> {
    await cluster.stopPod(POD(0));
    cluster.startPod(POD(0));
    await waitFor(`${POD(0)} to serve again`, () => cluster.pod(POD(0)).ready, 90_000, 250);
    await waitFor(`${POD(0)} to take writes`, async () => (await cluster.sql('postgres-write', 'SELECT 1')).code === 0, 30_000, 250);
  }

  test('a key the token endpoint does not know in the Secret: the primary cannot archive and its log names repo1 and invalid_grant; '
    + 'with the key fixed and the pod restarted, it archives again', () => step(cluster, async () => {
    const stranger = makeServiceAccountKey(work, 'stranger@orders-project.iam.gserviceaccount.com');
    cluster.updateSecret('gcs-key', { 'key.json': stranger.json });
    const mark = cluster.pod(POD(0)).logMark();
    const seen = cluster.events().length;
    await restartPrimary();
    expect(await cluster.sql('postgres-write', 'CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 100) g'))
      .toMatchObject({ code: 0 });
    await cluster.podSql(POD(0), 'SELECT pg_switch_wal()');
    await waitFor('the archiver to fail', async () => Number(await cluster.podSql(POD(0), 'SELECT failed_count FROM pg_stat_archiver')) > 0, 60_000, 500);
    const log = cluster.pod(POD(0)).logSince(mark);
    expect(log).toMatch(/pgBackRest: stanza-create postgres failed \(ERROR: \[\d+\]: unable to get authentication token: \[invalid_grant\] Invalid JWT Signature/);
    expect(log).toMatch(/unable to find a valid repository:\s+repo1: \[ProtocolError\] unable to load info file '\/postgres\/archive\/postgres\/archive.info'[^\n]*\n\s+ProtocolError: unable to get authentication token: \[invalid_grant\] Invalid JWT Signature/);
    expect(log).toMatch(/archive command failed with exit code \d+/);
    const failing = () => cluster.events().slice(seen).filter(e => e.reason === 'ArchiveFailing' && e.involvedObject.name === POD(0));
    await waitFor('an ArchiveFailing Event', () => failing().length > 0, 30_000, 500);
    expect(failing()[0]).toMatchObject({ type: 'Warning', message: expect.stringMatching(/^archiving WAL fails: [0-9A-F]{24} is not archived /) });

    cluster.updateSecret('gcs-key', { 'key.json': writer.json });
    await restartPrimary();
    expect((await pgbackrest(POD(0), ['check'])).code).toBe(0);
  }));

  test('after a switchover the new primary archives into the bucket, and the diff CronJob backs up from it', () => step(cluster, async () => {
    const switchover = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(1) });
    expect(switchover.code).toBe(0);
    await expectOnlyPrimary(cluster, POD(1), [POD(0), POD(1), POD(2)]);
    expect((await pgbackrest(POD(1), ['check'])).code).toBe(0);
    const diff = await cluster.runJob('postgres-archive-diff');
    expect([diff.code, diff.stdout]).toEqual([0, expect.stringMatching(/diff backup of stanza postgres on the primary, postgres-cluster-1[\s\S]*backup complete/)]);
    const info = await pgbackrest(POD(2), ['info', '--output=json']);
    expect(JSON.parse(info.stdout)[0].backup.map((b: any) => b.type)).toEqual(['full', 'diff']);
  }));

  test('after the primary is killed and the failover job promotes a replica, the new primary archives into the bucket on its timeline', () => step(cluster, async () => {
    ({ targetTime, beforeTarget } = await failoverAroundTarget(cluster, pod => pgbackrest(pod, ['check'])));
  }));

  test('a new cluster restored from the bucket to a point in time (restoreFrom.gcs, in another namespace, another service account\'s key) '
    + 'holds exactly the rows committed before it, reads the source with read-only tokens, and archives into its own directory', () => step(cluster, async () => {
    // The object store outside both clusters: the restored cluster's hub reaches the same server through a Unix socket,
    // behind a token endpoint of its own at the same address.
    const socket = path.join(work, 'fake-gcs.sock');
    servers.push(spawn('ip', ['netns', 'exec', cluster.hub.netns, process.execPath, path.join(__dirname, 'harness', 'bin', 'socket-bridge.js'),
      socket, `127.0.0.1:${FAKE_GCS_PORT}`], { stdio: 'ignore', detached: true }));
    await waitFor('the socket bridge to listen', () => fs.existsSync(socket), 10_000, 100);
    const restoredProxyLog = path.join(work, 'restored-proxy.log');
    const bucket = { bucket: BUCKET, endpoint: `${HUB_ADDRESS}:${GCS_PORT}` };
    const manifest = synthesizeToFile({
      clusterName: 'restored',
      image: IMAGE,
      walArchive: { gcs: { ...bucket, caCertificate: RepositoryCaCertificate.fromSecret('gcs-ca'), credentials: GcsCredentials.fromServiceAccountKey('gcs-key') } },
      restoreFrom: {
        clusterName: 'postgres',
        targetTime,
        gcs: { ...bucket, caCertificate: RepositoryCaCertificate.fromSecret('source-ca'), credentials: GcsCredentials.fromServiceAccountKey('source-key', 'reader.json') },
        encryptionPassphraseSecretName: 'source-passphrase',
      },
    });
    const restored = await E2eCluster.start({
      manifest,
      beforePods: async (c) => {
        servers.push(spawn('ip', ['netns', 'exec', c.hub.netns, process.execPath, path.join(__dirname, 'harness', 'bin', 'gcs-auth-proxy.js'),
          pki.cert, pki.key, HUB_ADDRESS, String(GCS_PORT), socket, `${writer.publicKey},${reader.publicKey}`],
        { stdio: ['ignore', fs.openSync(restoredProxyLog, 'a'), 'ignore'], detached: true }));
        await waitFor('the GCS endpoint to listen in the new cluster\'s hub', async () => (await runAsync('ip', ['netns', 'exec', c.hub.netns, 'bash', '-c',
          `exec 3<>/dev/tcp/${HUB_ADDRESS}/${GCS_PORT}`])).code === 0, 30_000, 200);
        c.updateSecret('source-key', { 'reader.json': reader.json });
        c.updateSecret('source-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
        c.updateSecret('source-passphrase', { passphrase: 'correct horse battery staple' });
        c.updateSecret('gcs-key', { 'key.json': writer.json });
        c.updateSecret('gcs-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
      },
    });
    try {
      const pod0 = 'restored-cluster-0';
      const log = restored.pod(pod0).logSince(0);
      expect(log).toContain('restoring cluster postgres as of ');
      expect(log).toContain('from the pgBackRest repository of /etc/postgresql/pgbackrest-restore.conf');
      expect(await restored.podSql(pod0, ROWS, 'myapp')).toBe(beforeTarget);
      // The diff backup (timeline 2), the WAL of timeline 2 and of the failover's timeline 3 up to the target; promoted: 4.
      expect(await restored.podSql(pod0, 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)')).toBe('00000004');
      expect(await isPrimary(restored, pod0)).toBe(true);
      for (const replica of ['restored-cluster-1', 'restored-cluster-2']) {
        await waitFor(`${replica} to hold the restored rows`, async () => (await restored.podSql(replica, ROWS, 'myapp').catch(() => '')) === beforeTarget, 30_000, 250);
      }
      expect(await restored.sql('restored-write', 'INSERT INTO orders VALUES (1000, \'after the restore\')')).toMatchObject({ code: 0 });
      const check = await restored.pod(pod0).container('postgres').exec(['pgbackrest', '--stanza=restored', 'check'], 120_000);
      expect([check.code, check.stderr]).toEqual([0, '']);
      // The source was read with the reader's key only, and pgBackRest asked it for read-only tokens; the new cluster's own
      // repository with the writer's.
      const issued = grants(restoredProxyLog);
      expect(issued.filter(g => g.issued === READER).length).toBeGreaterThan(0);
      expect(new Set(issued.filter(g => g.issued === READER).map(g => g.scope))).toEqual(new Set(['https://www.googleapis.com/auth/devstorage.read_only']));
      expect(issued.filter(g => g.issued === WRITER).map(g => g.scope)).toContain('https://www.googleapis.com/auth/devstorage.read_write');
      const names = JSON.parse(await gcsAdmin(cluster.hub.netns, 'console.log(JSON.stringify(await list("restored/")));')) as string[];
      expect(names).toContainEqual(expect.stringMatching(/^restored\/archive\/restored\/15-1\/0000000400000000\/[0-9A-F]{24}-[0-9a-f]{40}/));
      // The source's directory holds nothing of the new cluster.
      expect(JSON.parse(await gcsAdmin(cluster.hub.netns, 'console.log(JSON.stringify(await list("postgres/archive/postgres/15-1/00000004")));'))).toEqual([]);
    } finally {
      await restored.destroy();
    }
  }));
});

import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AzureCredentials, AzureUriStyle, RepositoryCaCertificate } from '../../src';
import { E2eCluster } from './harness/cluster';
import { runAsync, waitFor } from './harness/exec';
import { makeServerCertificates } from './harness/tls';
import { expectOnlyPrimary, failoverAroundTarget, isPrimary, POD, step, synthesizeToFile } from './support';

jest.setTimeout(300_000);

/** An image built FROM postgres:15 with pgBackRest added (docs/images/postgres-pgbackrest); the harness runs Debian's. */
const IMAGE = 'localhost/postgres-pgbackrest:15';
const ROWS = 'SELECT count(*), coalesce(sum(id), 0), md5(coalesce(string_agg(note, \',\' ORDER BY id), \'\')) FROM orders';
/** Azurite, the Azure Storage emulator (npm `azurite`), installed by test/setup/system-packages.sh. */
const AZURITE_PREFIX = '/opt/azurite';
const AZURITE_BLOB = `${AZURITE_PREFIX}/node_modules/.bin/azurite-blob`;
const AZURITE_INSTALL = `npm install --prefix ${AZURITE_PREFIX} azurite@3.37.0`;
/** The hub's address on the pod network (E2eCluster.hub): the server listens there, outside every pod. */
const HUB_ADDRESS = '198.18.1.1';
const BLOB_PORT = 10000;
const CONTAINER = 'pg-backups';
/** Azurite's account and its well-known key (the emulator's documented development account). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
/** A key of the right form (base64) that is not the account's. */
const WRONG_KEY = Buffer.from('not the storage account key').toString('base64');
const PASSPHRASE = 'correct horse battery staple';

/** Blob requests in the hub against Azurite, signed with the account's key as an administrator's would be (harness/bin/azure-blob.js). */
async function blobAdmin(hub: string, ca: string, args: string[], input?: string): Promise<string> {
  const result = await runAsync('ip', ['netns', 'exec', hub, process.execPath, path.join(__dirname, 'harness', 'bin', 'azure-blob.js'),
    `https://${HUB_ADDRESS}:${BLOB_PORT}`, ACCOUNT, ACCOUNT_KEY, ca, ...args], { timeoutMs: 90_000, input });
  if (result.code !== 0) throw new Error(`the blob client failed (${result.code}): ${result.stdout}${result.stderr}`);
  return result.stdout.trim();
}

/**
 * WAL archiving to Azure Blob Storage (walArchive.azure), on real PostgreSQL 15 and Debian's pgBackRest: Azurite over
 * TLS, with the account's shared key, in the hub namespace (outside the pods, on the pod network, as a storage account
 * outside the Kubernetes cluster), addressed path style. The primary archives into the container, encrypted; the full
 * backup CronJob backs up; a wrong key fails naming the repository and the 403, and once fixed the WAL held meanwhile
 * is archived; a SAS token backs up, an expired or read-only one fails; after a switchover the new primary archives and
 * the diff CronJob backs up from it; after a failover the next primary archives; a new cluster restored from the
 * container to a point in time (restoreFrom.azure,
 * with a read-only SAS token) holds exactly the rows committed before it.
 */
describe('WAL archiving to Azure Blob Storage (pgBackRest, Azurite over TLS)', () => {
  let cluster: E2eCluster;
  let azurite: ChildProcess | undefined;
  let pki: { ca: string; cert: string; key: string };
  let targetTime = '';
  let beforeTarget = '';
  let work: string;
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(AZURITE_BLOB)) {
      throw new Error(`Azurite is not installed in ${AZURITE_PREFIX}: run \`bash test/setup/system-packages.sh\` as root (npm test does), `
        + `or \`${AZURITE_INSTALL}\`.`);
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-e2e-azure-'));
    fs.chmodSync(work, 0o755);
    fs.mkdirSync(path.join(work, 'pki'));
    fs.mkdirSync(path.join(work, 'azurite'));
    pki = makeServerCertificates(path.join(work, 'pki'), HUB_ADDRESS, 'azure test CA');
    const manifest = synthesizeToFile({
      image: IMAGE,
      walArchive: {
        azure: {
          account: ACCOUNT,
          container: CONTAINER,
          endpoint: `${HUB_ADDRESS}:${BLOB_PORT}`,
          uriStyle: AzureUriStyle.PATH,
          caCertificate: RepositoryCaCertificate.fromSecret('azure-ca'),
          credentials: AzureCredentials.fromSecret('azure-storage'),
        },
        encryptionPassphraseSecretName: 'azure-passphrase',
      },
    });
    cluster = await E2eCluster.start({
      manifest,
      beforePods: async (c) => {
        expect(c.hub.address).toBe(HUB_ADDRESS);
        const log = fs.openSync(path.join(work, 'azurite.log'), 'a');
        // Azurite serves TLS itself with the certificate; its data in the test's directory; no telemetry.
        azurite = spawn('ip', ['netns', 'exec', c.hub.netns, process.execPath, fs.realpathSync(AZURITE_BLOB),
          '--blobHost', HUB_ADDRESS, '--blobPort', String(BLOB_PORT), '--cert', pki.cert, '--key', pki.key,
          '--location', path.join(work, 'azurite'), '--disableTelemetry', '--skipApiVersionCheck', '--loose'],
        { env: { PATH: process.env.PATH }, stdio: ['ignore', log, log], detached: true });
        await waitFor('Azurite to listen', async () => (await runAsync('ip', ['netns', 'exec', c.hub.netns, 'bash', '-c',
          `exec 3<>/dev/tcp/${HUB_ADDRESS}/${BLOB_PORT}`])).code === 0, 30_000, 200);
        await blobAdmin(c.hub.netns, pki.ca, ['create', CONTAINER]);
        c.updateSecret('azure-storage', { 'storage-key': ACCOUNT_KEY });
        c.updateSecret('azure-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
        c.updateSecret('azure-passphrase', { passphrase: PASSPHRASE });
      },
    });
  });

  afterAll(async () => {
    await cluster?.destroy();
    for (const server of [...servers, azurite]) {
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

  test('the primary archives into the container, encrypted; the full backup CronJob backs up into it', () => step(cluster, async () => {
    // The primary's entrypoint created the stanza in the container; `check` switches WAL and waits until it is archived.
    expect(cluster.pod(POD(0)).logSince(0)).toContain('pgBackRest: the repository has stanza postgres: WAL is archived');
    await waitFor('pgbackrest check to pass on the primary', async () => (await pgbackrest(POD(0), ['check'])).code === 0, 60_000, 500);
    const full = await cluster.runJob('postgres-archive-full');
    expect([full.code, full.stdout]).toEqual([0, expect.stringMatching(/full backup of stanza postgres on the primary, postgres-cluster-0[\s\S]*backup complete/)]);

    const info = await pgbackrest(POD(1), ['info', '--output=json']);
    expect(info.code).toBe(0);
    const stanza = JSON.parse(info.stdout)[0];
    expect([stanza.status.message, stanza.cipher, stanza.backup.map((b: any) => b.type)]).toEqual(['ok', 'aes-256-cbc', ['full']]);
    // In the container, under /postgres (the cluster's name): encrypted files (OpenSSL's salted format), no plain WAL or
    // manifest. The first bytes of every file but the backup's data files, and of 20 of those (each is a request).
    const names = JSON.parse(await blobAdmin(cluster.hub.netns, pki.ca, ['list', CONTAINER])) as string[];
    expect(names).toContainEqual(expect.stringMatching(/^postgres\/archive\/postgres\/15-1\/[0-9A-F]{16}\/[0-9A-F]{24}-[0-9a-f]{40}/));
    expect(names).toContain('postgres/backup/postgres/backup.info');
    expect(names.filter(n => !n.startsWith('postgres/'))).toEqual([]);
    const sample = [...names.filter(n => !n.includes('/pg_data/')), ...names.filter(n => n.includes('/pg_data/')).slice(0, 20)];
    const heads = JSON.parse(await blobAdmin(cluster.hub.netns, pki.ca, ['heads', CONTAINER, '8'], JSON.stringify(sample))) as Record<string, string>;
    expect(Object.keys(heads).filter(n => n.includes('/pg_data/'))).toHaveLength(20);
    expect(Object.entries(heads).filter(([, head]) => head !== 'Salted__')).toEqual([]);
  }));

  test('a wrong key: pgbackrest check fails, naming the repository and the 403; the right one archives again', () => step(cluster, async () => {
    const wrong = await pgbackrest(POD(0), ['check'], [`PGBACKREST_REPO1_AZURE_KEY=${WRONG_KEY}`]);
    expect(wrong.code).not.toBe(0);
    const said = wrong.stdout + wrong.stderr;
    // It names the repository it checked (repo1), the file in it, and the request that Azure refused (account, container, path).
    expect(said).toMatch(/INFO: check repo1 configuration \(primary\)\n.*check command end: aborted with exception \[039\]/);
    expect(said).toMatch(/ERROR: \[039\]: unable to load info file '\/postgres\/archive\/postgres\/archive.info'/);
    expect(said).toMatch(new RegExp('HTTP request failed with 403 \\(Server failed to authenticate the request[^)]*\\):\\s+\\*\\*\\* Path/Query \\*\\*\\*:\\s+'
      + `GET /${ACCOUNT}/${CONTAINER}/postgres/archive/postgres/archive.info`));
    expect((await pgbackrest(POD(0), ['check'])).code).toBe(0);
  }));

  test('a shared access signature (repo1-azure-key-type=sas, as AzureCredentials.sharedAccessSignature sets): a valid token backs up; an expired one or one that may not write fails with the 403', () => step(cluster, async () => {
    const token = async (permissions: string, expiresInMs: number) =>
      blobAdmin(cluster.hub.netns, pki.ca, ['sas', permissions, new Date(Date.now() + expiresInMs).toISOString().replace(/\.\d+Z$/, 'Z')]);
    // A backup by hand in the primary's postgres container (as the CronJobs run it), with the token in place of the key.
    const backupWith = async (sas: string) => {
      const result = await pgbackrest(POD(0), ['backup', '--type=incr'], ['PGBACKREST_REPO1_AZURE_KEY_TYPE=sas', `PGBACKREST_REPO1_AZURE_KEY=${sas}`]);
      return { code: result.code, said: result.stdout + result.stderr };
    };
    const expired = await backupWith(await token('rwdlac', -3_600_000));
    expect(expired.code).not.toBe(0);
    expect(expired.said).toMatch(/HTTP request failed with 403 \(Server failed to authenticate the request/);
    // Read and list only: the repository's info files are read, the backup's first write is refused.
    const readOnly = await backupWith(await token('rl', 3_600_000));
    expect(readOnly.code).not.toBe(0);
    expect(readOnly.said).toMatch(/HTTP request failed with 403 \(This request is not authorized to perform this operation using this permission/);
    const valid = await backupWith(await token('rwdlac', 3_600_000));
    expect([valid.code, valid.said]).toEqual([0, expect.stringMatching(/backup command end: completed successfully/)]);
    const info = await pgbackrest(POD(1), ['info', '--output=json']);
    expect(JSON.parse(info.stdout)[0].backup.map((b: any) => b.type)).toEqual(['full', 'incr']);
  }));

  /** Restarts the primary's pod (its containers read the Secrets again), and waits until it serves as the primary. */
  async function restartPrimary(): Promise<void> {
    await cluster.stopPod(POD(0));
    cluster.startPod(POD(0));
    await waitFor(`${POD(0)} to serve again`, () => cluster.pod(POD(0)).ready, 90_000, 250);
    await waitFor(`${POD(0)} to take writes`, async () => (await cluster.sql('postgres-write', 'SELECT 1')).code === 0, 30_000, 250);
  }

  test('a wrong key in the Secret: the primary cannot archive, its log names repo1 and the 403, an ArchiveFailing Event; with the key fixed and the pod restarted, every segment is archived', () => step(cluster, async () => {
    cluster.updateSecret('azure-storage', { 'storage-key': WRONG_KEY });
    const mark = cluster.pod(POD(0)).logMark();
    const seen = cluster.events().length;
    await restartPrimary();
    expect(await cluster.sql('postgres-write', 'CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 100) g'))
      .toMatchObject({ code: 0 });
    await cluster.podSql(POD(0), 'SELECT pg_switch_wal()');
    await waitFor('the archiver to fail', async () => Number(await cluster.podSql(POD(0), 'SELECT failed_count FROM pg_stat_archiver')) > 0, 60_000, 500);
    const log = cluster.pod(POD(0)).logSince(mark);
    expect(log).toMatch(/pgBackRest: stanza-create postgres failed \(ERROR: \[039\]: HTTP request failed with 403/);
    expect(log).toMatch(/unable to find a valid repository:\s+repo1: \[ProtocolError\] unable to load info file '\/postgres\/archive\/postgres\/archive.info'/);
    expect(log).toMatch(/HTTP request failed with 403 \(Server failed to authenticate the request/);
    expect(log).toMatch(/archive command failed with exit code \d+/);
    // And where people look: the primary's agent posts a Warning Event that names the segment that is not archived.
    const failing = () => cluster.events().slice(seen).filter(e => e.reason === 'ArchiveFailing' && e.involvedObject.name === POD(0));
    await waitFor('an ArchiveFailing Event', () => failing().length > 0, 30_000, 500);
    expect(failing()[0]).toMatchObject({ type: 'Warning', message: expect.stringMatching(/^archiving WAL fails: [0-9A-F]{24} is not archived /) });

    cluster.updateSecret('azure-storage', { 'storage-key': ACCOUNT_KEY });
    await restartPrimary();
    // `check` waits until the segment it switches to is archived: every one before it was pushed first, in order.
    expect((await pgbackrest(POD(0), ['check'])).code).toBe(0);
  }));

  test('after a switchover the new primary archives into the container, and the diff CronJob backs up from it', () => step(cluster, async () => {
    const switchover = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(1) });
    expect(switchover.code).toBe(0);
    await expectOnlyPrimary(cluster, POD(1), [POD(0), POD(1), POD(2)]);
    expect((await pgbackrest(POD(1), ['check'])).code).toBe(0);
    const diff = await cluster.runJob('postgres-archive-diff');
    expect([diff.code, diff.stdout]).toEqual([0, expect.stringMatching(/diff backup of stanza postgres on the primary, postgres-cluster-1[\s\S]*backup complete/)]);
    const info = await pgbackrest(POD(2), ['info', '--output=json']);
    expect(JSON.parse(info.stdout)[0].backup.map((b: any) => b.type)).toEqual(['full', 'incr', 'diff']);
  }));

  test('after the primary is killed and the failover job promotes a replica, the new primary archives into the container on its timeline', () => step(cluster, async () => {
    ({ targetTime, beforeTarget } = await failoverAroundTarget(cluster, pod => pgbackrest(pod, ['check'])));
  }));

  test('a new cluster restored from the container to a point in time (restoreFrom.azure, in another namespace, with a read-only SAS token) '
    + 'holds exactly the rows committed before it, runs as a cluster, and archives into its own directory', () => step(cluster, async () => {
    // The storage account outside both clusters: the restored cluster's hub reaches this Azurite through a Unix socket,
    // its TLS passed through unchanged (the same certificate for the same address).
    const socket = path.join(work, 'azurite.sock');
    servers.push(spawn('ip', ['netns', 'exec', cluster.hub.netns, process.execPath, path.join(__dirname, 'harness', 'bin', 'socket-bridge.js'),
      socket, `${HUB_ADDRESS}:${BLOB_PORT}`], { stdio: 'ignore', detached: true }));
    await waitFor('the socket bridge to listen', () => fs.existsSync(socket), 10_000, 100);
    // A token that may only read and list: a restore never writes to its source.
    const readOnlySas = await blobAdmin(cluster.hub.netns, pki.ca, ['sas', 'rl', new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z')]);
    const container = { account: ACCOUNT, container: CONTAINER, endpoint: `${HUB_ADDRESS}:${BLOB_PORT}`, uriStyle: AzureUriStyle.PATH };
    const manifest = synthesizeToFile({
      clusterName: 'restored',
      image: IMAGE,
      walArchive: { azure: { ...container, caCertificate: RepositoryCaCertificate.fromSecret('azure-ca'), credentials: AzureCredentials.fromSecret('azure-storage') } },
      restoreFrom: {
        clusterName: 'postgres',
        targetTime,
        azure: { ...container, caCertificate: RepositoryCaCertificate.fromSecret('source-ca'), credentials: AzureCredentials.sharedAccessSignature('source-sas') },
        encryptionPassphraseSecretName: 'source-passphrase',
      },
    });
    const restored = await E2eCluster.start({
      manifest,
      beforePods: async (c) => {
        servers.push(spawn('ip', ['netns', 'exec', c.hub.netns, process.execPath, path.join(__dirname, 'harness', 'bin', 'socket-bridge.js'),
          `${HUB_ADDRESS}:${BLOB_PORT}`, socket], { stdio: 'ignore', detached: true }));
        await waitFor('Azurite to be reached in the new cluster\'s hub', async () => (await runAsync('ip', ['netns', 'exec', c.hub.netns, 'bash', '-c',
          `exec 3<>/dev/tcp/${HUB_ADDRESS}/${BLOB_PORT}`])).code === 0, 30_000, 200);
        c.updateSecret('source-sas', { 'sas-token': readOnlySas });
        c.updateSecret('source-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
        c.updateSecret('source-passphrase', { passphrase: PASSPHRASE });
        c.updateSecret('azure-storage', { 'storage-key': ACCOUNT_KEY });
        c.updateSecret('azure-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
      },
    });
    try {
      const pod0 = 'restored-cluster-0';
      const restoreConf = restored.configMap('restored-config').data['pgbackrest-restore.conf'];
      expect(restoreConf).toContain('\nrepo1-type=azure\nrepo1-path=/postgres\n');
      expect(restoreConf).toContain('\nrepo1-azure-key-type=sas\n');
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
      // It archives with the account's key into its own directory of the container, as stanza "restored".
      const restoredCheck = await restored.pod(pod0).container('postgres').exec(['pgbackrest', '--stanza=restored', 'check'], 120_000);
      expect([restoredCheck.code, restoredCheck.stderr]).toEqual([0, '']);
      const names = JSON.parse(await blobAdmin(cluster.hub.netns, pki.ca, ['list', CONTAINER])) as string[];
      expect(names).toContainEqual(expect.stringMatching(/^restored\/archive\/restored\/15-1\/0000000400000000\/[0-9A-F]{24}-[0-9a-f]{40}/));
      // The source's directory holds nothing of the new cluster.
      expect(names.filter(n => n.startsWith('postgres/archive/postgres/15-1/00000004'))).toEqual([]);
    } finally {
      await restored.destroy();
    }
  }));
});

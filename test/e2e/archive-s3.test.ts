import { ChildProcess, execFileSync, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RepositoryCaCertificate, S3Credentials, S3UriStyle } from '../../src';
import { E2eCluster } from './harness/cluster';
import { runAsync, sleep, waitFor } from './harness/exec';
import { makeServerCertificates } from './harness/tls';
import { expectOnlyPrimary, failoverAroundTarget, isPrimary, POD, step, synthesizeToFile } from './support';

jest.setTimeout(300_000);

/** An image built FROM postgres:15 with pgBackRest added (docs/images/postgres-pgbackrest); the harness runs Debian's. */
const IMAGE = 'localhost/postgres-pgbackrest:15';
const ROWS = 'SELECT count(*), coalesce(sum(id), 0), md5(coalesce(string_agg(note, \',\' ORDER BY id), \'\')) FROM orders';
/** moto's S3 server (PyPI `moto[server]`), installed by test/setup/system-packages.sh. */
const MOTO_VENV = '/opt/moto-server';
const MOTO_INSTALL = `python3 -m venv ${MOTO_VENV} && ${MOTO_VENV}/bin/pip install 'moto[server]==5.2.6'`;
/** The hub's address on the pod network (E2eCluster.hub): the server listens there, outside every pod. */
const HUB_ADDRESS = '198.18.1.1';
const S3_PORT = 9000;
/** moto's own port, plain HTTP on the hub's loopback. */
const MOTO_PORT = 9001;
const BUCKET = 'pg-backups';

/** Python (boto3, which moto brings) run in the hub against the server: IAM and S3 calls as an administrator would make them. */
async function s3Admin(hub: string, ca: string, script: string, keys?: { id: string; secret: string }): Promise<string> {
  const program = [
    'import boto3, json, sys',
    `kw = dict(endpoint_url="https://${HUB_ADDRESS}:${S3_PORT}", region_name="us-east-1", verify=${JSON.stringify(ca)},`
      + ` aws_access_key_id=${JSON.stringify(keys?.id ?? 'setup')}, aws_secret_access_key=${JSON.stringify(keys?.secret ?? 'setup')})`,
    'iam, s3 = boto3.client("iam", **kw), boto3.client("s3", **kw)',
    script,
  ].join('\n');
  const result = await runAsync('ip', ['netns', 'exec', hub, `${MOTO_VENV}/bin/python`, '-c', program], { timeoutMs: 90_000 });
  if (result.code !== 0) throw new Error(`the S3 server's client failed (${result.code}): ${result.stdout}${result.stderr}`);
  return result.stdout.trim();
}

/**
 * WAL archiving to an S3-compatible server (walArchive.s3), on real PostgreSQL 15 and Debian's pgBackRest: moto's S3
 * server over TLS, with IAM authentication, in the hub namespace (outside the pods, on the pod network, as an object
 * store outside the Kubernetes cluster). The primary archives into the bucket, encrypted; the full backup CronJob backs
 * up; wrong credentials fail naming the repository, and once fixed the WAL held meanwhile is archived; after a
 * switchover the new primary archives and the diff CronJob backs up from it; after a failover the next primary archives;
 * a new cluster restored from the bucket to a point in time (restoreFrom.s3) holds exactly the rows committed before it.
 */
describe('WAL archiving to S3 (pgBackRest, moto S3 server over TLS)', () => {
  let cluster: E2eCluster;
  let moto: ChildProcess | undefined;
  let terminator: ChildProcess | undefined;
  let pki: { ca: string; cert: string; key: string };
  let keys: { id: string; secret: string };
  let readerKeys: { id: string; secret: string };
  let work: string;
  let beforeTarget = '';
  let targetTime = '';
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(`${MOTO_VENV}/bin/moto_server`)) {
      throw new Error(`moto's S3 server is not installed in ${MOTO_VENV}: run \`bash test/setup/system-packages.sh\` as root (npm test does), `
        + `or \`${MOTO_INSTALL}\`.`);
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-e2e-s3-'));
    fs.chmodSync(work, 0o755);
    fs.mkdirSync(path.join(work, 'pki'));
    pki = makeServerCertificates(path.join(work, 'pki'), HUB_ADDRESS, 's3 test CA');
    const manifest = synthesizeToFile({
      image: IMAGE,
      walArchive: {
        s3: {
          bucket: BUCKET,
          endpoint: `${HUB_ADDRESS}:${S3_PORT}`,
          uriStyle: S3UriStyle.PATH,
          caCertificate: RepositoryCaCertificate.fromSecret('s3-ca'),
          credentials: S3Credentials.fromSecret('s3-keys'),
        },
        encryptionPassphraseSecretName: 's3-passphrase',
        // Asynchronous archive-push (pgBackRest's queue on the run volume): everything below holds with it.
        asyncArchive: true,
      },
      // The logical backup's dumps are copied into the same bucket, under /dumps, the newest two kept there.
      backupS3: {
        bucket: BUCKET,
        path: '/dumps',
        endpoint: `${HUB_ADDRESS}:${S3_PORT}`,
        uriStyle: S3UriStyle.PATH,
        caCertificate: RepositoryCaCertificate.fromSecret('s3-ca'),
        credentials: S3Credentials.fromSecret('s3-keys'),
      },
      backupRetention: 2,
    });
    cluster = await E2eCluster.start({
      manifest,
      beforePods: async (c) => {
        expect(c.hub.address).toBe(HUB_ADDRESS);
        const log = fs.openSync(path.join(work, 'moto.log'), 'a');
        // moto serves plain HTTP on the hub's loopback; TLS is terminated in front of it (harness/bin/tls-terminator.js says why).
        execFileSync('ip', ['-n', c.hub.netns, 'link', 'set', 'lo', 'up']);
        // Every request after the first seven (the administrator's set-up below) must be signed by an IAM user's key.
        moto = spawn('ip', ['netns', 'exec', c.hub.netns, `${MOTO_VENV}/bin/moto_server`, '-H', '127.0.0.1', '-p', String(MOTO_PORT)],
          { env: { PATH: process.env.PATH, INITIAL_NO_AUTH_ACTION_COUNT: '7' }, stdio: ['ignore', log, log], detached: true });
        terminator = spawn('ip', ['netns', 'exec', c.hub.netns, process.execPath, path.join(__dirname, 'harness', 'bin', 'tls-terminator.js'),
          pki.cert, pki.key, HUB_ADDRESS, String(S3_PORT), `127.0.0.1:${MOTO_PORT}`], { stdio: ['ignore', log, log], detached: true });
        await waitFor('the S3 server to listen', async () => (await runAsync('ip', ['netns', 'exec', c.hub.netns, 'bash', '-c',
          `exec 3<>/dev/tcp/${HUB_ADDRESS}/${S3_PORT}`])).code === 0, 30_000, 200);
        const created = await s3Admin(c.hub.netns, pki.ca, [
          'iam.create_user(UserName="backup")',
          'iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=json.dumps({"Version": "2012-10-17", '
            + '"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))',
          'key = iam.create_access_key(UserName="backup")["AccessKey"]',
          `s3.create_bucket(Bucket="${BUCKET}")`,
          // A user who may only read the bucket, for the restore into a new cluster: a restore never writes to its source.
          // (AWS needs s3:GetObject and s3:ListBucket; moto names HEAD and ListObjectsV2 by their calls, hence the patterns.)
          'iam.create_user(UserName="restore")',
          'iam.put_user_policy(UserName="restore", PolicyName="read", PolicyDocument=json.dumps({"Version": "2012-10-17", '
            + '"Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*", "s3:Head*"], "Resource": "*"}]}))',
          'reader = iam.create_access_key(UserName="restore")["AccessKey"]',
          'print(json.dumps([{"id": k["AccessKeyId"], "secret": k["SecretAccessKey"]} for k in (key, reader)]))',
        ].join('\n'));
        [keys, readerKeys] = JSON.parse(created);
        c.updateSecret('s3-keys', { 'access-key-id': keys.id, 'secret-access-key': keys.secret });
        c.updateSecret('s3-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
        c.updateSecret('s3-passphrase', { passphrase: 'correct horse battery staple' });
      },
    });
  });

  afterAll(async () => {
    await cluster?.destroy();
    for (const server of [...servers, terminator, moto]) {
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

  test('the primary archives into the bucket, encrypted; the full backup CronJob backs up into it', () => step(cluster, async () => {
    // The primary's entrypoint created the stanza in the bucket; `check` switches WAL and waits until it is archived.
    expect(cluster.pod(POD(0)).logSince(0)).toContain('pgBackRest: the repository has stanza postgres: WAL is archived');
    await waitFor('pgbackrest check to pass on the primary', async () => (await pgbackrest(POD(0), ['check'])).code === 0, 60_000, 500);
    // Asynchronously (asyncArchive): archive-push says so for each segment, and its queue is on the run volume.
    expect(cluster.pod(POD(0)).logSince(0)).toMatch(/pushed WAL file '[0-9A-F]{24}' to the archive asynchronously/);
    const queue = await cluster.pod(POD(0)).container('postgres').exec(['test', '-d', '/var/run/postgresql/pgbackrest-spool/archive/postgres/out'], 10_000);
    expect(queue.code).toBe(0);
    const full = await cluster.runJob('postgres-archive-full');
    // The job checks that archiving works (check command) before it backs up.
    expect([full.code, full.stdout]).toEqual([0,
      expect.stringMatching(/full backup of stanza postgres on the primary, postgres-cluster-0[\s\S]*check command end: completed successfully[\s\S]*backup complete/)]);

    const info = await pgbackrest(POD(1), ['info', '--output=json']);
    expect(info.code).toBe(0);
    const stanza = JSON.parse(info.stdout)[0];
    expect([stanza.status.message, stanza.cipher, stanza.backup.map((b: any) => b.type)]).toEqual(['ok', 'aes-256-cbc', ['full']]);
    // In the bucket, under /postgres (the cluster's name): encrypted files (OpenSSL's salted format), no plain WAL or manifest.
    // The first bytes of every file but the backup's data files, and of 20 of those (each is a request: there are ~1000).
    const { names, heads } = JSON.parse(await s3Admin(cluster.hub.netns, pki.ca, [
      `pages = s3.get_paginator("list_objects_v2").paginate(Bucket="${BUCKET}")`,
      'names = [o["Key"] for p in pages for o in p.get("Contents", [])]',
      'sample = [n for n in names if "/pg_data/" not in n] + [n for n in names if "/pg_data/" in n][:20]',
      `heads = {n: s3.get_object(Bucket="${BUCKET}", Key=n, Range="bytes=0-7")["Body"].read().decode("latin-1") for n in sample}`,
      'print(json.dumps({"names": names, "heads": heads}))',
    ].join('\n'), keys)) as { names: string[]; heads: Record<string, string> };
    expect(Object.keys(heads).filter(n => n.includes('/pg_data/'))).toHaveLength(20);
    expect(names).toContainEqual(expect.stringMatching(/^postgres\/archive\/postgres\/15-1\/[0-9A-F]{16}\/[0-9A-F]{24}-[0-9a-f]{40}/));
    expect(names).toContain('postgres/backup/postgres/backup.info');
    expect(names.filter(n => !n.startsWith('postgres/'))).toEqual([]);
    expect(Object.entries(heads).filter(([, head]) => head !== 'Salted__')).toEqual([]);
  }));

  test('the logical backup copies each dump into the bucket (backupS3), byte for byte, keeping the newest two there', () => step(cluster, async () => {
    const listDumps = async () => JSON.parse(await s3Admin(cluster.hub.netns, pki.ca, [
      `pages = s3.get_paginator("list_objects_v2").paginate(Bucket="${BUCKET}", Prefix="dumps/")`,
      'print(json.dumps(sorted(o["Key"] for p in pages for o in p.get("Contents", []))))',
    ].join('\n'), keys)) as string[];
    const made: string[] = [];
    for (let run = 0; run < 3; run++) {
      // Dumps are named to the second.
      if (run > 0) await sleep(1100);
      const job = await cluster.runJob('postgres-backup');
      expect([job.code, job.stdout + job.stderr]).toEqual([0, expect.stringMatching(/copy complete: dumps\/myapp-\d{8}T\d{6}Z\.dump is in bucket pg-backups on 198\.18\.1\.1:9000/)]);
      made.push(/copy complete: dumps\/(myapp-\d{8}T\d{6}Z\.dump)/.exec(job.stdout + job.stderr)![1]);
    }
    expect(await listDumps()).toEqual(made.slice(1).map(name => `dumps/${name}`));
    // The object is the dump the volume holds, byte for byte (backup.test.ts restores such dumps).
    const newest = made[2];
    const volumeMd5 = createHash('md5').update(fs.readFileSync(path.join(cluster.claimDir('postgres-backup'), newest))).digest('hex');
    expect(await s3Admin(cluster.hub.netns, pki.ca,
      `import hashlib\nprint(hashlib.md5(s3.get_object(Bucket="${BUCKET}", Key="dumps/${newest}")["Body"].read()).hexdigest())`, keys)).toBe(volumeMd5);
  }));

  test('wrong credentials: pgbackrest check fails, naming the repository; the right ones archive again', () => step(cluster, async () => {
    const wrong = await pgbackrest(POD(0), ['check'], ['PGBACKREST_REPO1_S3_KEY_SECRET=not-the-secret']);
    expect(wrong.code).not.toBe(0);
    const said = wrong.stdout + wrong.stderr;
    // It names the repository it checked (repo1), the file in it, and the request that S3 refused (bucket and path).
    expect(said).toMatch(/INFO: check repo1 configuration \(primary\)\n.*check command end: aborted with exception \[039\]/);
    expect(said).toMatch(/ERROR: \[039\]: unable to load info file '\/postgres\/archive\/postgres\/archive.info'/);
    expect(said).toMatch(new RegExp(`HTTP request failed with 403 \\(FORBIDDEN\\):\\s+\\*\\*\\* Path/Query \\*\\*\\*:\\s+GET /${BUCKET}/postgres/archive/postgres/archive.info`));
    expect((await pgbackrest(POD(0), ['check'])).code).toBe(0);
  }));

  /** Restarts the primary's pod (its containers read the Secrets again), and waits until it serves as the primary. */
  async function restartPrimary(): Promise<void> {
    await cluster.stopPod(POD(0));
    cluster.startPod(POD(0));
    await waitFor(`${POD(0)} to serve again`, () => cluster.pod(POD(0)).ready, 90_000, 250);
    await waitFor(`${POD(0)} to take writes`, async () => (await cluster.sql('postgres-write', 'SELECT 1')).code === 0, 30_000, 250);
  }

  test('a wrong key in the Secret: the primary cannot archive and its log names repo1 and the 403; with the key fixed and the pod restarted, it archives again', () => step(cluster, async () => {
    cluster.updateSecret('s3-keys', { 'secret-access-key': 'not-the-secret' });
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
    expect(log).toMatch(/HTTP request failed with 403 \(FORBIDDEN\)[\s\S]*<Code>SignatureDoesNotMatch<\/Code>/);
    expect(log).toMatch(/archive command failed with exit code \d+/);
    // And where people look: the primary's agent posts a Warning Event that names the segment that is not archived.
    const failing = () => cluster.events().slice(seen).filter(e => e.reason === 'ArchiveFailing' && e.involvedObject.name === POD(0));
    await waitFor('an ArchiveFailing Event', () => failing().length > 0, 30_000, 500);
    expect(failing()[0]).toMatchObject({ type: 'Warning', message: expect.stringMatching(/^archiving WAL fails: [0-9A-F]{24} is not archived /) });

    cluster.updateSecret('s3-keys', { 'secret-access-key': keys.secret });
    await restartPrimary();
    // `check` waits until the segment it switches to is archived: every one before it was pushed first, in order.
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

  test('a new cluster restored from the bucket to a point in time (restoreFrom.s3, in another namespace, with read-only keys) '
    + 'holds exactly the rows committed before it, runs as a cluster, and archives into its own directory', () => step(cluster, async () => {
    // The object store outside both clusters: the restored cluster's hub reaches the same server through a Unix socket.
    const socket = path.join(work, 'moto.sock');
    servers.push(spawn('ip', ['netns', 'exec', cluster.hub.netns, process.execPath, path.join(__dirname, 'harness', 'bin', 'socket-bridge.js'),
      socket, `127.0.0.1:${MOTO_PORT}`], { stdio: 'ignore', detached: true }));
    await waitFor('the socket bridge to listen', () => fs.existsSync(socket), 10_000, 100);
    const bucket = { bucket: BUCKET, endpoint: `${HUB_ADDRESS}:${S3_PORT}`, uriStyle: S3UriStyle.PATH, caCertificate: RepositoryCaCertificate.fromSecret('s3-ca') };
    const manifest = synthesizeToFile({
      clusterName: 'restored',
      image: IMAGE,
      walArchive: { s3: { ...bucket, credentials: S3Credentials.fromSecret('s3-keys') } },
      restoreFrom: {
        clusterName: 'postgres',
        targetTime,
        s3: { ...bucket, caCertificate: RepositoryCaCertificate.fromSecret('source-ca'), credentials: S3Credentials.fromSecret('source-keys') },
        encryptionPassphraseSecretName: 'source-passphrase',
      },
    });
    const restored = await E2eCluster.start({
      manifest,
      beforePods: async (c) => {
        execFileSync('ip', ['-n', c.hub.netns, 'link', 'set', 'lo', 'up']);
        servers.push(spawn('ip', ['netns', 'exec', c.hub.netns, process.execPath, path.join(__dirname, 'harness', 'bin', 'tls-terminator.js'),
          pki.cert, pki.key, HUB_ADDRESS, String(S3_PORT), socket], { stdio: 'ignore', detached: true }));
        await waitFor('the S3 server to listen in the new cluster\'s hub', async () => (await runAsync('ip', ['netns', 'exec', c.hub.netns, 'bash', '-c',
          `exec 3<>/dev/tcp/${HUB_ADDRESS}/${S3_PORT}`])).code === 0, 30_000, 200);
        c.updateSecret('source-keys', { 'access-key-id': readerKeys.id, 'secret-access-key': readerKeys.secret });
        c.updateSecret('source-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
        c.updateSecret('source-passphrase', { passphrase: 'correct horse battery staple' });
        c.updateSecret('s3-keys', { 'access-key-id': keys.id, 'secret-access-key': keys.secret });
        c.updateSecret('s3-ca', { 'ca.crt': fs.readFileSync(pki.ca, 'utf8') });
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
      // It archives with its own keys into its own directory of the bucket, as stanza "restored".
      const check = await restored.pod(pod0).container('postgres').exec(['pgbackrest', '--stanza=restored', 'check'], 120_000);
      expect([check.code, check.stderr]).toEqual([0, '']);
      const names = JSON.parse(await s3Admin(cluster.hub.netns, pki.ca, [
        `pages = s3.get_paginator("list_objects_v2").paginate(Bucket="${BUCKET}", Prefix="restored/")`,
        'print(json.dumps([o["Key"] for p in pages for o in p.get("Contents", [])]))',
      ].join('\n'), keys)) as string[];
      expect(names).toContainEqual(expect.stringMatching(/^restored\/archive\/restored\/15-1\/0000000400000000\/[0-9A-F]{24}-[0-9a-f]{40}/));
      // The source's directory holds nothing of the new cluster.
      const source = JSON.parse(await s3Admin(cluster.hub.netns, pki.ca, [
        `pages = s3.get_paginator("list_objects_v2").paginate(Bucket="${BUCKET}", Prefix="postgres/archive/postgres/15-1/00000004")`,
        'print(json.dumps([o["Key"] for p in pages for o in p.get("Contents", [])]))',
      ].join('\n'), keys)) as string[];
      expect(source).toEqual([]);
    } finally {
      await restored.destroy();
    }
  }));
});

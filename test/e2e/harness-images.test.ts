import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { E2eCluster } from './harness/cluster';
import { emulateImage, PGBACKREST } from './harness/images';

jest.setTimeout(120_000);

describe('emulated images', () => {
  test('<registry>/postgres-pgbackrest:<major> is the postgres image plus pgBackRest; no other image has pgBackRest', () => {
    const plain = emulateImage('postgres:15', '/stand-in');
    for (const image of ['localhost/postgres-pgbackrest:15', 'example.com/team/postgres-pgbackrest:15', 'postgres-pgbackrest:15.4']) {
      const withPgbackrest = emulateImage(image, '/stand-in');
      expect([image, withPgbackrest.env, withPgbackrest.stopSignal]).toEqual([image, plain.env, plain.stopSignal]);
      expect(withPgbackrest.hiddenPaths).toEqual([]);
      expect(withPgbackrest.writableDirs).toEqual([
        ...plain.writableDirs,
        ...['/var/log/pgbackrest', '/var/lib/pgbackrest', '/var/spool/pgbackrest'].map(p => ({ path: p, uid: 999, mode: 0o750 })),
      ]);
    }
    expect(plain.hiddenPaths).toEqual([PGBACKREST]);
    expect(emulateImage('docker.io/library/postgres:15.6', '/stand-in').hiddenPaths).toEqual([PGBACKREST]);
    expect(emulateImage('docker.io/alpine/k8s:1.33.9', '/stand-in').hiddenPaths).toEqual([PGBACKREST]);
    expect(emulateImage('quay.io/prometheuscommunity/postgres-exporter:v0.15.0', '/stand-in').hiddenPaths).toEqual([PGBACKREST]);
    expect(() => emulateImage('localhost/postgres-pgbackrest:16', '/stand-in')).toThrow('this machine has PostgreSQL 15 only (and 17, without pgBackRest)');
    expect(() => emulateImage('localhost/postgres-pgbackrest:17', '/stand-in')).toThrow('this machine has PostgreSQL 15 only (and 17, without pgBackRest)');
    expect(emulateImage('postgres:17', '/stand-in').env).toMatchObject({ PATH: expect.stringMatching(/^\/opt\/postgresql-17\/bin:/), PG_MAJOR: '17' });
    expect(emulateImage('postgres:17', '/stand-in').hiddenPaths).toEqual([PGBACKREST]);
    expect(() => emulateImage('localhost/postgres-pgbackrest-tools:15', '/stand-in')).toThrow('cannot emulate image');
  });
});

/**
 * Containers see the files of their image: pgBackRest only in the postgres-pgbackrest image, in the container's
 * processes, in `kubectl exec` and in exec probes alike (a read-only root too); and claims given to the cluster
 * hold their data from the start.
 */
describe('images in containers, and claims that hold data before the cluster starts', () => {
  let cluster: E2eCluster;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-images-'));
  const manifest = path.join(scratch, 'images.k8s.yaml');
  const repo = path.join(scratch, 'repo');
  const data = path.join(scratch, 'data');
  const labels = { app: 'images' };
  const sleep = ['bash', '-c', 'exec sleep 3600'];
  const objects: object[] = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'images-headless' }, spec: { clusterIP: 'None', selector: labels, ports: [{ port: 5432 }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'images-write' }, spec: { selector: { ...labels, role: 'primary' }, ports: [{ port: 5432 }] } },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'images' },
      spec: {
        replicas: 1,
        serviceName: 'images-headless',
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true },
            containers: [
              {
                name: 'plain',
                image: 'postgres:15',
                command: sleep,
                securityContext: { readOnlyRootFilesystem: true },
                // Ready only if the probe, run like `kubectl exec`, finds no pgbackrest.
                readinessProbe: { exec: { command: ['bash', '-c', '! command -v pgbackrest'] }, periodSeconds: 1 },
              },
              {
                name: 'backrest',
                image: 'localhost/postgres-pgbackrest:15',
                command: sleep,
                readinessProbe: { exec: { command: ['pgbackrest', 'version'] }, periodSeconds: 1 },
                volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }, { name: 'repo', mountPath: '/var/lib/pgbackrest' }],
              },
              {
                name: 'backrest-read-only',
                image: 'localhost/postgres-pgbackrest:15',
                command: sleep,
                securityContext: { readOnlyRootFilesystem: true },
              },
            ],
            volumes: [{ name: 'repo', persistentVolumeClaim: { claimName: 'images-repo' } }],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    },
  ];
  const run = (container: string, script: string) => cluster.pod('images-0').container(container).exec(['bash', '-c', script], 20_000);

  beforeAll(async () => {
    fs.writeFileSync(manifest, objects.map(o => stringify(o)).join('---\n'));
    // A repository another cluster left: the postgres user's, mode 0750, a file of mode 0640.
    fs.mkdirSync(path.join(repo, 'archive', 'demo'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'archive', 'demo', 'archive.info'), 'left by another cluster\n', { mode: 0o640 });
    for (const p of [repo, path.join(repo, 'archive'), path.join(repo, 'archive', 'demo')]) {
      fs.chownSync(p, 999, 999);
      fs.chmodSync(p, 0o750);
    }
    fs.chownSync(path.join(repo, 'archive', 'demo', 'archive.info'), 999, 999);
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'PG_VERSION'), '15\n');
    cluster = await E2eCluster.start({ manifest, claims: { 'images-repo': repo, 'data-images-0': data } });
  });

  afterAll(async () => {
    await cluster?.destroy();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('postgres:15 has no pgbackrest: `command -v` prints nothing, running it is "command not found"; the rest of /usr/bin is there', async () => {
    // Ready: its exec readiness probe found no pgbackrest either.
    expect(cluster.pod('images-0').container('plain').ready).toBe(true);
    expect(await run('plain', 'command -v pgbackrest')).toEqual({ code: 1, stdout: '', stderr: '' });
    expect(await run('plain', 'pgbackrest version; echo "exit=$?"; ls /usr/bin/pgbackrest /bin/pgbackrest 2>&1 | wc -l'))
      .toMatchObject({ code: 0, stdout: 'exit=127\n2\n' });
    expect(await run('plain', 'command -v bash; pg_ctl --version')).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\/usr\/bin\/bash\npg_ctl \(PostgreSQL\) 15\./) });
    // As `kubectl exec` reaches it, through the API stand-in.
    const exec = await cluster.kubectl(['exec', 'images-0', '-c', 'plain', '--', 'bash', '-c', 'command -v pgbackrest; echo "exit=$?"']);
    expect(exec).toMatchObject({ code: 0, stdout: 'exit=1\n' });
    // Hidden in the container only: the host (the test's mount namespace) has the file, and no overlay on /usr/bin.
    expect(fs.statSync(PGBACKREST).isFile()).toBe(true);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(line => / \/usr\/bin .* - overlay /.test(line))).toEqual([]);
    const inContainer = await run('plain', 'grep -c " /usr/bin .* - overlay " /proc/self/mountinfo');
    expect(inContainer.stdout).toBe('1\n');
  });

  test('localhost/postgres-pgbackrest:15 has the host\'s pgBackRest 2.45 and its directories, the postgres user\'s', async () => {
    expect(cluster.pod('images-0').container('backrest').ready).toBe(true);
    expect(await run('backrest', 'command -v pgbackrest; pgbackrest version')).toEqual({ code: 0, stdout: `${PGBACKREST}\npgBackRest 2.45\n`, stderr: '' });
    expect((await cluster.kubectl(['exec', 'images-0', '-c', 'backrest', '--', 'pgbackrest', 'version'])).stdout).toBe('pgBackRest 2.45\n');
    expect((await run('backrest', 'stat -c "%n %u:%g %a" /var/log/pgbackrest /var/spool/pgbackrest; touch /var/log/pgbackrest/x')).stdout)
      .toBe('/var/log/pgbackrest 999:999 750\n/var/spool/pgbackrest 999:999 750\n');
  });

  test('on a read-only root the image\'s own pgBackRest directories are there, the postgres user\'s and read-only, never the host\'s', async () => {
    // Debian's package on the host makes /var/spool/pgbackrest its own postgres user's (uid 101 here, 0750), which uid 999
    // could not even list: the container sees the image's directory instead, as a real one would.
    const view = await run('backrest-read-only', 'stat -c "%n %u:%g %a" /var/spool/pgbackrest /var/log/pgbackrest; ls -A /var/spool/pgbackrest; '
      + 'touch /var/spool/pgbackrest/x 2>&1 | grep -o "Read-only file system"');
    expect(view).toMatchObject({ code: 0, stdout: '/var/spool/pgbackrest 999:999 750\n/var/log/pgbackrest 999:999 750\nRead-only file system\n' });
  });

  test('claims hold the given directories\' content from the start, owners and modes kept; the sources are unchanged', async () => {
    const repoView = await run('backrest', 'cd /var/lib/pgbackrest && stat -c "%n %u:%g %a" . archive archive/demo archive/demo/archive.info && cat archive/demo/archive.info');
    expect(repoView.stdout).toBe('. 999:999 750\narchive 999:999 750\narchive/demo 999:999 750\narchive/demo/archive.info 999:999 640\nleft by another cluster\n');
    expect((await run('backrest', 'ls -A /var/lib/postgresql/data; cat /var/lib/postgresql/data/PG_VERSION')).stdout).toBe('PG_VERSION\nlost+found\n15\n');
    expect(fs.readdirSync(data)).toEqual(['PG_VERSION']);
    expect(cluster.claimDir('images-repo')).not.toBe(repo);
  });

  test('a claim that is not a directory fails the start', async () => {
    await expect(E2eCluster.start({ manifest, claims: { 'images-repo': path.join(scratch, 'absent') } })).rejects.toThrow(/claims\.images-repo: .* is not a directory/);
  });
});

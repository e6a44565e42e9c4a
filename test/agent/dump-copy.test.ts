import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { DumpCopyConfig } from '../../src/agent/config';
import {
  amzDateOf, authorization, canonicalQuery, copyDump, DumpCopyIo, EMPTY_SHA256, keyPrefixOf, keysToRemove, newestDump, parseListing, partSizeOf,
  S3Bucket, uriEncode,
} from '../../src/agent/dump-copy';
import { DUMP_COPY_DOCUMENT as CONFIG } from '../support/dump-copy-config';

const MIB = 1024 * 1024;

describe('AWS Signature Version 4', () => {
  /** The Authorization header of a GET of / with these headers, for one made-up key, region and moment. */
  const signedGet = (headers: Record<string, string>) =>
    authorization({ method: 'GET', path: '/', headers, payloadSha256: EMPTY_SHA256 }, { id: 'id', secret: 'secret' }, 'r', '20260101T000000Z');

  // The example of Amazon S3's documentation ("Signature Calculations for the Authorization Header", GET Object).
  test('signs the documented GET Object example to the documented signature', () => {
    const header = authorization({
      method: 'GET',
      path: '/test.txt',
      headers: { 'Host': 'examplebucket.s3.amazonaws.com', 'Range': 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z' },
      payloadSha256: EMPTY_SHA256,
    }, { id: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }, 'us-east-1', '20130524T000000Z');
    expect(header).toBe('AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, '
      + 'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  test('signs the documented ListObjects example (a query, sorted and encoded)', () => {
    const header = authorization({
      method: 'GET',
      path: '/',
      query: { 'prefix': 'J', 'max-keys': '2' },
      headers: { 'host': 'examplebucket.s3.amazonaws.com', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z' },
      payloadSha256: EMPTY_SHA256,
    }, { id: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }, 'us-east-1', '20130524T000000Z');
    expect(header).toMatch(/Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7$/);
  });

  test.each([
    ['abc-._~XYZ019', false, 'abc-._~XYZ019'],
    ['a b/c', false, 'a%20b%2Fc'],
    ['a b/c', true, 'a%20b/c'],
    ['$file+é', true, '%24file%2B%C3%A9'],
    ['a\nb', true, 'a%0Ab'],
  ])('encodes %j (keep "/": %s) as %j', (text, keepSlash, encoded) => {
    expect(uriEncode(text, keepSlash)).toBe(encoded);
  });

  test('a query is sorted by name, each name and value encoded; none is empty', () => {
    expect(canonicalQuery({ 'uploadId': 'a/b', 'partNumber': '2', 'list-type': '2' })).toBe('list-type=2&partNumber=2&uploadId=a%2Fb');
    expect(canonicalQuery({ uploads: '' })).toBe('uploads=');
    expect(canonicalQuery()).toBe('');
    expect(canonicalQuery({ 'a/b': 'c' })).toBe('a%2Fb=c');
  });

  test('headers are signed sorted by their lower-case names, whatever order and case they come in', () => {
    const sorted = signedGet({ 'host': 'h', 'range': 'bytes=0-9', 'x-amz-date': '20260101T000000Z' });
    expect(signedGet({ 'x-amz-date': '20260101T000000Z', 'Range': 'bytes=0-9', 'Host': 'h' })).toBe(sorted);
    expect(signedGet({ 'range': 'bytes=0-9', 'x-amz-date': '20260101T000000Z', 'host': 'h' })).toBe(sorted);
    expect(sorted).toContain('SignedHeaders=host;range;x-amz-date,');
  });

  test('header values are trimmed and their inner spaces folded before signing', () => {
    const sign = (value: string) => signedGet({ 'host': 'h', 'x-amz-meta-a': value });
    expect(sign('  a   b ')).toBe(sign('a b'));
    expect(sign('a b')).not.toBe(sign('ab'));
  });

  test('x-amz-date is the moment in UTC, to the second', () => {
    expect(amzDateOf(new Date('2026-12-06T07:08:09.123Z'))).toBe('20261206T070809Z');
  });
});

describe('the dump copy\'s decisions', () => {
  test('the newest complete dump of the database: partial dumps, other databases and other files are not dumps', () => {
    expect(newestDump(['myapp-20261201T030000Z.dump', 'myapp-20261203T030000Z.dump', 'myapp-20261202T030000Z.dump',
      '.myapp-20261204T030000Z.dump.partial', 'other-20261205T030000Z.dump', 'myapp-20261206.dump', 'lost+found',
      'myapp-x20261207T030000Z.dump', 'myapp-20261208T030000Z.dump.old'], 'myapp'))
      .toBe('myapp-20261203T030000Z.dump');
    expect(newestDump(['.myapp-20261204T030000Z.dump.partial'], 'myapp')).toBeUndefined();
    expect(newestDump([], 'myapp')).toBeUndefined();
  });

  test('the bucket keeps the newest `retention` dumps under the prefix; other keys are never removed', () => {
    const keys = ['p/myapp-20261201T030000Z.dump', 'p/myapp-20261203T030000Z.dump', 'p/myapp-20261202T030000Z.dump', 'p/readme.txt',
      'p/other-20261101T030000Z.dump', 'q/myapp-20261101T030000Z.dump', 'p/sub/myapp-20261101T030000Z.dump'];
    expect(keysToRemove(keys, 'p/', 'myapp', 2)).toEqual(['p/myapp-20261201T030000Z.dump']);
    expect(keysToRemove(keys, 'p/', 'myapp', 1)).toEqual(['p/myapp-20261202T030000Z.dump', 'p/myapp-20261201T030000Z.dump']);
    expect(keysToRemove(keys, 'p/', 'myapp', 3)).toEqual([]);
  });

  test.each([['/postgres/logical', 'postgres/logical/'], ['/', ''], ['/a', 'a/'], ['//a', 'a/'], ['a//b', 'a//b/']])('path %j: keys start with %j', (p, prefix) => {
    expect(keyPrefixOf(p)).toBe(prefix);
  });

  test('parts are 16 MiB, larger when 10,000 parts would not hold the file', () => {
    expect(partSizeOf(0)).toBe(16 * MIB);
    expect(partSizeOf(160_000 * MIB)).toBe(16 * MIB);
    expect(partSizeOf(160_001 * MIB)).toBe(17 * MIB);
    expect(partSizeOf(1_000_000 * MIB)).toBe(100 * MIB);
  });

  test('a listing\'s keys, unescaped, and the token of the next page only while it is truncated', () => {
    const page = '<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b.dump</Key></Contents>'
      + '<Contents><Key>c&lt;d</Key></Contents><NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>';
    expect(parseListing(page)).toEqual({ keys: ['a&b.dump', 'c<d'], next: 't&1' });
    expect(parseListing(page.replace('true', 'false'))).toEqual({ keys: ['a&b.dump', 'c<d'] });
    expect(parseListing('<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>')).toEqual({ keys: [] });
    expect(parseListing('<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>e&gt;f&quot;g&apos;h</Key></Contents></ListBucketResult>'))
      .toEqual({ keys: ['e>f"g\'h'] });
  });

  function io(files: string[], bucketKeys: string[], fail?: string): DumpCopyIo & { said: string[]; put: string[]; removed: string[] } {
    const said: string[] = [];
    const put: string[] = [];
    const removed: string[] = [];
    return {
      said,
      put,
      removed,
      listDumps: () => files,
      log: message => said.push(message),
      bucket: {
        putFile: async (file, key) => {
          if (fail === 'put') throw new Error('PUT refused: HTTP 403 AccessDenied');
          put.push(`${file} -> ${key}`);
          bucketKeys.push(key);
        },
        list: async prefix => bucketKeys.filter(key => key.startsWith(prefix)),
        remove: async key => { removed.push(key); },
      },
    };
  }

  test('copies the newest dump under the path, then removes the oldest beyond the retention', async () => {
    const world = io(['myapp-20261205T030000Z.dump', 'myapp-20261206T030000Z.dump'],
      ['postgres/logical/myapp-20261204T030000Z.dump', 'postgres/logical/myapp-20261205T030000Z.dump']);
    expect(await copyDump(CONFIG, world)).toBe(0);
    expect(world.put).toEqual(['/backup/myapp-20261206T030000Z.dump -> postgres/logical/myapp-20261206T030000Z.dump']);
    expect(world.removed).toEqual(['postgres/logical/myapp-20261204T030000Z.dump']);
    expect(world.said).toEqual([
      'copying myapp-20261206T030000Z.dump into bucket dumps on 127.0.0.1:9000 as postgres/logical/myapp-20261206T030000Z.dump',
      'removing postgres/logical/myapp-20261204T030000Z.dump from the bucket (keeping the newest 2)',
      'copy complete: postgres/logical/myapp-20261206T030000Z.dump is in bucket dumps on 127.0.0.1:9000',
    ]);
  });

  test('no dump: fails, saying so, and touches nothing', async () => {
    const world = io(['.myapp-20261206T030000Z.dump.partial'], ['postgres/logical/myapp-20261204T030000Z.dump']);
    expect(await copyDump(CONFIG, world)).toBe(1);
    expect([world.put, world.removed]).toEqual([[], []]);
    expect(world.said).toEqual(['no dump of myapp in /backup: nothing to copy (did the backup container fail?)']);
  });

  test('a refused upload fails the copy, naming the dump, the bucket and the answer; nothing is removed', async () => {
    const world = io(['myapp-20261206T030000Z.dump'], ['postgres/logical/myapp-20261101T030000Z.dump', 'postgres/logical/myapp-20261102T030000Z.dump']);
    expect(await copyDump({ ...CONFIG, retention: 1 }, Object.assign(world, {}))).toBe(0);
    const failing = io(['myapp-20261206T030000Z.dump'], ['postgres/logical/myapp-20261101T030000Z.dump'], 'put');
    expect(await copyDump({ ...CONFIG, retention: 1 }, failing)).toBe(1);
    expect(failing.removed).toEqual([]);
    expect(failing.said.pop()).toBe('copying myapp-20261206T030000Z.dump into bucket dumps on 127.0.0.1:9000 failed: PUT refused: HTTP 403 AccessDenied');
  });
});

/** moto's S3 server (installed by test/setup/system-packages.sh), plain HTTP on loopback, behind the harness's TLS terminator. */
const MOTO = '/opt/moto-server/bin/moto_server';

describe('S3Bucket against a real S3 server (moto over TLS, IAM keys checked)', () => {
  let dir: string;
  const servers: ChildProcess[] = [];
  let config: DumpCopyConfig;
  let keys: { id: string; secret: string };
  let tlsPort = 0;
  let motoPort = 0;
  /**
   * A request as the fault proxy saw it: its TLS server name (SNI, false when the client sent none), its Content-Length,
   * its body, and the ETag of moto's answer when it was forwarded.
   */
  interface Seen {
    readonly method: string;
    readonly url: string;
    readonly host: string;
    readonly servername: string | false;
    readonly length: string | undefined;
    readonly size: number;
    readonly body: string;
    etag?: string;
  }
  /**
   * The fault proxy: TLS in front of moto that answers a request itself when `fault` returns an answer (as S3 answers
   * when it fails: an error status, or 200 with an error inside), leaves it unanswered for 'silence', and forwards every
   * other request to moto as it is. It listens on 127.0.0.1 and on another loopback address (127.x.y.z, each part of two
   * digits, drawn at random so that two runs side by side never meet), a free port each, and on that address's 443
   * (HTTPS's own port: the tests run as root).
   */
  const faultProxies: https.Server[] = [];
  const otherLoopback = `127.${[0, 0, 0].map(() => 10 + Math.floor(Math.random() * 90)).join('.')}`;
  let seen: Seen[] = [];
  let fault: (request: Seen) => { status: number; body: string } | 'silence' | undefined = () => undefined;

  const freePort = () => new Promise<number>(resolve => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });

  const admin = (script: string): string => {
    const program = [
      'import boto3, json, sys',
      `kw = dict(endpoint_url="http://127.0.0.1:${motoPort}", region_name="us-east-1", aws_access_key_id=${JSON.stringify(keys?.id ?? 'setup')},`
        + ` aws_secret_access_key=${JSON.stringify(keys?.secret ?? 'setup')})`,
      'iam, s3 = boto3.client("iam", **kw), boto3.client("s3", **kw)',
      script,
    ].join('\n');
    const result = spawnSync('/opt/moto-server/bin/python', ['-c', program], { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`boto3 failed: ${result.stdout}${result.stderr}`);
    return result.stdout.trim();
  };

  beforeAll(async () => {
    if (!fs.existsSync(MOTO)) throw new Error(`${MOTO} is missing: run \`bash test/setup/system-packages.sh\` as root (npm test does)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dump-copy-'));
    const file = (name: string) => path.join(dir, name);
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=test CA');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
    fs.writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'),
      '-days', '1', '-extfile', file('server.ext'));
    motoPort = await freePort();
    tlsPort = await freePort();
    servers.push(spawn(MOTO, ['-H', '127.0.0.1', '-p', String(motoPort)], {
      env: { PATH: process.env.PATH, INITIAL_NO_AUTH_ACTION_COUNT: '4' }, stdio: 'ignore', detached: true,
    }));
    servers.push(spawn(process.execPath, [path.join(__dirname, '..', 'e2e', 'harness', 'bin', 'tls-terminator.js'), file('server.crt'), file('server.key'),
      '127.0.0.1', String(tlsPort), `127.0.0.1:${motoPort}`], { stdio: 'ignore', detached: true }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        admin('s3.list_buckets()');
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise(resolve => setTimeout(resolve, 200));
      }
    }
    // list_buckets above was the first unauthenticated call: three are left for the administrator's set-up.
    keys = JSON.parse(admin([
      'iam.create_user(UserName="backup")',
      'iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=json.dumps({"Version": "2012-10-17", '
        + '"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))',
      'key = iam.create_access_key(UserName="backup")["AccessKey"]',
      'print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))',
    ].join('\n')));
    admin('s3.create_bucket(Bucket="dumps")');
    config = { ...CONFIG, port: tlsPort };
    const proxy: http.RequestListener = (req, res) => {
      const body: Buffer[] = [];
      req.on('data', chunk => body.push(chunk));
      req.on('end', () => {
        const request: Seen = {
          method: req.method ?? '',
          url: req.url ?? '',
          host: req.headers.host ?? '',
          servername: (req.socket as tls.TLSSocket).servername ?? false,
          length: req.headers['content-length'],
          size: Buffer.concat(body).length,
          body: Buffer.concat(body).toString('utf8'),
        };
        seen.push(request);
        const answer = fault(request);
        if (answer === 'silence') return;
        if (answer !== undefined) {
          res.writeHead(answer.status, { 'content-type': 'application/xml' });
          res.end(answer.body);
          return;
        }
        const upstream = http.request({ host: '127.0.0.1', port: motoPort, method: req.method, path: req.url, headers: req.headers }, answered => {
          request.etag = answered.headers.etag;
          res.writeHead(answered.statusCode ?? 502, answered.headers);
          answered.pipe(res);
        });
        upstream.on('error', error => res.writeHead(502).end(String(error)));
        upstream.end(Buffer.concat(body));
      });
    };
    for (const [address, port] of [['127.0.0.1', 0], [otherLoopback, 0], [otherLoopback, 443]] as const) {
      const server = https.createServer({ cert: fs.readFileSync(file('server.crt')), key: fs.readFileSync(file('server.key')) }, proxy);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
      faultProxies.push(server);
    }
  }, 90_000);

  afterAll(() => {
    for (const proxy of faultProxies) proxy.close();
    for (const server of servers) {
      try {
        process.kill(-server.pid!, 'SIGKILL');
      } catch {
        // already ended
      }
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** An object's ETag as S3 reports it: a multipart object's ends in its number of parts ("-3"). */
  const etagOf = (key: string) => admin(`print(s3.head_object(Bucket="dumps", Key="${key}")["ETag"])`);
  const md5OfObject = (key: string) => admin(`import hashlib\nprint(hashlib.md5(s3.get_object(Bucket="dumps", Key="${key}")["Body"].read()).hexdigest())`);
  const md5OfFile = (file: string) => createHash('md5').update(fs.readFileSync(file)).digest('hex');

  /** The copy as the job's container runs it: the bundle's command in a new Node.js process, the CA from NODE_EXTRA_CA_CERTS. */
  function runCopy(changes: Partial<DumpCopyConfig>, key = keys): { status: number | null; output: string } {
    const result = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', '..', 'src', 'agent', 'main.ts'), 'copy-dump'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        PATH: process.env.PATH,
        POD_NAME: 'postgres-backup-1-abcde',
        NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.crt'),
        TS_NODE_PROJECT: path.join(__dirname, '..', 'tsconfig.json'),
        DUMP_COPY_CONFIG: JSON.stringify({ ...config, ...changes }),
        AWS_ACCESS_KEY_ID: key.id,
        AWS_SECRET_ACCESS_KEY: key.secret,
      },
    });
    return { status: result.status, output: result.stdout + result.stderr };
  }

  test('the copy command puts the newest dump into the bucket, byte for byte, and keeps the newest two there', () => {
    const dumps = path.join(dir, 'dumps');
    fs.mkdirSync(dumps);
    for (const day of ['01', '02', '03']) {
      fs.writeFileSync(path.join(dumps, `myapp-202612${day}T030000Z.dump`), randomBytes(1000 + Number(day)));
      const run = runCopy({ dumpDir: dumps });
      expect([run.status, run.output]).toEqual([0, expect.stringContaining(`copy complete: postgres/logical/myapp-202612${day}T030000Z.dump is in bucket dumps`)]);
    }
    expect(JSON.parse(admin('print(json.dumps(sorted(o["Key"] for o in s3.list_objects_v2(Bucket="dumps", Prefix="postgres/")["Contents"])))')))
      .toEqual(['postgres/logical/myapp-20261202T030000Z.dump', 'postgres/logical/myapp-20261203T030000Z.dump']);
    expect(md5OfObject('postgres/logical/myapp-20261203T030000Z.dump')).toBe(md5OfFile(path.join(dumps, 'myapp-20261203T030000Z.dump')));
  }, 120_000);

  test('a wrong secret key: the copy fails, naming the bucket, the request and S3\'s answer', () => {
    const run = runCopy({ dumpDir: path.join(dir, 'dumps') }, { id: keys.id, secret: 'not-the-secret' });
    expect(run.status).toBe(1);
    expect(run.output).toMatch(/copying myapp-20261203T030000Z.dump into bucket dumps on 127.0.0.1:\d+ failed: PUT \/dumps\/postgres\/logical\/myapp-20261203T030000Z.dump on 127.0.0.1:\d+: HTTP 403 SignatureDoesNotMatch/);
  }, 60_000);

  test('without the CA the endpoint\'s certificate is refused; verifyTls false accepts it', async () => {
    const file = path.join(dir, 'small');
    fs.writeFileSync(file, 'x');
    // This process did not start with NODE_EXTRA_CA_CERTS (Node.js reads it at start only): it does not trust the endpoint.
    await expect(new S3Bucket(config, keys).putFile(file, 'tls/verified')).rejects.toThrow(/self[- ]signed|unable to (verify|get)/);
    await new S3Bucket({ ...config, verifyTls: false }, keys).putFile(file, 'tls/unverified');
    expect(md5OfObject('tls/unverified')).toBe(md5OfFile(file));
  });

  test('a wrong secret key: the upload is refused, naming the request, the endpoint and S3\'s answer', async () => {
    const file = path.join(dir, 'refused');
    fs.writeFileSync(file, 'x');
    await expect(new S3Bucket({ ...config, verifyTls: false }, { id: keys.id, secret: 'not-the-secret' }).putFile(file, 'refused/x'))
      .rejects.toThrow(new RegExp(`^PUT /dumps/refused/x on 127\\.0\\.0\\.1:${config.port}: HTTP 403 SignatureDoesNotMatch$`));
  });

  test('a file of one part, up to exactly 16 MiB, goes up in one PUT; one of exactly two parts in two', async () => {
    const bucket = new S3Bucket({ ...config, verifyTls: false }, keys);
    for (const [name, size, parts] of [['one', 16 * MIB, ''], ['two', 32 * MIB, '-2']] as const) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, randomBytes(size));
      await bucket.putFile(file, `parts/${name}`);
      expect(md5OfObject(`parts/${name}`)).toBe(md5OfFile(file));
      expect(etagOf(`parts/${name}`)).toMatch(new RegExp(`^"[0-9a-f]{32}${parts}"$`));
    }
  }, 60_000);

  test('a file larger than one part goes up in parts (a multipart upload), byte for byte; removing a key removes it', async () => {
    const file = path.join(dir, 'large');
    fs.writeFileSync(file, randomBytes(40 * MIB));
    const bucket = new S3Bucket({ ...config, verifyTls: false }, keys);
    await bucket.putFile(file, 'big/myapp-20261206T030000Z.dump');
    expect(md5OfObject('big/myapp-20261206T030000Z.dump')).toBe(md5OfFile(file));
    // A multipart object's ETag says how many parts it had: 16 + 16 + 8 MiB.
    expect(etagOf('big/myapp-20261206T030000Z.dump')).toMatch(/-3"$/);
    expect(await bucket.list('big/')).toEqual(['big/myapp-20261206T030000Z.dump']);
    await bucket.remove('big/myapp-20261206T030000Z.dump');
    expect(await bucket.list('big/')).toEqual([]);
  }, 60_000);

  test('a listing longer than a page is read to its end', async () => {
    admin('for i in range(1005): s3.put_object(Bucket="dumps", Key=f"many/{i:04d}", Body=b"")');
    const keysListed = await new S3Bucket({ ...config, verifyTls: false }, keys).list('many/');
    expect(keysListed).toHaveLength(1005);
    expect(keysListed[1004]).toBe('many/1004');
  }, 60_000);

  describe('when S3 fails (the fault proxy answers for it)', () => {
    const S3_ERROR = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try '
      + 'again.</Message></Error>';
    let bucket: S3Bucket;
    let proxyPort: number;

    beforeEach(() => {
      seen = [];
      fault = () => undefined;
      proxyPort = (faultProxies[0].address() as net.AddressInfo).port;
      bucket = new S3Bucket({ ...config, port: proxyPort, verifyTls: false }, keys);
    });

    /** The multipart uploads moto still holds under a prefix (an upload not aborted is stored, and billed, until it is). */
    const uploadsUnder = (prefix: string) => JSON.parse(admin(`print(json.dumps([u["Key"] for u in s3.list_multipart_uploads(Bucket="dumps", Prefix="${prefix}")`
      + '.get("Uploads", [])]))'));
    const objectsUnder = (prefix: string) => JSON.parse(admin(`print(json.dumps([o["Key"] for o in s3.list_objects_v2(Bucket="dumps", Prefix="${prefix}")`
      + '.get("Contents", [])]))'));
    const file = (name: string, size: number) => {
      const at = path.join(dir, name);
      fs.writeFileSync(at, randomBytes(size));
      return at;
    };
    const calls = () => seen.map(({ method, url }) => `${method} ${url.replace(/uploadId=[^&]+/, 'uploadId=U')}`);

    test('a completion answered 200 with an <Error> inside (as S3 may): the upload fails, saying so, and is aborted', async () => {
      fault = ({ method, url }) => (method === 'POST' && url.includes('uploadId=') ? { status: 200, body: S3_ERROR } : undefined);
      await expect(bucket.putFile(file('complete', 20 * MIB), 'fault/complete')).rejects.toThrow(`completing the upload of fault/complete failed: ${S3_ERROR}`);
      expect(calls()).toEqual([
        'POST /dumps/fault/complete?uploads=',
        'PUT /dumps/fault/complete?partNumber=1&uploadId=U',
        'PUT /dumps/fault/complete?partNumber=2&uploadId=U',
        'POST /dumps/fault/complete?uploadId=U',
        'DELETE /dumps/fault/complete?uploadId=U',
      ]);
      expect(uploadsUnder('fault/complete')).toEqual([]);
      expect(objectsUnder('fault/complete')).toEqual([]);
    }, 60_000);

    test('a part refused: the upload fails with the request and S3\'s answer, sends no further part, and is aborted', async () => {
      fault = ({ method, url }) => (method === 'PUT' && url.includes('partNumber=2&') ? { status: 500, body: S3_ERROR } : undefined);
      const upload = bucket.putFile(file('part', 40 * MIB), 'fault/part');
      await expect(upload).rejects.toThrow(new RegExp(`^PUT /dumps/fault/part\\?partNumber=2&uploadId=\\S+ on 127\\.0\\.0\\.1:${proxyPort}: HTTP 500 InternalError$`));
      expect(calls()).toEqual([
        'POST /dumps/fault/part?uploads=', 'PUT /dumps/fault/part?partNumber=1&uploadId=U', 'PUT /dumps/fault/part?partNumber=2&uploadId=U',
        'DELETE /dumps/fault/part?uploadId=U',
      ]);
      expect(uploadsUnder('fault/part')).toEqual([]);
    }, 60_000);

    test('the file shrinks while it is copied: the upload fails, naming the file and the bytes missing, and is aborted', async () => {
      const shrinking = file('shrinking', 40 * MIB);
      fault = ({ method, url }) => {
        if (method === 'PUT' && url.includes('partNumber=1&')) fs.truncateSync(shrinking, 20 * MIB);
        return undefined;
      };
      await expect(bucket.putFile(shrinking, 'fault/shrinking')).rejects.toThrow(
        `${shrinking}: read ${4 * MIB} of ${16 * MIB} bytes at ${16 * MIB}: the file changed while it was copied`);
      expect(calls()).toEqual(['POST /dumps/fault/shrinking?uploads=', 'PUT /dumps/fault/shrinking?partNumber=1&uploadId=U', 'DELETE /dumps/fault/shrinking?uploadId=U']);
      expect(uploadsUnder('fault/shrinking')).toEqual([]);
      expect(objectsUnder('fault/shrinking')).toEqual([]);
    }, 60_000);

    test('an upload started without an UploadId in the answer: fails, saying so, and sends nothing more', async () => {
      fault = ({ url }) => (url.endsWith('?uploads=') ? { status: 200, body: '<InitiateMultipartUploadResult><Bucket>dumps</Bucket></InitiateMultipartUploadResult>' } : undefined);
      await expect(bucket.putFile(file('no-id', 20 * MIB), 'fault/no-id')).rejects.toThrow('POST fault/no-id?uploads: no UploadId in the answer');
      expect(calls()).toEqual(['POST /dumps/fault/no-id?uploads=']);
    });

    test('an error answer without an S3 code names its status alone', async () => {
      fault = () => ({ status: 502, body: '<html>Bad Gateway</html>' });
      await expect(bucket.putFile(file('plain', 1), 'fault/plain')).rejects.toThrow(new RegExp(`^PUT /dumps/fault/plain on 127\\.0\\.0\\.1:${proxyPort}: HTTP 502$`));
    });

    test('every 2xx answer is success, and 300 is not', async () => {
      fault = () => ({ status: 299, body: '' });
      await expect(bucket.putFile(file('edge', 1), 'fault/edge')).resolves.toBeUndefined();
      fault = () => ({ status: 300, body: '' });
      await expect(bucket.putFile(file('edge', 1), 'fault/edge')).rejects.toThrow(/: HTTP 300$/);
    });

    test('the TLS server name is the endpoint\'s DNS name, and none for an IP address (RFC 6066 allows no IP there)', async () => {
      const otherPort = (faultProxies[1].address() as net.AddressInfo).port;
      await bucket.putFile(file('sni', 1), 'sni/by-ip');
      await new S3Bucket({ ...config, endpoint: 'localhost', port: proxyPort, verifyTls: false }, keys).putFile(file('sni', 1), 'sni/by-name');
      await new S3Bucket({ ...config, endpoint: otherLoopback, port: otherPort, verifyTls: false }, keys).putFile(file('sni', 1), 'sni/by-other-ip');
      expect(seen.map(({ host, servername }) => [host, servername])).toEqual([
        [`127.0.0.1:${proxyPort}`, false], [`localhost:${proxyPort}`, 'localhost'], [`${otherLoopback}:${otherPort}`, false],
      ]);
      expect(objectsUnder('sni/')).toEqual(['sni/by-ip', 'sni/by-name', 'sni/by-other-ip']);
    });

    test('on HTTPS\'s own port the Host header names no port, as clients sign it', async () => {
      await new S3Bucket({ ...config, endpoint: otherLoopback, port: 443, verifyTls: false }, keys).putFile(file('port', 1), 'port/443');
      expect(seen.map(({ host }) => host)).toEqual([otherLoopback]);
      expect(objectsUnder('port/')).toEqual(['port/443']);
    });

    test('a multipart upload is completed by a POST naming each part, in order, with the ETag S3 gave it; every body says its length', async () => {
      const large = file('etags', 40 * MIB);
      await bucket.putFile(large, 'etags/large');
      const parts = seen.filter(({ url }) => url.includes('partNumber='));
      expect(parts.map(({ etag }) => etag)).toEqual([expect.stringMatching(/^"[0-9a-f]{32}"$/), expect.anything(), expect.anything()]);
      const completion = seen[seen.length - 1];
      expect([completion.method, completion.url.replace(/uploadId=[^&]+/, 'uploadId=U')]).toEqual(['POST', '/dumps/etags/large?uploadId=U']);
      expect(completion.body).toBe(`<CompleteMultipartUpload>${parts.map(({ etag }, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`)
        .join('')}</CompleteMultipartUpload>`);
      // S3 refuses an upload without a length (moto takes a chunked one).
      const withBody = seen.filter(({ size }) => size > 0);
      expect(withBody).toHaveLength(4);
      expect(withBody.map(({ length }) => length)).toEqual(withBody.map(({ size }) => String(size)));
      expect(md5OfObject('etags/large')).toBe(md5OfFile(large));
    }, 60_000);

    test('a request without an answer fails once the timeout has passed, saying so', async () => {
      fault = () => 'silence';
      const started = Date.now();
      await expect(new S3Bucket({ ...config, port: proxyPort, verifyTls: false }, keys, undefined, 300).putFile(file('silent', 1), 'fault/silent'))
        .rejects.toThrow('no answer within 300 ms');
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    test('the file is closed after its upload, whether it went up or failed', async () => {
      const openFiles = () => fs.readdirSync('/proc/self/fd').map(fd => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '';
        }
      });
      const small = file('closed-small', 1);
      const large = file('closed-large', 20 * MIB);
      await bucket.putFile(small, 'closed/small');
      fault = ({ method }) => (method === 'PUT' ? { status: 500, body: S3_ERROR } : undefined);
      await expect(bucket.putFile(large, 'closed/large')).rejects.toThrow(/HTTP 500 InternalError$/);
      expect(openFiles().filter(link => link === small || link === large)).toEqual([]);
    }, 60_000);
  });
});

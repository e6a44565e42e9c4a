// The logical backup's copy into an S3 bucket (backupS3): after pg_dump wrote its dump onto the backup volume, the job's
// second container (the agent) puts the newest dump into the bucket, then removes the bucket's dumps beyond the newest
// `retention`. S3's own protocol over HTTPS, signed with AWS Signature Version 4: the decisions (which dump, which
// keys go, what a request's signature is) are pure functions; S3Bucket is the thin I/O around them.
import { createHash, createHmac } from 'crypto';
import * as fs from 'fs';
import * as https from 'https';
import { DumpCopyConfig } from './config';

/** The access key that signs the requests. */
export interface AccessKey {
  readonly id: string;
  readonly secret: string;
}

/** A request to sign: its method, path (not yet encoded) and query, its headers (names in any case), its payload's SHA-256. */
export interface UnsignedRequest {
  readonly method: string;
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly payloadSha256: string;
}

/** The SHA-256 of nothing: the payload hash of a request without a body. */
export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/** RFC 3986 encoding as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~ (and "/" in a path) as %XX. */
export function uriEncode(text: string, keepSlash: boolean): string {
  return Array.from(Buffer.from(text, 'utf8')).map(byte => {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) return c;
    return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/** The query string, its parameters sorted by name and encoded: the same in the canonical request and on the wire. */
export function canonicalQuery(query: Readonly<Record<string, string>> = {}): string {
  return Object.keys(query).sort().map(name => `${uriEncode(name, false)}=${uriEncode(query[name], false)}`).join('&');
}

/**
 * The Authorization header of a request (AWS Signature Version 4, service "s3"), at `amzDate` ("20130524T000000Z", which
 * the request must also carry as x-amz-date). Every header given is signed.
 */
export function authorization(request: UnsignedRequest, key: AccessKey, region: string, amzDate: string): string {
  const headers = Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value.trim().replace(/\s+/g, ' ')] as const)
    // A request carries each header once: no two names compare equal.
    .sort(([a], [b]) => (a < b ? -1 : 1));
  const signedHeaders = headers.map(([name]) => name).join(';');
  const canonicalRequest = [
    request.method,
    uriEncode(request.path, true),
    canonicalQuery(request.query),
    ...headers.map(([name, value]) => `${name}:${value}`),
    '',
    signedHeaders,
    request.payloadSha256,
  ].join('\n');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const hmac = (k: string | Buffer, data: string) => createHmac('sha256', k).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${key.secret}`, day), region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(stringToSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${key.id}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

/** "20130524T000000Z" of a moment. */
export function amzDateOf(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** A dump's file name: `<database>-<UTC time>.dump` (backup.sh), whose names sort by time. */
function isDumpOf(database: string, name: string): boolean {
  return name.startsWith(`${database}-`) && /^\d{8}T\d{6}Z\.dump$/.test(name.slice(database.length + 1));
}

/** The newest complete dump of the database among a directory's file names (partial ones start with "."), if any. */
export function newestDump(names: readonly string[], database: string): string | undefined {
  return names.filter(name => isDumpOf(database, name)).sort().pop();
}

/** The bucket's keys of the database's dumps beyond the newest `retention` (other keys are never touched). */
export function keysToRemove(keys: readonly string[], prefix: string, database: string, retention: number): string[] {
  const dumps = keys.filter(key => key.startsWith(prefix) && isDumpOf(database, key.slice(prefix.length))).sort().reverse();
  return dumps.slice(retention);
}

/** The parts of an upload of `size` bytes: 16 MiB each, larger if 10,000 parts (S3's most) would not hold it. */
export function partSizeOf(size: number): number {
  const mib = 1024 * 1024;
  return Math.max(16 * mib, Math.ceil(size / 10_000 / mib) * mib);
}

/** The key's values in a ListObjectsV2 answer, and its continuation token. */
export function parseListing(xml: string): { keys: string[]; next?: string } {
  const unescape = (text: string) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, '\'').replace(/&amp;/g, '&');
  const keys = Array.from(xml.matchAll(/<Key>([^<]*)<\/Key>/g), m => unescape(m[1]));
  const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1];
  return { keys, ...(next !== undefined && /<IsTruncated>true<\/IsTruncated>/.test(xml) ? { next: unescape(next) } : {}) };
}

/** An answer of the server. */
interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** How long a request may go without an answer (of its socket) before it fails. */
export const S3_TIMEOUT_MS = 60_000;

/** A bucket on an S3 endpoint, over HTTPS. */
export class S3Bucket {
  constructor(private readonly config: DumpCopyConfig, private readonly key: AccessKey, private readonly now: () => Date = () => new Date(),
    private readonly timeoutMs = S3_TIMEOUT_MS) {}

  private get host(): string {
    return this.config.uriStyle === 'host' ? `${this.config.bucket}.${this.config.endpoint}` : this.config.endpoint;
  }

  /** The request path of a key ("" for the bucket itself). */
  private pathOf(key: string): string {
    return `${this.config.uriStyle === 'host' ? '' : `/${this.config.bucket}`}/${key}`;
  }

  /** One signed request; `body` is sent as it is (its SHA-256 given). An answer that is not 2xx is an Error naming it. */
  private async request(method: string, key: string, query: Record<string, string>, body?: Buffer): Promise<Answer> {
    const payloadSha256 = body ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256;
    const amzDate = amzDateOf(this.now());
    const hostHeader = this.config.port === 443 ? this.host : `${this.host}:${this.config.port}`;
    const headers: Record<string, string> = { 'host': hostHeader, 'x-amz-content-sha256': payloadSha256, 'x-amz-date': amzDate };
    const path = this.pathOf(key);
    headers.authorization = authorization({ method, path, query, headers, payloadSha256 }, this.key, this.config.region, amzDate);
    const search = canonicalQuery(query);
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = https.request({
        host: this.host,
        servername: /^\d+\.\d+\.\d+\.\d+$/.test(this.host) ? undefined : this.host,
        port: this.config.port,
        method,
        path: `${uriEncode(path, true)}${search ? `?${search}` : ''}`,
        headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        rejectUnauthorized: this.config.verifyTls,
        timeout: this.timeoutMs,
      }, res => {
        const chunks: Buffer[] = [];
        res.on('data', chunk => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
    if (answer.status < 200 || answer.status > 299) {
      const code = /<Code>([^<]*)<\/Code>/.exec(answer.body)?.[1];
      throw new Error(`${method} ${path}${search ? `?${search}` : ''} on ${hostHeader}: HTTP ${answer.status}${code ? ` ${code}` : ''}`);
    }
    return answer;
  }

  /** Puts a file under a key: one request, or a multipart upload for a file larger than one part. */
  public async putFile(file: string, key: string): Promise<void> {
    const size = fs.statSync(file).size;
    const partSize = partSizeOf(size);
    const handle = fs.openSync(file, 'r');
    try {
      const read = (offset: number, length: number) => {
        const buffer = Buffer.alloc(length);
        const got = fs.readSync(handle, buffer, 0, length, offset);
        if (got !== length) throw new Error(`${file}: read ${got} of ${length} bytes at ${offset}: the file changed while it was copied`);
        return buffer;
      };
      if (size <= partSize) {
        await this.request('PUT', key, {}, read(0, size));
        return;
      }
      const created = await this.request('POST', key, { uploads: '' });
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.body)?.[1];
      if (uploadId === undefined) throw new Error(`POST ${key}?uploads: no UploadId in the answer`);
      try {
        const etags: string[] = [];
        for (let offset = 0, part = 1; offset < size; offset += partSize, part++) {
          const answer = await this.request('PUT', key, { partNumber: String(part), uploadId }, read(offset, Math.min(partSize, size - offset)));
          etags.push(String(answer.headers.etag ?? ''));
        }
        const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join('');
        const complete = `<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`;
        const answer = await this.request('POST', key, { uploadId }, Buffer.from(complete, 'utf8'));
        // S3 may answer 200 with an error in the body.
        if (/<Error>/.test(answer.body)) throw new Error(`completing the upload of ${key} failed: ${answer.body}`);
      } catch (error) {
        await this.request('DELETE', key, { uploadId }).catch(() => undefined);
        throw error;
      }
    } finally {
      fs.closeSync(handle);
    }
  }

  /** The keys under a prefix. */
  public async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const answer = await this.request('GET', '', { 'list-type': '2', 'prefix': prefix, ...(token !== undefined ? { 'continuation-token': token } : {}) });
      const page = parseListing(answer.body);
      keys.push(...page.keys);
      token = page.next;
    } while (token !== undefined);
    return keys;
  }

  /** Removes a key. */
  public async remove(key: string): Promise<void> {
    await this.request('DELETE', key, {});
  }
}

/** What a copy needs from the world: the dump directory's file names, and the bucket. */
export interface DumpCopyIo {
  readonly listDumps: () => string[];
  readonly bucket: Pick<S3Bucket, 'putFile' | 'list' | 'remove'>;
  readonly log: (message: string) => void;
}

/** The prefix of the dumps' keys: the path without its leading "/", and a "/" after it. */
export function keyPrefixOf(path: string): string {
  const trimmed = path.replace(/^\/+/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

/** Copies the newest dump into the bucket and keeps the newest `retention` there. Returns the exit code. */
export async function copyDump(config: DumpCopyConfig, io: DumpCopyIo): Promise<number> {
  const dump = newestDump(io.listDumps(), config.database);
  if (dump === undefined) {
    io.log(`no dump of ${config.database} in ${config.dumpDir}: nothing to copy (did the backup container fail?)`);
    return 1;
  }
  const prefix = keyPrefixOf(config.path);
  const where = `bucket ${config.bucket} on ${config.endpoint}:${config.port}`;
  try {
    io.log(`copying ${dump} into ${where} as ${prefix}${dump}`);
    await io.bucket.putFile(`${config.dumpDir}/${dump}`, `${prefix}${dump}`);
    const remove = keysToRemove(await io.bucket.list(prefix), prefix, config.database, config.retention);
    for (const key of remove) {
      io.log(`removing ${key} from the bucket (keeping the newest ${config.retention})`);
      await io.bucket.remove(key);
    }
  } catch (error) {
    io.log(`copying ${dump} into ${where} failed: ${(error as Error).message}`);
    return 1;
  }
  io.log(`copy complete: ${prefix}${dump} is in ${where}`);
  return 0;
}

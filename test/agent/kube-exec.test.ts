// The agent's API client's exec (pods/exec over WebSocket, as kubectl 1.30+ speaks it) against the e2e harness's API
// stand-in, whose pod runs the command for real; against scripted servers for what the stand-in never does (silence,
// fragments, pings, another protocol, a stream cut short). And listPods' field selector, phase and running containers.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket } from 'node:tls';
import { BAD_ANSWER, KubeClient, KubeClientOptions, NO_ANSWER } from '../../src/agent/kube';
import { ApiPod, ApiStandIn } from '../e2e/harness/api';
import { runAsync } from '../e2e/harness/exec';
import { KubeObject, Manifests } from '../e2e/harness/manifests';
import { ApiTls } from '../e2e/harness/tls';
import { ListeningStandIn, startApiStandIn } from '../support/api-stand-in';
import { LEASE_AND_PODS, roleFor, runningPod } from '../support/rbac';

const NAMESPACE = 'default';
/** The token of the job's ServiceAccount, whose Role allows exec; and of one whose Role does not. */
const JOB_TOKEN = 'job-token';
const NO_EXEC_TOKEN = 'no-exec-token';
const TIMEOUT_MS = 400;
const EXEC_TIMEOUT_MS = 10_000;
/** How late a bounded request may answer on a busy test machine. */
const SLACK_MS = 1500;

const manifests: KubeObject[] = [
  ...roleFor('job', [...LEASE_AND_PODS, { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }]),
  ...roleFor('no-exec', LEASE_AND_PODS),
];

/** What the stand-in's pods were asked to run: container, command. */
const execs: Array<[string, readonly string[]]> = [];
/** A running pod whose exec runs the command for real, here: its output and exit code are a real process's. */
const execPod = (name: string): ApiPod => ({
  ...runningPod(name, { app: 'exec' }),
  exec: (container, command, timeoutMs) => {
    execs.push([container, command]);
    return runAsync(command[0], command.slice(1), { timeoutMs });
  },
});

let dir: string;
let tls: ApiTls;
let api: ApiStandIn;
const pods: ApiPod[] = [execPod('exec-0')];
const clients: KubeClient[] = [];

let standIn: ListeningStandIn | undefined;

beforeAll(async () => {
  standIn = await startApiStandIn({
    namespace: NAMESPACE,
    manifests: new Manifests(manifests),
    pods: () => pods,
    identityOf: token => (token === JOB_TOKEN ? { account: 'job' } : token === NO_EXEC_TOKEN ? { account: 'no-exec' } : undefined),
    onLabelsChange: () => undefined,
  }, { prefix: 'kube-exec-', watchTimeoutMs: 1_500 });
  ({ dir, tls, api } = standIn);
});
afterEach(() => {
  for (const made of clients.splice(0)) made.close();
});
afterAll(() => standIn?.close());

function tokenFile(token: string): string {
  return standIn!.tokenFile(token);
}

function client(overrides: Partial<KubeClientOptions> = {}): KubeClient {
  const made = new KubeClient({
    server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile(JOB_TOKEN), caFile: tls.caFile, timeoutMs: TIMEOUT_MS, ...overrides,
  });
  clients.push(made);
  return made;
}

describe('exec against the API stand-in (the command runs for real)', () => {
  test('stdout and stderr are kept apart, and exit 0 is code 0', async () => {
    execs.length = 0;
    const result = await client().exec('exec-0', 'postgres', ['sh', '-c', 'echo out; echo err >&2; printf "é\\n"'], EXEC_TIMEOUT_MS);
    expect(result).toEqual({ ok: true, value: { code: 0, stdout: 'out\né\n', stderr: 'err\n' } });
    // The pod ran the words as they were given, in the container named.
    expect(execs).toEqual([['postgres', ['sh', '-c', 'echo out; echo err >&2; printf "é\\n"']]]);
  });

  test('a command that exits 3 is code 3, its stderr kept', async () => {
    expect(await client().exec('exec-0', 'postgres', ['sh', '-c', 'echo half; echo "no such thing" >&2; exit 3'], EXEC_TIMEOUT_MS))
      .toEqual({ ok: true, value: { code: 3, stdout: 'half\n', stderr: 'no such thing\n' } });
  });

  test('a command with no output at all is code 0 and empty streams', async () => {
    expect(await client().exec('exec-0', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({ ok: true, value: { code: 0, stdout: '', stderr: '' } });
  });

  test('a large stdout (over 64 KiB: a frame with a 64-bit length) arrives whole, with a stderr of a 16-bit length', async () => {
    const result = await client().exec('exec-0', 'postgres', ['sh', '-c', 'seq 1 20000; seq 1 100 >&2'], EXEC_TIMEOUT_MS);
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');
    expect(lines(20000).length).toBeGreaterThan(70_000);
    expect(lines(100).length).toBeGreaterThan(125);
    expect(result).toEqual({ ok: true, value: { code: 0, stdout: lines(20000), stderr: lines(100) } });
  });

  test('a Role without pods/exec is 403 Forbidden, the API\'s message kept', async () => {
    expect(await client({ tokenFile: tokenFile(NO_EXEC_TOKEN) }).exec('exec-0', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({
      ok: false,
      status: 403,
      reason: 'Forbidden',
      message: 'EXEC pods/exec-0 (postgres): true: 403 Forbidden: pods "exec-0" is forbidden: User "system:serviceaccount:default:no-exec" '
        + 'cannot create resource "pods/exec" in API group "" in the namespace "default"',
    });
  });

  test('a pod that does not exist is 404 NotFound', async () => {
    expect(await client().exec('exec-9', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({
      ok: false, status: 404, reason: 'NotFound', message: 'EXEC pods/exec-9 (postgres): true: 404 NotFound: pods "exec-9" not found',
    });
  });

  test('execs one after another each get their own connection, and all end', async () => {
    const kube = client();
    const results = await Promise.all([1, 2, 3].map(n => kube.exec('exec-0', 'postgres', ['echo', String(n)], EXEC_TIMEOUT_MS)));
    expect(results.map(r => (r.ok ? r.value.stdout : r.message))).toEqual(['1\n', '2\n', '3\n']);
  });

  test('a token file that cannot be read is an error, with no request', async () => {
    execs.length = 0;
    const missing = join(dir, 'gone.token');
    expect(await client({ tokenFile: missing }).exec('exec-0', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({
      ok: false,
      status: undefined,
      reason: 'NoToken',
      message: `EXEC pods/exec-0 (postgres): true: cannot read the token file: ENOENT: no such file or directory, open '${missing}'`,
    });
    expect(execs).toEqual([]);
  });
});

// ---- scripted servers ----

/** A server's frame: FIN (or not), the opcode, unmasked. */
function serverFrame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  const data = Buffer.from(payload);
  const first = (fin ? 0x80 : 0) + opcode;
  if (data.length < 126) return Buffer.concat([Buffer.from([first, data.length]), data]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(data.length);
  return Buffer.concat([Buffer.from([first, 126]), length, data]);
}
const channel = (n: number, data: string) => serverFrame(0x2, Buffer.concat([Buffer.from([n]), Buffer.from(data)]));
const SUCCESS = JSON.stringify({ metadata: {}, status: 'Success' });
const CLOSE_NORMAL = serverFrame(0x8, Buffer.from([0x03, 0xe8]));

/** A server's frame masked with `mask` (servers do not mask theirs, but RFC 6455 reads a masked frame the same): 7-bit or 16-bit length. */
function maskedFrame(opcode: number, payload: Buffer | string, mask: Buffer): Buffer {
  const data = Buffer.from(payload);
  // eslint-disable-next-line no-bitwise
  const masked = Buffer.from(data.map((byte, i) => byte ^ mask[i % 4]));
  if (data.length < 126) return Buffer.concat([Buffer.from([0x80 + opcode, 0x80 + data.length]), mask, masked]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(data.length);
  return Buffer.concat([Buffer.from([0x80 + opcode, 0x80 + 126]), length, mask, masked]);
}
/** `frame` cut at these offsets. */
const cut = (frame: Buffer, ...at: number[]): Buffer[] => [0, ...at].map((start, i) => frame.subarray(start, i < at.length ? at[i] : frame.length));
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** A frame the client sent: its opcode, whether it was masked, its payload unmasked. */
interface ClientFrame {
  readonly opcode: number;
  readonly masked: boolean;
  readonly payload: Buffer;
}

/** Collects the client's frames (its control frames: at most 125 bytes). */
function clientFrames(socket: Duplex): ClientFrame[] {
  const frames: ClientFrame[] = [];
  let buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (buffer.length < 2) return;
      const masked = buffer[1] >= 0x80;
      const length = buffer[1] % 0x80;
      const start = 2 + (masked ? 4 : 0);
      if (buffer.length < start + length) return;
      const payload = Buffer.from(buffer.subarray(start, start + length));
      // eslint-disable-next-line no-bitwise
      if (masked) payload.forEach((byte, i) => (payload[i] = byte ^ buffer[2 + (i % 4)]));
      frames.push({ opcode: buffer[0] % 16, masked, payload });
      buffer = buffer.subarray(start + length);
    }
  });
  return frames;
}

describe('exec against scripted servers', () => {
  let server: https.Server;
  let url: string;
  /** What the server does with an upgrade request. */
  let onUpgrade: (request: http.IncomingMessage, socket: Duplex) => void;
  const sockets = new Set<Duplex>();
  beforeAll(async () => {
    server = https.createServer({ key: tls.key, cert: tls.cert }, (_request, response) => response.writeHead(500).end());
    server.on('upgrade', (request: http.IncomingMessage, socket: Duplex) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      onUpgrade(request, socket);
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
    server.closeAllConnections();
    for (const socket of sockets) socket.destroy();
  });
  const scripted = (overrides: Partial<KubeClientOptions> = {}) => client({ server: url, ...overrides });

  /** The 101 answer: the accept of the request's key (or the one given), the protocol given (null: none). */
  const accept = (request: http.IncomingMessage, socket: Duplex, protocol: string | null = 'v5.channel.k8s.io', key = request.headers['sec-websocket-key']) => {
    const hash = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${hash}\r\n`
      + `${protocol === null ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`}\r\n`);
  };
  /** Accepts, then sends these frames, then ends the connection. */
  const script = (frames: Buffer[], protocol?: string) => {
    onUpgrade = (request, socket) => {
      accept(request, socket, protocol);
      for (const frame of frames) socket.write(frame);
      socket.end();
    };
  };

  test('the query carries each command word as its own command parameter and the container; the request asks for v5.channel.k8s.io', async () => {
    let seen: http.IncomingMessage | undefined;
    onUpgrade = (request, socket) => {
      seen = request;
      accept(request, socket);
      socket.end(Buffer.concat([channel(3, SUCCESS), CLOSE_NORMAL]));
    };
    const command = ['psql', '-c', 'select 1 & 2', '--set=ON_ERROR_STOP=1'];
    expect(await scripted({ userAgent: 'pg-failover/job' }).exec('pg-1', 'postgres', command, EXEC_TIMEOUT_MS))
      .toEqual({ ok: true, value: { code: 0, stdout: '', stderr: '' } });
    const target = new URL(seen!.url!, 'https://api');
    expect(target.pathname).toBe(`/api/v1/namespaces/${NAMESPACE}/pods/pg-1/exec`);
    expect(target.searchParams.getAll('command')).toEqual(command);
    expect([...target.searchParams.keys()]).toEqual(['command', 'command', 'command', 'command', 'container', 'stdout', 'stderr']);
    expect([target.searchParams.get('container'), target.searchParams.get('stdout'), target.searchParams.get('stderr')]).toEqual(['postgres', 'true', 'true']);
    expect(seen!.method).toBe('GET');
    const headers = seen!.headers;
    expect(headers['sec-websocket-protocol']).toBe('v5.channel.k8s.io, v4.channel.k8s.io');
    expect([headers.connection, headers.upgrade, headers['sec-websocket-version']]).toEqual(['Upgrade', 'websocket', '13']);
    expect(Buffer.from(headers['sec-websocket-key']!, 'base64').length).toBe(16);
    expect([headers.authorization, headers['user-agent']]).toEqual([`Bearer ${JOB_TOKEN}`, 'pg-failover/job']);
  });

  test('each exec sends a key of its own', async () => {
    const keys: string[] = [];
    onUpgrade = (request, socket) => {
      keys.push(request.headers['sec-websocket-key']!);
      accept(request, socket);
      socket.end(Buffer.concat([channel(3, SUCCESS), CLOSE_NORMAL]));
    };
    const kube = scripted();
    await kube.exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS);
    await kube.exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS);
    expect(new Set(keys).size).toBe(2);
  });

  /** Between the pieces piecewise writes: long enough for each to arrive on its own. */
  const GAP_MS = 15;
  const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  /**
   * Accepts, then writes each piece on its own (GAP_MS after the one before, so that each arrives alone), and ends the
   * connection once the client has sent its close (or, `endOnClose` false, after the last piece); the client's frames.
   */
  const piecewise = (pieces: Buffer[], endOnClose = true): (() => ClientFrame[]) => {
    let frames: ClientFrame[] = [];
    onUpgrade = (request, socket) => {
      frames = clientFrames(socket);
      // Half open: the server may still write after the client's end.
      socket.allowHalfOpen = !endOnClose;
      socket.on('data', () => {
        if (endOnClose && frames.some(f => f.opcode === 0x8)) socket.end();
      });
      accept(request, socket);
      void (async () => {
        for (const piece of pieces) {
          await sleep(GAP_MS);
          if (!socket.writable) return;
          socket.write(piece);
        }
        if (!endOnClose) socket.end();
      })();
    };
    return () => frames;
  };

  test('a masked server frame is unmasked, with a 7-bit or a 16-bit length', async () => {
    const stderr = 'e'.repeat(199);
    script([maskedFrame(0x2, Buffer.concat([Buffer.from([1]), Buffer.from('masked out\n')]), MASK), maskedFrame(0x2, `\u0002${stderr}`, MASK),
      maskedFrame(0x2, Buffer.from([3, ...Buffer.from(SUCCESS)]), Buffer.from([0xff, 0x00, 0xa5, 0x5a])), CLOSE_NORMAL]);
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({ ok: true, value: { code: 0, stdout: 'masked out\n', stderr } });
  });

  test('frames cut inside their header, their 16-bit length, their mask and their payload are read whole; a close cut in three is answered', async () => {
    const stdout = 'o'.repeat(300);
    const stderr = 'é'.repeat(100);
    const frames = piecewise([
      // Unmasked, 16-bit length: cut after 1 byte (no length yet), after 3 (half the length), inside the payload.
      ...cut(channel(1, stdout), 1, 3, 100),
      // Masked, 16-bit length: cut inside the length, inside the mask, at the end of the header, inside the payload.
      ...cut(maskedFrame(0x2, `\u0002${stderr}`, MASK), 3, 6, 8, 9),
      channel(3, SUCCESS),
      // The close: its first byte; its length (2) and half its code; the last byte, which makes it whole.
      ...cut(CLOSE_NORMAL, 1, 3),
    ]);
    expect(await scripted().exec('pg-1', 'postgres', ['true'], 3000)).toEqual({ ok: true, value: { code: 0, stdout, stderr } });
    expect(frames().map(f => [f.opcode, f.masked, f.payload])).toEqual([[0x8, true, Buffer.from([0x03, 0xe8])]]);
  });

  test('an empty close, the last two bytes the server sends, is answered with an empty close', async () => {
    const frames = piecewise([Buffer.concat([channel(1, 'out'), channel(3, SUCCESS)]), serverFrame(0x8, Buffer.alloc(0))]);
    expect(await scripted().exec('pg-1', 'postgres', ['true'], 3000)).toEqual({ ok: true, value: { code: 0, stdout: 'out', stderr: '' } });
    expect(frames().map(f => [f.opcode, f.masked, f.payload])).toEqual([[0x8, true, Buffer.alloc(0)]]);
  });

  test('after the server\'s close the client sends nothing more (no pong, no second close) and reads what still comes', async () => {
    // The server ends once it has sent all, not when the client's close comes.
    const frames = piecewise([Buffer.concat([channel(1, 'out'), CLOSE_NORMAL, serverFrame(0x9, 'still there?'), CLOSE_NORMAL]), channel(3, SUCCESS)], false);
    expect(await scripted().exec('pg-1', 'postgres', ['true'], 3000)).toEqual({ ok: true, value: { code: 0, stdout: 'out', stderr: '' } });
    expect(frames().map(f => [f.opcode, f.masked, f.payload])).toEqual([[0x8, true, Buffer.from([0x03, 0xe8])]]);
  });

  test('a pong, or a frame of an opcode RFC 6455 reserves, is no output, whatever its first byte', async () => {
    script([serverFrame(0xa, Buffer.from([1, ...Buffer.from('pong')])), serverFrame(0x3, Buffer.from([1, ...Buffer.from('three')])),
      serverFrame(0x1, '\u0001text'), channel(1, ' and binary'), channel(3, SUCCESS), CLOSE_NORMAL]);
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({ ok: true, value: { code: 0, stdout: 'text and binary', stderr: '' } });
  });

  test('a close between the fragments of a message is a close of its own: answered with its code, the message still joined', async () => {
    let frames: ClientFrame[] = [];
    onUpgrade = (request, socket) => {
      frames = clientFrames(socket);
      accept(request, socket);
      socket.end(Buffer.concat([serverFrame(0x2, Buffer.from([1, ...Buffer.from('hel')]), false), serverFrame(0x8, Buffer.from([0x03, 0xe9])),
        serverFrame(0x0, 'lo'), channel(3, SUCCESS)]));
    };
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({ ok: true, value: { code: 0, stdout: 'hello', stderr: '' } });
    expect(frames.map(f => [f.opcode, f.masked, f.payload])).toEqual([[0x8, true, Buffer.from([0x03, 0xe9])]]);
  });

  test('a connection reset under the WebSocket is no answer, never a throw', async () => {
    // TLS over a TCP server of the test's own, so that the TCP connection under the WebSocket can be reset (RST).
    const context = createSecureContext({ key: tls.key, cert: tls.cert });
    const resetting = net.createServer(raw => {
      raw.on('error', () => undefined);
      const secure = new TLSSocket(raw, { isServer: true, secureContext: context });
      secure.on('error', () => undefined);
      let request = '';
      secure.on('data', (chunk: Buffer) => {
        request += chunk.toString('latin1');
        const key = /^sec-websocket-key: *(\S+)\r$/im.exec(request)?.[1];
        if (!request.includes('\r\n\r\n') || key === undefined) return;
        secure.removeAllListeners('data');
        accept({ headers: {} } as http.IncomingMessage, secure, 'v5.channel.k8s.io', key);
        secure.write(channel(1, 'started\n'));
        setTimeout(() => raw.resetAndDestroy(), 30);
      });
    });
    await new Promise<void>(resolve => resetting.listen(0, '127.0.0.1', resolve));
    try {
      const port = (resetting.address() as net.AddressInfo).port;
      expect(await scripted({ server: `https://127.0.0.1:${port}` }).exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({
        ok: false, status: undefined, reason: NO_ANSWER, message: 'EXEC pods/pg-1 (postgres): true: the exec stream ended without the command\'s exit status',
      });
    } finally {
      resetting.close();
    }
  });

  test('a server that accepts the upgrade and never answers is no answer within the timeout; the connection is let go', async () => {
    let closed: Promise<unknown> | undefined;
    onUpgrade = (request, socket) => {
      closed = new Promise(resolve => socket.on('close', resolve));
      accept(request, socket);
      socket.write(channel(1, 'started\n'));
    };
    const started = Date.now();
    expect(await scripted().exec('pg-1', 'postgres', ['sleep', '60'], 300)).toEqual({
      ok: false, status: undefined, reason: NO_ANSWER, message: 'EXEC pods/pg-1 (postgres): sleep 60: no answer from the API server within 300 ms',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(295);
    expect(Date.now() - started).toBeLessThan(300 + SLACK_MS);
    await closed;
  });

  test('a server that never answers the upgrade request is no answer within the timeout', async () => {
    onUpgrade = () => undefined;
    expect(await scripted().exec('pg-1', 'postgres', ['true'], 200)).toEqual({
      ok: false, status: undefined, reason: NO_ANSWER, message: 'EXEC pods/pg-1 (postgres): true: no answer from the API server within 200 ms',
    });
  });

  test('a server that cannot be reached is no answer, with the connection\'s error', async () => {
    const result = await scripted({ server: 'https://127.0.0.1:1' }).exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS);
    expect(result).toMatchObject({ ok: false, status: undefined, reason: NO_ANSWER });
    expect(result.ok ? '' : result.message).toMatch(/^EXEC pods\/pg-1 \(postgres\): true: no answer from the API server: connect ECONNREFUSED/);
  });

  test('a fragmented message and a ping before the Status: stdout joined, a masked pong and a masked close sent back', async () => {
    let frames: ClientFrame[] = [];
    let closed: Promise<unknown> | undefined;
    onUpgrade = (request, socket) => {
      frames = clientFrames(socket);
      closed = new Promise(resolve => socket.on('close', resolve));
      accept(request, socket);
      // A binary message in three fragments (a ping between two of them), a text message, v5's close of a stream (255).
      socket.write(Buffer.concat([serverFrame(0x2, Buffer.from([1, ...Buffer.from('hel')]), false), serverFrame(0x0, 'lo ', false)]));
      socket.write(serverFrame(0x9, 'are you there?'));
      setTimeout(() => {
        socket.write(Buffer.concat([serverFrame(0x0, 'world\n'), serverFrame(0x1, '\u0002warn\n'), serverFrame(0x2, Buffer.from([255, 1])),
          serverFrame(0xa, 'unasked pong'), serverFrame(0x2, Buffer.alloc(0))]));
        // The Status split across two writes, in the middle of its header.
        const status = channel(3, SUCCESS);
        socket.write(status.subarray(0, 1));
        setTimeout(() => socket.write(Buffer.concat([status.subarray(1), CLOSE_NORMAL])), 20);
      }, 50);
    };
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({ ok: true, value: { code: 0, stdout: 'hello world\n', stderr: 'warn\n' } });
    await closed;
    expect(frames.map(f => [f.opcode, f.masked, f.payload])).toEqual([[0xa, true, Buffer.from('are you there?')], [0x8, true, Buffer.from([0x03, 0xe8])]]);
  });

  test('frames in the same packet as the handshake are read', async () => {
    onUpgrade = (request, socket) => {
      const hash = crypto.createHash('sha1').update(`${request.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${hash}\r\n`
        + 'Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n'), channel(1, 'early\n'), channel(3, SUCCESS), CLOSE_NORMAL]));
    };
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({ ok: true, value: { code: 0, stdout: 'early\n', stderr: '' } });
  });

  test('a server that speaks v4.channel.k8s.io: the same channels', async () => {
    script([channel(1, 'out'), channel(2, 'err'), channel(3, JSON.stringify({
      metadata: {},
      status: 'Failure',
      reason: 'NonZeroExitCode',
      message: 'command terminated with non-zero exit code: exit status 2',
      details: { causes: [{ reason: 'Other', message: 'x' }, { reason: 'ExitCode', message: '2' }] },
    })), CLOSE_NORMAL], 'v4.channel.k8s.io');
    expect(await scripted().exec('pg-1', 'postgres', ['false'], EXEC_TIMEOUT_MS)).toEqual({ ok: true, value: { code: 2, stdout: 'out', stderr: 'err' } });
  });

  test('a stream that closes without a Status is no answer, naming the missing exit status', async () => {
    script([channel(1, 'half of it')]);
    expect(await scripted().exec('pg-1', 'postgres', ['pg_ctl', 'promote'], EXEC_TIMEOUT_MS)).toEqual({
      ok: false, status: undefined, reason: NO_ANSWER, message: 'EXEC pods/pg-1 (postgres): pg_ctl promote: the exec stream ended without the command\'s exit status',
    });
  });

  test('a stream that closes with a close frame but no Status is no answer too', async () => {
    script([channel(1, 'half of it'), CLOSE_NORMAL]);
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS))
      .toMatchObject({ ok: false, status: undefined, reason: NO_ANSWER, message: 'EXEC pods/pg-1 (postgres): true: the exec stream ended without the command\'s exit status' });
  });

  const failures: Array<[string, unknown, unknown]> = [
    ['a Failure with a code: its code, reason and message', { metadata: {}, status: 'Failure', code: 500, reason: 'InternalError', message: 'container not found ("pg")' },
      { ok: false, status: 500, reason: 'InternalError', message: 'EXEC pods/pg-1 (postgres): true: 500 InternalError: container not found ("pg")' }],
    ['a Failure with neither code nor reason', { status: 'Failure', message: 'it broke' },
      { ok: false, status: undefined, reason: 'Failure', message: 'EXEC pods/pg-1 (postgres): true: Failure: it broke' }],
    ['a Failure with a code and no reason nor message: the code\'s reason, the text', { status: 'Failure', code: 503 },
      { ok: false, status: 503, reason: 'ServiceUnavailable', message: 'EXEC pods/pg-1 (postgres): true: 503 ServiceUnavailable: "{"status":"Failure","code":503}"' }],
    ['NonZeroExitCode without an ExitCode cause', { status: 'Failure', reason: 'NonZeroExitCode', message: 'exit status ?', details: { causes: [null] } },
      { ok: false, status: undefined, reason: 'NonZeroExitCode', message: 'EXEC pods/pg-1 (postgres): true: NonZeroExitCode: exit status ?' }],
    ['NonZeroExitCode whose ExitCode is not a number', { status: 'Failure', reason: 'NonZeroExitCode', message: 'm', details: { causes: [{ reason: 'ExitCode', message: 'x1' }] } },
      { ok: false, status: undefined, reason: 'NonZeroExitCode', message: 'EXEC pods/pg-1 (postgres): true: NonZeroExitCode: m' }],
    ['an ExitCode cause of another reason than NonZeroExitCode', { status: 'Failure', reason: 'InternalError', message: 'm', details: { causes: [{ reason: 'ExitCode', message: '1' }] } },
      { ok: false, status: undefined, reason: 'InternalError', message: 'EXEC pods/pg-1 (postgres): true: InternalError: m' }],
    ['NonZeroExitCode whose ExitCode has two digits: that code', { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '12' }] } },
      { ok: true, value: { code: 12, stdout: 'out', stderr: '' } }],
    ['NonZeroExitCode whose ExitCode has digits then more', { status: 'Failure', reason: 'NonZeroExitCode', message: 'm', details: { causes: [{ reason: 'ExitCode', message: '1x' }] } },
      { ok: false, status: undefined, reason: 'NonZeroExitCode', message: 'EXEC pods/pg-1 (postgres): true: NonZeroExitCode: m' }],
    ['NonZeroExitCode whose ExitCode is a JSON number, not text', { status: 'Failure', reason: 'NonZeroExitCode', message: 'm', details: { causes: [{ reason: 'ExitCode', message: 2 }] } },
      { ok: false, status: undefined, reason: 'NonZeroExitCode', message: 'EXEC pods/pg-1 (postgres): true: NonZeroExitCode: m' }],
    ['a code that is not a number: no code', { status: 'Failure', code: '500', reason: 'InternalError', message: 'm' },
      { ok: false, status: undefined, reason: 'InternalError', message: 'EXEC pods/pg-1 (postgres): true: InternalError: m' }],
    ['an empty reason and a code: the code\'s reason', { status: 'Failure', code: 500, reason: '', message: 'm' },
      { ok: false, status: 500, reason: 'InternalError', message: 'EXEC pods/pg-1 (postgres): true: 500 InternalError: m' }],
    ['an empty reason and no code: Failure', { status: 'Failure', reason: '', message: 'm' },
      { ok: false, status: undefined, reason: 'Failure', message: 'EXEC pods/pg-1 (postgres): true: Failure: m' }],
    ['a status that is neither Success nor Failure', { status: 'Pending' },
      { ok: false, status: 101, reason: BAD_ANSWER, message: 'EXEC pods/pg-1 (postgres): true: 101 but the answer is not a Status on the error channel, got "{"status":"Pending"}"' }],
    ['text that is not JSON', 'exit 1',
      { ok: false, status: 101, reason: BAD_ANSWER, message: 'EXEC pods/pg-1 (postgres): true: 101 but the answer is not a Status on the error channel, got "exit 1"' }],
  ];
  test.each(failures)('an error channel with %s', async (_case, status, expected) => {
    script([channel(1, 'out'), channel(3, typeof status === 'string' ? status : JSON.stringify(status)), CLOSE_NORMAL]);
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual(expected);
  });

  test('a Status in two messages on the error channel is read whole', async () => {
    script([channel(3, SUCCESS.slice(0, 10)), channel(3, SUCCESS.slice(10)), CLOSE_NORMAL]);
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({ ok: true, value: { code: 0, stdout: '', stderr: '' } });
  });

  test.each([
    ['a wrong Sec-WebSocket-Accept', 'v5.channel.k8s.io', 'another key', 'a WebSocket whose Sec-WebSocket-Accept is that of the key sent'],
    ['a protocol not offered', 'v3.channel.k8s.io', undefined, 'a WebSocket of v5.channel.k8s.io or v4.channel.k8s.io, got v3.channel.k8s.io'],
    ['no protocol', null, undefined, 'a WebSocket of v5.channel.k8s.io or v4.channel.k8s.io, got no protocol'],
  ])('an upgrade with %s is a bad answer, and the connection is let go', async (_case, protocol, key, expected) => {
    let closed: Promise<unknown> | undefined;
    onUpgrade = (request, socket) => {
      closed = new Promise(resolve => socket.on('close', resolve));
      accept(request, socket, protocol, key ?? request.headers['sec-websocket-key']);
      socket.write(channel(3, SUCCESS));
    };
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({
      ok: false, status: 101, reason: BAD_ANSWER, message: `EXEC pods/pg-1 (postgres): true: 101 but the answer is not ${expected}`,
    });
    await closed;
  });

  test('an upgrade refused with a text answer is an error with the status and the text', async () => {
    onUpgrade = (_request, socket) => socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 18\r\nconnection: close\r\n\r\nUpgrade not served');
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({
      ok: false, status: 400, reason: 'BadRequest', message: 'EXEC pods/pg-1 (postgres): true: 400 BadRequest: "Upgrade not served"',
    });
  });

  test('an upgrade refused with an answer that breaks off is no answer', async () => {
    onUpgrade = (_request, socket) => {
      socket.write('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 100\r\n\r\n{"kind":');
      setTimeout(() => socket.destroy(), 20);
    };
    expect(await scripted().exec('pg-1', 'postgres', ['true'], EXEC_TIMEOUT_MS)).toEqual({
      ok: false, status: undefined, reason: NO_ANSWER, message: 'EXEC pods/pg-1 (postgres): true: no answer from the API server: the answer broke off: the connection closed',
    });
  });
});

describe('listPods: phase, running containers, field selector', () => {
  const status = (name: string, phase: string | undefined, containerStatuses?: unknown): ApiPod => ({
    ...runningPod(name, { app: 'phase' }),
    toObject: namespace => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { app: 'phase' } },
      spec: { containers: [{ name: 'postgres' }, { name: 'agent' }] },
      status: { ...(phase === undefined ? {} : { phase }), ...(containerStatuses === undefined ? {} : { containerStatuses }) },
    }),
  });
  const summary = (name: string, phase: string | undefined, runningContainers: string[]) =>
    ({ name, terminating: false, ready: false, uid: undefined, labels: { app: 'phase' }, phase, runningContainers });
  const extra = [
    status('ph-0', 'Running', [
      { name: 'postgres', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } },
      { name: 'agent', state: { waiting: { reason: 'CrashLoopBackOff' } } },
      { name: 'sidecar', state: { running: {} } },
    ]),
    status('ph-1', 'Pending'),
    status('ph-2', 'Succeeded', [{ name: 'postgres', state: { terminated: { exitCode: 0 } } }]),
    status('ph-3', undefined, 'not a list'),
    status('ph-4', 'Running', [null, { name: 'a', state: null }, { name: 'b', state: { running: null } }, { name: 7, state: { running: {} } }, { state: { running: {} } }]),
  ];
  beforeAll(() => pods.push(...extra));
  afterAll(() => pods.splice(pods.length - extra.length));

  test('listPods and getPod tell each pod\'s phase and running containers', async () => {
    const kube = client();
    const expected = [
      summary('ph-0', 'Running', ['postgres', 'sidecar']),
      summary('ph-1', 'Pending', []),
      summary('ph-2', 'Succeeded', []),
      summary('ph-3', undefined, []),
      summary('ph-4', 'Running', []),
    ];
    expect(await kube.listPods('app=phase')).toEqual({ ok: true, value: expected });
    expect(await kube.getPod('ph-0')).toEqual({ ok: true, value: expected[0] });
    // toEqual would take a missing phase for undefined: it is there, undefined.
    const listed = await kube.listPods('app=phase');
    expect(listed.ok && Object.keys(listed.value[3])).toContain('phase');
  });

  test.each([
    ['status.phase=Running', ['ph-0', 'ph-4']],
    ['status.phase!=Succeeded', ['ph-0', 'ph-1', 'ph-3', 'ph-4']],
    ['status.phase=Running,metadata.name!=ph-4', ['ph-0']],
    ['', ['ph-0', 'ph-1', 'ph-2', 'ph-3', 'ph-4']],
  ])('listPods with the field selector %j lists the pods it matches', async (fieldSelector, names) => {
    const listed = await client().listPods('app=phase', fieldSelector);
    expect(listed.ok && listed.value.map(p => p.name)).toEqual(names);
  });

  test('listPods sends the field selector encoded in the query, after the label selector', async () => {
    await client().listPods('app=phase', 'status.phase=Running');
    expect(api.requests[api.requests.length - 1].path)
      .toBe(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3Dphase&fieldSelector=status.phase%3DRunning`);
    await client().listPods('app=phase');
    expect(api.requests[api.requests.length - 1].path).toBe(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3Dphase`);
  });

  test('a field selector the API does not index is 400 BadRequest, named in the message', async () => {
    const listed = await client().listPods('app=phase', 'spec.nodeName=n1');
    expect(listed).toMatchObject({ ok: false, status: 400, reason: 'BadRequest' });
    expect(listed.ok ? '' : listed.message).toMatch(/^GET pods\?labelSelector=app=phase&fieldSelector=spec\.nodeName=n1: 400 BadRequest: .*field label not supported: spec\.nodeName$/);
  });
});

import { execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A scratch directory owned by the host's postgres user (PostgreSQL refuses to run as root). */
export function postgresScratchDir(): string {
  if (!fs.existsSync(path.join(PG_BIN, 'postgres'))) {
    throw new Error(`PostgreSQL 15 is not installed (${PG_BIN}/postgres); .ci/run installs Debian's postgresql-15`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgconf-'));
  execFileSync('chown', ['postgres:postgres', dir]);
  reapWhenGone(process.pid, dir);
  return dir;
}

/**
 * Once process `pid` has ended, however it ended (its children killed with it), the servers whose data directories are
 * in `dir` are stopped (SIGQUIT, an immediate shutdown) and `dir` is removed. A test file stops its servers in
 * afterAll, but a worker that is killed (a test runner's timeout, Stryker's timed-out mutant) never gets there: its
 * servers would run on, dozens of them after a mutation run, and load the machine for the benchmarks and tests after it.
 */
function reapWhenGone(pid: number, dir: string): void {
  // A server that a test had stopped a process of (SIGSTOP) cannot shut down: it is killed, its processes first, 2 s later.
  const script = `while kill -0 "$1" 2> /dev/null; do sleep 1; done
    postmasters=""
    for pidfile in "$2"/*/postmaster.pid "$2"/*/*/postmaster.pid; do
      postmaster=$(head -n 1 "$pidfile" 2> /dev/null) || continue
      # A postmaster still (a stale file's process id may be another process's by now).
      if [ "$(cat "/proc/$postmaster/comm" 2> /dev/null)" = postgres ]; then postmasters="$postmasters $postmaster"; fi
    done
    for postmaster in $postmasters; do kill -QUIT "$postmaster" 2> /dev/null || true; done
    sleep 2
    for postmaster in $postmasters; do
      if [ "$(cat "/proc/$postmaster/comm" 2> /dev/null)" = postgres ]; then pkill -KILL -P "$postmaster"; kill -KILL "$postmaster" 2> /dev/null || true; fi
    done
    rm -rf "$2"`;
  // Started in the background by a shell that ends at once: the watcher is no child of this process, whose killer may
  // kill its children with it (Stryker kills a timed-out worker's whole tree).
  spawn('sh', ['-c', `(${script}) > /dev/null 2>&1 &`, 'reaper', String(pid), dir], { detached: true, stdio: 'ignore' }).unref();
}

/**
 * The working directory of the programs the tests run as the postgres user: runuser would keep ours, the clone,
 * which may sit in a folder only root can enter (a `mktemp -d` folder), and psql then adds "could not change
 * directory" to its output.
 */
export const POSTGRES_CWD = '/';

/** Runs a PostgreSQL program as the postgres user; returns its exit code and output. */
export function asPostgres(program: string, args: string[]): { code: number; output: string } {
  const result = spawnSync('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, program), ...args], { encoding: 'utf8', timeout: 60_000, cwd: POSTGRES_CWD });
  return { code: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
}

export function writeAsPostgres(file: string, text: string): void {
  fs.writeFileSync(file, text);
  execFileSync('chown', ['postgres:postgres', file]);
}

/** A TCP port free on 127.0.0.1 now, for a test server to listen on. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A PostgreSQL program run as the postgres user, its output; throws with it when the program fails. */
export function runAsPostgres(program: string, ...args: string[]): string {
  const result = asPostgres(program, args);
  if (result.code !== 0) throw new Error(`${program} ${args.join(' ')}: ${result.output}`);
  return result.output;
}

/* eslint-disable no-bitwise */ // the tests' own CRC-32C, to write pg_control files
export function crc32c(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
/* eslint-enable no-bitwise */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiBackend, ApiStandIn } from '../e2e/harness/api';
import { ApiTls, makeApiTls } from '../e2e/harness/tls';

/** The e2e harness's API stand-in, listening over HTTPS in a scratch directory of its own, for the agent's tests. */
export interface ListeningStandIn {
  /** The scratch directory: its PKI, its socket, the token files. */
  readonly dir: string;
  /** Its CA and certificate (for the API's in-cluster address, 10.96.0.1). */
  readonly tls: ApiTls;
  readonly api: ApiStandIn;
  /** A file holding `token` and a newline, as a projected ServiceAccount token is; `name` only labels the file. */
  tokenFile(token: string, name?: string): string;
  /** Stops it and removes the scratch directory. */
  close(): void;
}

export interface StandInOptions {
  /** The scratch directory's name starts with this. */
  readonly prefix: string;
  /** Where the scratch directory is made. @default the system's temporary directory */
  readonly parent?: string;
  /** How long a watch without timeoutSeconds lasts before the stand-in ends it. @default the stand-in's (as kube-apiserver's) */
  readonly watchTimeoutMs?: number;
}

/** Starts an API stand-in for `backend`, listening once this resolves. */
export async function startApiStandIn(backend: ApiBackend, options: StandInOptions): Promise<ListeningStandIn> {
  const dir = mkdtempSync(join(options.parent ?? tmpdir(), options.prefix));
  const tls = makeApiTls(join(dir, 'pki'), '10.96.0.1');
  const api = options.watchTimeoutMs === undefined
    ? new ApiStandIn(backend, join(dir, 'api.sock'), tls)
    : new ApiStandIn(backend, join(dir, 'api.sock'), tls, options.watchTimeoutMs);
  await api.listen();
  let files = 0;
  return {
    dir,
    tls,
    api,
    tokenFile: (token, name = 'token') => {
      const file = join(dir, `${name}-${++files}.token`);
      writeFileSync(file, `${token}\n`);
      return file;
    },
    close: () => {
      api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

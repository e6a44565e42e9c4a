import * as fs from 'fs';
import * as path from 'path';
import { KUBECTL_VERSION, kubectlVersionOf } from './kubectl';

/**
 * What the harness runs in place of a container image: the host's own programs, with the image's
 * environment (PATH and ENV lines) and stop signal, and without the host's programs the image lacks
 * (hiddenPaths). Only the images the manifests use are known.
 */
export interface EmulatedImage {
  readonly env: Record<string, string>;
  readonly stopSignal: NodeJS.Signals;
  /**
   * Directories of the image's filesystem that differ from the host's, with owner uid (and gid) and mode, private to each
   * container: writable, or read-only where the container's root filesystem is.
   */
  readonly writableDirs: ReadonlyArray<{ path: string; uid: number; mode: number }>;
  /** The home directories of the image's users (/etc/passwd), by uid: HOME for a container that does not set it; else `/`. */
  readonly homes: Readonly<Record<number, string>>;
  /** The image's ENTRYPOINT, run when the container gives no command (its args follow). */
  readonly entrypoint?: readonly string[];
  /**
   * Files of the host that the image does not have: absent in the container (bin/container-launch.sh hides
   * each one that exists behind a read-only overlay of its directory with a whiteout), so that `command -v`
   * finds nothing and running it fails with "command not found", as in the real image.
   */
  readonly hiddenPaths: readonly string[];
}

/** The Node.js that runs the agent here (the e2e pods run the host's /usr/bin/node): the agent image's tag must name it. */
export const NODE_VERSION = process.versions.node;
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const HOST_POSTGRES_MAJOR = 15;
/**
 * PostgreSQL 17 beside it (test/setup/postgresql-17.sh: Debian 13's build, with its own C library, in one tree): what the
 * postgres:17 image runs here. pgBackRest 2.45 (Debian 12's) does not support 17, so no postgres-pgbackrest:17.
 */
export const POSTGRES_17_BIN = '/opt/postgresql-17/bin';
/** pgBackRest from Debian's package (2.45 on bookworm): only images built with it (postgres-pgbackrest) have it. */
export const PGBACKREST = '/usr/bin/pgbackrest';
/** The uid and gid of the postgres images' `postgres` user. */
const POSTGRES_UID = 999;

export function emulateImage(image: string, standInBin: string): EmulatedImage {
  const root = { 0: '/root' };
  // The official image (docker.io/library/postgres), or one built FROM it with `apt-get install pgbackrest`
  // (`<registry>/postgres-pgbackrest:<major>`, as the docs name it).
  const postgres = /^(docker\.io\/)?(library\/)?postgres:(\d+)/.exec(image);
  const pgbackrest = /(^|\/)postgres-pgbackrest:(\d+)/.exec(image);
  if (postgres || pgbackrest) {
    const major = Number(postgres ? postgres[3] : pgbackrest![2]);
    const seventeen = major === 17 && !pgbackrest;
    if (major !== HOST_POSTGRES_MAJOR && !seventeen) {
      throw new Error(`image ${image}: this machine has PostgreSQL ${HOST_POSTGRES_MAJOR} only (and 17, without pgBackRest)`);
    }
    if (seventeen && !fs.existsSync(path.join(POSTGRES_17_BIN, 'postgres'))) {
      throw new Error(`image ${image}: PostgreSQL 17 is not installed in ${POSTGRES_17_BIN}: run test/setup/postgresql-17.sh as root`);
    }
    return {
      env: {
        // 17's programs first: the host's /usr/bin/psql, pg_dump and the like run 15's (Debian's pg_wrapper).
        PATH: seventeen ? `${POSTGRES_17_BIN}:${BASE_PATH}` : `${BASE_PATH}:/usr/lib/postgresql/${HOST_POSTGRES_MAJOR}/bin`,
        PG_MAJOR: String(major),
        PGDATA: '/var/lib/postgresql/data',
        // The image generates en_US.utf8; this host has C.UTF-8 only.
        LANG: 'C.UTF-8',
      },
      // The postgres image's STOPSIGNAL: fast shutdown.
      stopSignal: 'SIGINT',
      homes: { ...root, [POSTGRES_UID]: '/var/lib/postgresql' },
      writableDirs: [
        { path: '/tmp', uid: 0, mode: 0o1777 },
        { path: '/var/run/postgresql', uid: POSTGRES_UID, mode: 0o3777 },
        // The Debian package's postinst makes its log, repository and spool directories the postgres user's, mode 0750.
        // (Its /etc/pgbackrest.conf, absent here, sets only repo1-path=/var/lib/pgbackrest, pgBackRest's default.)
        ...(pgbackrest
          ? ['/var/log/pgbackrest', '/var/lib/pgbackrest', '/var/spool/pgbackrest'].map(dir => ({ path: dir, uid: POSTGRES_UID, mode: 0o750 }))
          : []),
      ],
      hiddenPaths: pgbackrest ? [] : [PGBACKREST],
    };
  }
  if (/^(docker\.io\/)?alpine\/k8s:/.test(image)) {
    // bash and coreutils from the host; the real kubectl of the image's version, first on PATH.
    const version = kubectlVersionOf(image);
    if (version !== KUBECTL_VERSION) throw new Error(`image ${image}: the harness runs kubectl ${KUBECTL_VERSION} only (the default kubectl image's)`);
    return {
      env: { PATH: `${standInBin}:${BASE_PATH}` },
      stopSignal: 'SIGTERM',
      homes: root,
      writableDirs: [{ path: '/tmp', uid: 0, mode: 0o1777 }],
      hiddenPaths: [PGBACKREST],
    };
  }
  const node = /^(docker\.io\/)?(library\/)?node:(\d+\.\d+\.\d+)-alpine$/.exec(image);
  if (node) {
    // The official Node.js image runs the agent: the host's node, of exactly the image's version; no PostgreSQL client,
    // pgBackRest or kubectl (the agent starts no process).
    if (node[3] !== NODE_VERSION) throw new Error(`image ${image}: this machine runs Node.js ${NODE_VERSION} only`);
    return {
      env: { PATH: BASE_PATH, NODE_VERSION },
      stopSignal: 'SIGTERM',
      homes: { 0: '/root', 1000: '/home/node' },
      writableDirs: [{ path: '/tmp', uid: 0, mode: 0o1777 }],
      hiddenPaths: [PGBACKREST, '/usr/bin/psql', '/usr/bin/pg_ctlcluster'],
    };
  }
  if (/^(quay\.io\/)?prometheuscommunity\/postgres-exporter:/.test(image)) {
    // The Prometheus community's exporter: Debian's build of it (package prometheus-postgres-exporter).
    return {
      env: { PATH: BASE_PATH },
      stopSignal: 'SIGTERM',
      writableDirs: [],
      entrypoint: ['/usr/bin/prometheus-postgres-exporter'],
      homes: {},
      hiddenPaths: [PGBACKREST],
    };
  }
  throw new Error(`the harness cannot emulate image ${image}`);
}
